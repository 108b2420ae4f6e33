"""Waiting, shared by the engines' cores: ``Waiters`` for an actor to be ready or
DEAD, ``wait_admitted`` for a call to get a place in a full mailbox, and
``take_ref_values`` for a call whose ref arguments it waited for.

The local ``ActorCore`` and the Ray engine's ``RayCore`` keep the futures of
those who wait in ``ready_waiters`` and ``stop_waiters`` and settle them as the
actor's state changes; this mixin is the one implementation of both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeGuard

from .._ref import FAILED, ObjectRef
from .._types import ActorState

if TYPE_CHECKING:
    from .._exceptions import ActorDiedError

__all__ = ["Waiters", "take_ref_values", "wait_admitted"]

_get_running_loop = asyncio._get_running_loop

_PENDING: Final = ActorState.PENDING_CREATION
_RESTARTING: Final = ActorState.RESTARTING
_DEAD: Final = ActorState.DEAD


async def wait_admitted(call: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Wait until ``call``, which waits for a place in its actor's mailbox, has one
    or has finished (``submit()``); cancelled, the wait cancels the call.

    The engine resolves ``call._admit`` when it admits the call.
    """
    admit = call._admit = loop.create_future()

    def finished(_: Any) -> None:
        if not admit.done():
            admit.set_result(None)

    call._add_callback(finished)
    try:
        await admit
    except asyncio.CancelledError:
        call._cancel()
        raise


def take_ref_values(
    call: Any, travels: Callable[[ObjectRef[Any]], bool] | None = None
) -> BaseException | None:
    """Put the values of ``call``'s ref arguments, all done, in their place, except the
    refs that ``travels`` says go to the actor as they are; or, if one of those failed,
    return its exception and leave the arguments as they are. Either way the refs
    taken count as retrieved.
    """

    def here(a: Any) -> TypeGuard[ObjectRef[Any]]:
        return isinstance(a, ObjectRef) and (travels is None or not travels(a))

    for a in (*call._args, *call._kwargs.values()):
        if here(a) and a._state == FAILED:
            a._retrieved()
            return a._error()

    def value(a: Any) -> Any:
        if here(a):
            a._retrieved()
            return a._value
        return a

    call._args = tuple(value(a) for a in call._args)
    if call._kwargs:
        call._kwargs = {k: value(v) for k, v in call._kwargs.items()}
    return None


class Waiters:
    """``wait_ready()`` and ``stopped()`` over ``ready_waiters`` and ``stop_waiters``."""

    __slots__ = ()

    if TYPE_CHECKING:
        # The core's own fields (CoreBase's slots, or RayCore's attributes),
        # declared as properties so that this mixin adds no slot of its own.
        state: ActorState

        @property
        def ready_waiters(self) -> list[asyncio.Future[None]] | None: ...
        @ready_waiters.setter
        def ready_waiters(self, value: list[asyncio.Future[None]] | None) -> None: ...
        @property
        def stop_waiters(self) -> list[asyncio.Future[None]] | None: ...
        @stop_waiters.setter
        def stop_waiters(self, value: list[asyncio.Future[None]] | None) -> None: ...
        @property
        def loop(self) -> asyncio.AbstractEventLoop: ...
        def _dead_error(self) -> ActorDiedError: ...

    @staticmethod
    def _settle_waiters(
        waiters: list[asyncio.Future[None]] | None, exc: Callable[[], BaseException] | None = None
    ) -> None:
        """Resolve each waiting future not already done: to None, or to ``exc()``."""
        if waiters is None:
            return
        for w in waiters:
            if not w.done():
                if exc is None:
                    w.set_result(None)
                else:
                    w.set_exception(exc())

    async def wait_ready(self) -> None:
        """Wait until ``__init__`` and ``__post_create__`` have run.

        Raises:
            ActorDiedError: the actor failed to start (for good) or is dead.
        """
        if self.state is _PENDING or self.state is _RESTARTING:
            if _get_running_loop() is not self.loop:
                cf = asyncio.run_coroutine_threadsafe(self.wait_ready(), self.loop)
                await asyncio.wrap_future(cf)
                return
            fut = self.loop.create_future()
            if self.ready_waiters is None:
                self.ready_waiters = []
            self.ready_waiters.append(fut)
            await fut
        elif self.state is _DEAD:
            raise self._dead_error()

    def stopped(self) -> asyncio.Future[None]:
        """A future of the loop that completes when the actor is DEAD."""
        fut: asyncio.Future[None] = self.loop.create_future()
        if self.state is _DEAD:
            fut.set_result(None)
        else:
            if self.stop_waiters is None:
                self.stop_waiters = []
            self.stop_waiters.append(fut)
        return fut
