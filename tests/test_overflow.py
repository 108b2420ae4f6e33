"""Calls waiting for room in a full mailbox: never overtaken, and run once admitted,
whatever lane frees the room and whatever lane they wait for."""

from __future__ import annotations

import asyncio

import asyncactors
from asyncactors import ActorSystem

log: list[int] = []


@asyncactors.remote(concurrency_groups={"g": 1}, mailbox_size=1, max_concurrency=1)
class TwoLanes:
    def __init__(self) -> None:
        self.g_gate = asyncio.Event()
        self.default_gate = asyncio.Event()

    @asyncactors.method(concurrency_group="g")
    async def slow(self) -> None:
        await self.g_gate.wait()

    async def block(self) -> None:
        await self.default_gate.wait()

    async def note(self, i: int) -> None:
        log.append(i)

    def open_default(self) -> None:
        self.default_gate.set()

    @asyncactors.method(concurrency_group="g")
    def open_g(self) -> None:
        self.g_gate.set()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_later_call_does_not_overtake_one_waiting_for_room() -> None:
    """With the mailbox full of another group's calls, a caller's call waits for room;
    its next call, sent once its lane is free, waits behind it, and both run in order
    as soon as room frees (a call admitted into another lane than the one that freed
    the room is run, not left queued without a drain)."""
    log.clear()
    async with ActorSystem():
        a = await TwoLanes.remote()
        inst = a._core.instance
        s1 = a.slow.remote()  # runs in g
        b = a.block.remote()  # runs in the default lane (limit 1)
        await settle()
        s2 = a.slow.remote()  # queued in g: the mailbox (1 place) is full
        r1 = a.note.remote(1)  # waits for room
        await settle()
        inst.default_gate.set()
        await b
        r2 = a.note.remote(2)  # its lane is free, but r1 is still ahead
        await settle()
        assert log == []
        inst.g_gate.set()
        await asyncio.wait_for(asyncactors.get([s1, s2, r1, r2]), 5)
        assert log == [1, 2]


@asyncactors.remote(mailbox_size=2, max_concurrency=2, concurrency_groups={"side": 1})
class Batched:
    def __init__(self) -> None:
        self.gate = asyncio.Event()

    @asyncactors.batch(max_batch_size=3, batch_wait_timeout_s=0.02)
    async def total(self, items: list[int]) -> list[int]:
        await self.gate.wait()
        return [sum(items)] * len(items)

    @asyncactors.method(concurrency_group="side")
    def open(self) -> None:
        self.gate.set()

    async def plain(self) -> str:
        return "plain"


async def test_a_call_admitted_when_a_batch_leaves_the_mailbox_runs() -> None:
    """Items fill the mailbox, so a plain call waits for room; the batch they form
    (flushed by its timer) frees their places as it starts, and the admitted call runs."""
    async with ActorSystem():
        s = await Batched.remote()
        items = [s.total.remote(1), s.total.remote(2)]
        waiting = s.plain.remote()
        assert await asyncio.wait_for(waiting, 5) == "plain"
        await s.open.remote()
        assert await asyncio.wait_for(asyncactors.get(items), 5) == [3, 3]
