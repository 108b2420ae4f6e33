"""Lifecycle events and exit records: ``system.events()`` and ``handle.monitor()``."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from ._types import ActorState, EventKind

__all__ = ["ActorEvent", "ActorExitInfo", "EventStream"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorEvent:
    """One step in an actor's life, as ``ActorSystem.events()`` yields it.

    ``kind`` is ``started``, ``crashed``, ``restarting``, ``restarted``,
    ``stopped`` or ``dead``. ``exception`` is what caused a crash or death.
    """

    kind: EventKind
    actor_id: int
    class_name: str
    name: str | None
    restart_count: int
    exception: BaseException | None
    timestamp: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorExitInfo:
    """How an actor stopped for good, as ``await handle.monitor()`` reports it."""

    actor_id: int
    name: str | None
    state: ActorState
    reason: str
    exception: BaseException | None


class EventStream:
    """An async iterator of ``ActorEvent``; ends when its system has shut down."""

    __slots__ = ("__weakref__", "_closed", "_events", "_waiter")

    def __init__(self) -> None:
        self._events: deque[ActorEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def _push(self, event: ActorEvent) -> None:
        if self._closed:
            return
        self._events.append(event)
        self._wake()

    def _close(self) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ActorEvent:
        while not self._events:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._events.popleft()

    async def aclose(self) -> None:
        """Stop receiving events; iteration ends after those already received."""
        self._close()

    def __repr__(self) -> str:
        return f"<EventStream {len(self._events)} pending{' closed' if self._closed else ''}>"
