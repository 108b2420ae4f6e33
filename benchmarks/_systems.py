"""The actor systems under test, each behind the same small driver interface.

A system is an async context manager factory: given a workload class it starts
one actor running a fresh instance and yields a :class:`Driver`. The driver's
methods are the call patterns the scenarios time, each written the way a user of
that system would write it (``await h.incr.remote(1)`` for asyncactors), so no
shared indirection layer sits on anyone's hot path.

To add a system (Ray, pykka, xoscar, ...), write one such factory and register
it in :data:`SYSTEMS`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import asyncactors

from ._floor import FloorActor
from ._workload import AsyncCounter, SyncCounter, Workload

__all__ = ["BASELINE", "SYSTEMS", "Driver", "SystemFactory"]


class Driver(Protocol):
    """One live actor running a workload instance (a class with ``incr(k)`` and ``value()``)."""

    async def seq(self, n: int) -> None:
        """Make ``n`` calls ``incr(1)`` from one caller, awaiting each before the next."""

    async def pipelined(self, n: int) -> None:
        """Submit ``n`` calls ``incr(1)`` without waiting, then wait for all of them."""

    async def value(self) -> int:
        """Return the actor's count, through the actor."""


SystemFactory = Callable[[Workload], AbstractAsyncContextManager[Driver]]


class _FloorDriver:
    def __init__(self, instance: SyncCounter | AsyncCounter, actor: FloorActor) -> None:
        self._instance = instance
        self._actor = actor

    async def seq(self, n: int) -> None:
        actor = self._actor
        for _ in range(n):
            await actor.submit(1)

    async def pipelined(self, n: int) -> None:
        actor = self._actor
        futs = [actor.submit(1) for _ in range(n)]
        await asyncio.gather(*futs)

    async def value(self) -> int:
        # The floor actor serves a single method; once the timed calls are awaited
        # the instance is idle, so reading it directly is race-free.
        result = self._instance.value()
        if inspect.isawaitable(result):
            return await result
        return result


@asynccontextmanager
async def _floor(cls: Workload) -> AsyncIterator[Driver]:
    instance = cls()
    async with FloorActor(instance.incr) as actor:
        yield _FloorDriver(instance, actor)


class _AsyncActorsDriver:
    def __init__(self, handle: asyncactors.ActorHandle[SyncCounter | AsyncCounter]) -> None:
        self._handle = handle

    async def seq(self, n: int) -> None:
        h = self._handle
        for _ in range(n):
            await h.incr.remote(1)

    async def pipelined(self, n: int) -> None:
        h = self._handle
        refs = [h.incr.remote(1) for _ in range(n)]
        await asyncactors.get(refs)

    async def value(self) -> int:
        result = await self._handle.value.remote()
        if not isinstance(result, int):
            raise TypeError(f"value() returned {result!r}, expected an int")
        return result


@asynccontextmanager
async def _asyncactors(cls: Workload) -> AsyncIterator[Driver]:
    # Default options on purpose: the figures are what a user gets out of the box
    # (mailbox_size=1000, max_concurrency 1 for SyncCounter, 1000 for AsyncCounter).
    actor_class = asyncactors.remote(cls)
    async with asyncactors.ActorSystem():
        handle = await actor_class.remote()
        yield _AsyncActorsDriver(handle)


BASELINE = "floor"
"""The system every other one is compared with."""

SYSTEMS: dict[str, SystemFactory] = {
    BASELINE: _floor,
    "asyncactors": _asyncactors,
}
"""Systems by name, the baseline first; the report keeps this order."""
