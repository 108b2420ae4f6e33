"""Creating actors in bulk: one callback per loop turn creates them, in order."""

from __future__ import annotations

import asyncio
import contextvars
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest

import asyncactors
from asyncactors._backends._local.common import EngineState
from asyncactors._backends._local.lifecycle import run_batch
from asyncactors._types import EventKind

created: list[int] = []


@asyncactors.remote
class Numbered:
    def __init__(self, n: int) -> None:
        created.append(n)
        self.n = n

    def number(self) -> int:
        return self.n


async def test_actors_started_in_one_turn_are_created_in_order_by_one_callback() -> None:
    """The actors started in one turn of the loop wait in one list, created by one
    callback in the order they were started; each still answers its first call."""
    created.clear()
    async with asyncactors.ActorSystem() as system:
        handles = [Numbered.remote(n) for n in range(5)]
        engine = system._host.local
        assert [h._core for h in handles] == engine.starting
        refs = [h.number.remote() for h in handles]
        assert created == []
        assert await asyncactors.get(refs) == [0, 1, 2, 3, 4]
        assert created == [0, 1, 2, 3, 4]
        assert engine.starting == []


async def test_an_actor_created_by_an_actors_init_starts_in_the_next_turn() -> None:
    """An actor whose ``__init__`` creates another does not extend the batch it runs in:
    the new one waits for a batch of its own, and both start."""

    @asyncactors.remote
    class Parent:
        def __init__(self) -> None:
            self.child = Numbered.remote(7)

        def child_number(self) -> Any:
            return self.child.number.remote()

    async with asyncactors.ActorSystem():
        parent = Parent.remote()
        ref = await parent.child_number.remote()
        assert await ref == 7


class _Stub:
    """A stand-in core: what run_batch reads of one."""

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        self.loop = loop
        self.host = SimpleNamespace(ctx=contextvars.copy_context())
        self.n = n

    def describe(self) -> str:
        return f"stub {self.n}"


def test_a_step_that_raises_does_not_keep_the_rest_of_its_batch_from_running() -> None:
    """An Exception of one actor's step goes to the loop's exception handler and the
    next actors' steps run; a BaseException propagates, and the actors not yet
    stepped go back to the head of the list."""
    loop = asyncio.new_event_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        engine = EngineState()
        stubs = [_Stub(loop, n) for n in range(5)]
        later = _Stub(loop, 9)
        ran: list[int] = []

        def step(core: _Stub) -> None:
            ran.append(core.n)
            if core.n == 1:
                raise ValueError("one")
            if core.n == 2:
                engine.starting.append(later)  # started meanwhile, by another step
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            run_batch(stubs, step, engine, "starting")  # type: ignore[arg-type]
        assert ran == [0, 1, 2]
        assert [type(c["exception"]) for c in reported] == [ValueError]
        assert "stub 1" in reported[0]["message"]
        assert engine.starting == [stubs[3], stubs[4], later]

        engine.released = []
        with pytest.raises(KeyboardInterrupt):
            run_batch(stubs[1:3], step, engine, "released")  # type: ignore[arg-type]
        assert engine.released == []  # nothing was left after the step that raised
    finally:
        loop.close()


async def test_a_system_overriding_emit_gets_the_started_event_without_a_stream() -> None:
    """A system whose ``_emit`` tells more than ``events()`` streams (as a Ray worker's
    tells the actor's owner) gets a new actor's ``started`` event with no stream open."""
    seen: list[EventKind] = []

    class Telling(asyncactors.ActorSystem):
        def _emit(self, kind: EventKind, core: Any, exc: BaseException | None = None) -> None:
            seen.append(kind)
            super()._emit(kind, core, exc)

    async with Telling():
        await Numbered.remote(1)
        assert seen == [EventKind.STARTED]


async def test_a_started_event_is_built_only_while_a_stream_is_open() -> None:
    """The engine asks the system to publish ``started`` only while an ``events()``
    stream is open; once the last one is closed, it stops asking."""
    async with asyncactors.ActorSystem() as system:
        host = system._host
        assert not host.watched
        first = await Numbered.remote(1)
        stream = system.events()
        assert host.watched
        second = await Numbered.remote(2)
        event = await anext(stream)
        assert (event.kind, event.actor_id) == (EventKind.STARTED, second._core.actor_id)
        await stream.aclose()
        third = await Numbered.remote(3)  # its event finds no open stream
        assert not host.watched
        assert first != third


def test_creating_actors_after_the_loop_closed_fails_every_time() -> None:
    """Once the loop of a thread's system has closed, each .remote() raises
    RuntimeError; none returns a handle whose actor is never created."""
    script = """
import asyncio, asyncactors
@asyncactors.remote
class A:
    def f(self): return 1
async def main():
    asyncactors.init()
asyncio.run(main())
for i in range(3):
    try:
        A.remote()
    except RuntimeError:
        print("refused")
    else:
        print("accepted")
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.split() == ["refused"] * 3
