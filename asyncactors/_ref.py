"""``ObjectRef``: the awaitable result of a call.

A ref is resolved exactly once, on its loop's thread. Each ``await`` gets its
own waiter future, so cancelling one awaiting task cancels neither the call
nor the other awaiters (Ray's semantics); ``ObjectRef.cancel()`` is the one way
to cancel the call itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar

from ._exceptions import ActorDiedError, GetTimeoutError

__all__ = ["ObjectRef", "logger"]

logger = logging.getLogger("asyncactors")
logger.addHandler(logging.NullHandler())

_T = TypeVar("_T")
_Future = asyncio.Future
_get_running_loop = asyncio._get_running_loop

PENDING = 0
OK = 1
FAILED = 2
# Marks a ref whose outcome somebody has asked for, so its failure is not logged.
_SEEN: Any = object()


class _UnretrievedFailure:
    """Logs a failure that nobody retrieved when its ref is garbage-collected."""

    __slots__ = ("description", "exc")

    def __init__(self, exc: BaseException, description: str) -> None:
        self.exc: BaseException | None = exc
        self.description = description

    def __del__(self) -> None:
        exc = self.exc
        if exc is not None:
            level = logging.WARNING if _is_lifecycle(exc) else logging.ERROR
            # Logging can fail at interpreter shutdown; a destructor must not raise.
            with contextlib.suppress(Exception):
                logger.log(
                    level,
                    "%s failed and nobody awaited it",
                    self.description,
                    exc_info=(type(exc), exc, exc.__traceback__),
                )


def _is_lifecycle(exc: BaseException) -> bool:
    return isinstance(exc, ActorDiedError)


class ObjectRef(Generic[_T]):
    """The future result of ``handle.method.remote()`` or ``asyncactors.put()``.

    Await it for the value, or the method's own exception. ``result()`` blocks a
    thread other than the actor system's loop thread.
    """

    __slots__ = ("__weakref__", "_exc", "_log", "_loop", "_state", "_value", "_waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop = loop
        self._state = PENDING
        self._value: Any = None
        self._exc: BaseException | None = None
        self._waiters: list[Any] | None = None
        self._log: _UnretrievedFailure | None = None

    @classmethod
    def _ready(cls, value: Any) -> ObjectRef[Any]:
        ref: ObjectRef[Any] = cls(_get_running_loop())
        ref._state = OK
        ref._value = value
        return ref

    # -- resolution (loop thread only) --------------------------------------

    def _set_result(self, value: Any) -> None:
        if self._state:
            return
        self._state = OK
        self._value = value
        waiters = self._waiters
        if waiters is not None:
            self._waiters = None
            for w in waiters:
                if isinstance(w, _Future):
                    if not w.done():
                        w.set_result(value)
                else:
                    w(self)

    def _set_exception(self, exc: BaseException, *, log: bool = True) -> None:
        if self._state:
            return
        self._state = FAILED
        self._exc = exc
        waiters = self._waiters
        if waiters is not None:
            self._waiters = None
            for w in waiters:
                if isinstance(w, _Future):
                    if not w.done():
                        w.set_exception(exc)
                else:
                    w(self)
        if log and self._log is None:
            self._log = _UnretrievedFailure(exc, self._describe())

    def _describe(self) -> str:
        return "ObjectRef"

    def _retrieved(self) -> None:
        log = self._log
        if log is not _SEEN:
            if log is not None:
                log.exc = None
            self._log = _SEEN

    def _add_callback(self, callback: Callable[[ObjectRef[Any]], None]) -> None:
        """Call ``callback(self)`` on the loop thread once resolved (now, if it is)."""
        if self._state:
            callback(self)
            return
        waiters = self._waiters
        if waiters is None:
            self._waiters = [callback]
        else:
            waiters.append(callback)

    def _outcome(self) -> Any:
        self._retrieved()
        if self._state == FAILED:
            assert self._exc is not None
            raise self._exc
        return self._value

    # -- public API -----------------------------------------------------------

    def done(self) -> bool:
        """Whether the ref has a value or an exception."""
        return self._state != PENDING

    def cancel(self) -> bool:
        """Cancel the call; return ``False`` if it had already finished.

        A queued call is removed and never runs; a running async method's task is
        cancelled. Awaiting a cancelled ref raises ``TaskCancelledError``.
        """
        return False

    def __await__(self) -> Generator[Any, None, _T]:
        if self._state:
            return self._finished()
        running = _get_running_loop()
        if running is not self._loop or running is None:
            return self._await_from_other_loop(running).__await__()
        fut = running.create_future()
        waiters = self._waiters
        if waiters is None:
            self._waiters = [fut]
        else:
            waiters.append(fut)
        log = self._log
        if log is not _SEEN:
            if log is not None:
                log.exc = None
            self._log = _SEEN
        return fut.__await__()

    def _finished(self) -> Generator[Any, None, _T]:
        return self._outcome()  # type: ignore[no-any-return]
        yield  # pragma: no cover - makes this a generator

    def future(self) -> asyncio.Future[_T]:
        """A new ``asyncio.Future`` of the running loop that mirrors this ref.

        For ``asyncio.gather``, ``asyncio.wait`` and friends. Cancelling the
        future does not cancel the call.
        """
        running = asyncio.get_running_loop()
        fut: asyncio.Future[_T] = running.create_future()
        self._retrieved()
        if running is self._loop or self._loop is None:
            if self._state:
                _copy_outcome(self, fut)
            else:
                waiters = self._waiters
                if waiters is None:
                    self._waiters = [fut]
                else:
                    waiters.append(fut)
            return fut

        def relay(ref: ObjectRef[Any]) -> None:
            running.call_soon_threadsafe(_copy_outcome, ref, fut)

        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._add_callback, relay)
        return fut

    async def _await_from_other_loop(self, running: asyncio.AbstractEventLoop | None) -> _T:
        if running is None:
            raise RuntimeError("an ObjectRef can only be awaited inside a running event loop")
        return await self.future()

    def result(self, timeout: float | None = None) -> _T:
        """Block this thread until the value is ready, and return it.

        Raises:
            GetTimeoutError: not ready within ``timeout`` seconds (the call goes on).
            RuntimeError: called on the actor system's loop thread, where waiting
                would deadlock; use ``await ref`` there.
            Exception: whatever the method raised.
        """
        loop = self._loop
        if loop is not None and _get_running_loop() is loop:
            raise RuntimeError(
                "ObjectRef.result() would block the actor system's own event loop; "
                "use 'await ref' or 'await asyncactors.get(ref)' there"
            )
        if not self._state:
            assert loop is not None
            cf: concurrent.futures.Future[Any] = concurrent.futures.Future()

            def relay(ref: ObjectRef[Any]) -> None:
                if ref._state == OK:
                    cf.set_result(ref._value)
                else:
                    assert ref._exc is not None
                    cf.set_exception(ref._exc)

            loop.call_soon_threadsafe(self._add_callback, relay)
            try:
                concurrent.futures.wait([cf], timeout)
            except BaseException:  # pragma: no cover - KeyboardInterrupt while blocked
                raise
            if not cf.done():
                raise GetTimeoutError(f"{self._describe()} was not ready within {timeout} s")
        return self._outcome()  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        state = ("pending", "done", "failed")[self._state]
        return f"<{self._describe()} {state}>"

    def __reduce__(self) -> Any:
        # Only engines whose refs live outside this process (Ray's) pickle them.
        raise TypeError(
            f"{self._describe()} cannot be serialized: it lives in this process. Pass it "
            "as a top-level argument (it is resolved first), or pass its value"
        )


def _copy_outcome(ref: ObjectRef[Any], fut: asyncio.Future[Any]) -> None:
    if fut.done():
        return
    if ref._state == OK:
        fut.set_result(ref._value)
    else:
        assert ref._exc is not None
        fut.set_exception(ref._exc)
