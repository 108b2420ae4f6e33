"""Generator methods: a stream is one call whose worker task drives the generator.

``Dispatch.stream`` makes a ``StreamCall``, which goes through the mailbox like
any call and holds a concurrency slot while it runs. Its worker task (``drive``)
asks the generator for items and buffers them for the consumer
(``StreamCall.next_item``), waiting whenever ``stream_buffer`` items are not
consumed yet: the generator stays suspended at its ``yield`` meanwhile. A
generator runs on the loop (an async generator, or a sync one stepped inline)
or, with ``run_in_thread=True``, is stepped in worker threads.

The call resolves when the generator ends: to ``None``, or to its exception,
which the consumer gets after the buffered items. Closing the stream cancels
the call and its worker task, which closes the generator. A restart, a kill, a
shutdown or a supervisor's stop fails the call with ``ActorDiedError`` and
closes the generator the same way: a stream may never end by itself, so
unlike other calls it is not waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import weakref
from collections import deque
from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING, Any

from ..._context import current_call
from ..._ref import FAILED, ObjectRef, logger
from ..._specs import MethodSpec
from ..._stream import END
from ..._types import STREAM_ASYNC, STREAM_SYNC, StopReason
from . import deadlock
from .call import RUNNING, Call, PendingCount

if TYPE_CHECKING:
    from .base import CoreBase
    from .call import CallOwner

__all__ = ["StreamCall", "drive", "end_streams"]

_CancelledError = asyncio.CancelledError

# The stops that end open streams instead of waiting for them: the system or
# the supervisor is going away, and a stream may never end by itself.
_ENDING: dict[StopReason, str] = {
    StopReason.SHUTDOWN: "was shut down with its actor system during the stream",
    StopReason.SUPERVISOR: "was stopped by its supervisor during the stream",
}


class StreamCall(Call):
    """A generator method's call: its buffer, and the consumer's side of it.

    Loop thread only, except ``cancel()``, ``drop()`` and ``done()``.
    """

    __slots__ = ("_buffer", "_closers", "_count", "_getter", "_items", "_open", "_putter")

    def __init__(
        self,
        core: CallOwner,
        spec: MethodSpec,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        count: PendingCount | None = None,
    ) -> None:
        Call.__init__(self, core, spec, args, kwargs)
        self._count = count
        self._buffer = spec.stream_buffer
        self._items: deque[Any] = deque()
        # The consumer waiting for an item, and the producer waiting for room.
        self._getter: asyncio.Future[None] | None = None
        self._putter: asyncio.Future[None] | None = None
        # The generator exists and is not closed yet.
        self._open = False
        # aclose() calls waiting for the generator to close.
        self._closers: list[asyncio.Future[None]] | None = None

    # -- resolution -----------------------------------------------------------------

    def _set_result(self, value: Any) -> None:
        if not self._state:
            ObjectRef._set_result(self, value)
            self._ended()

    def _set_exception(self, exc: BaseException, *, log: bool = True) -> None:
        if not self._state:
            ObjectRef._set_exception(self, exc, log=log)
            self._ended()

    def _ended(self) -> None:
        if self._count is not None:
            self._count.give_back()
        _wake(self._getter)
        _wake(self._putter)
        if not self._open:
            self._closed_now(None)

    def _cancel(self) -> bool:
        running = self._pos == RUNNING
        if not Call._cancel(self):
            return False
        self._items.clear()
        workers = self._core.workers
        if running and workers:
            for task, call in workers.items():
                if call is self:
                    task.cancel()
                    break
        return True

    def drop(self) -> None:
        """The consumer is gone: cancel soon, from any thread."""
        loop = self._loop
        assert loop is not None
        loop.call_soon_threadsafe(self._cancel)

    def _closed_now(self, exc: BaseException | None) -> None:
        """The generator is closed (``exc``: what closing it raised): wake ``close()``."""
        self._open = False
        closers, self._closers = self._closers, None
        if closers:
            for fut in closers:
                if not fut.done():
                    if exc is None:
                        fut.set_result(None)
                    else:
                        fut.set_exception(exc)
        elif exc is not None:
            logger.error(
                "%s: closing the generator raised, and nobody awaited aclose()",
                self._describe(),
                exc_info=exc,
            )

    # -- the consumer ---------------------------------------------------------------

    async def next_item(self) -> Any:
        """The next item, once produced; ``END`` after the last one (see ``StreamSource``)."""
        items = self._items
        while not items:
            if self._state:
                self._retrieved()
                if self._state == FAILED:
                    raise self._error()
                return END
            if self._getter is not None:
                raise RuntimeError(
                    f"{self._describe()}: another task is waiting for the stream's next "
                    "item; a stream has one consumer at a time"
                )
            assert self._loop is not None
            fut = self._getter = self._loop.create_future()
            try:
                # Inside an actor's method, a wait for a stream that can never
                # start (queued behind this very method) is a deadlock.
                await _Waiting(deadlock.blocked(self, fut))
            except _CancelledError:
                # The consumer's task was cancelled: nobody reads on.
                self._cancel()
                raise
            finally:
                self._getter = None
        item = items.popleft()
        if len(items) < self._buffer:
            _wake(self._putter)
        return item

    async def close(self) -> None:
        """Cancel the stream and wait until its generator is closed."""
        self._cancel()
        # Closed by its consumer: a failure it did not read is none of its business.
        self._retrieved()
        if self._open:
            assert self._loop is not None
            fut = self._loop.create_future()
            if self._closers is None:
                self._closers = []
            self._closers.append(fut)
            await fut

    def describe_stream(self) -> str:
        """``open: call gen() on actor X(id=1), 2 buffered``, for reprs."""
        state = ("open", "ended", "failed")[self._state]
        return f"{state}: {self._describe()}, {len(self._items)} buffered"

    # -- the producer ---------------------------------------------------------------

    def _put(self, item: Any) -> bool:
        """Buffer ``item``; return whether the buffer is full."""
        items = self._items
        items.append(item)
        _wake(self._getter)
        return len(items) >= self._buffer

    async def _room(self) -> None:
        """Wait until the buffer has room, or the stream has ended."""
        assert self._loop is not None
        while len(self._items) >= self._buffer and not self._state:
            fut = self._putter = self._loop.create_future()
            try:
                await fut
            finally:
                self._putter = None


def _wake(fut: asyncio.Future[None] | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)


class _Waiting:
    """Awaits a generator-based wait (``deadlock.blocked``) from a coroutine."""

    __slots__ = ("_gen",)

    def __init__(self, gen: Generator[Any, None, Any]) -> None:
        self._gen = gen

    def __await__(self) -> Generator[Any, None, Any]:
        return self._gen


async def drive(core: CoreBase, call: Call) -> None:
    """Run a stream's generator to its end, in the call's worker task.

    Raises:
        Exception: what the generator raised (the call's failure, as a method's).
        CancelledError: the task was cancelled, not by the stream's end.
    """
    assert isinstance(call, StreamCall)
    spec = call._spec
    stopping = core.stopping
    if stopping is not None and stopping in _ENDING:
        # Queued before the stop, started after it: it would only be ended.
        call._set_exception(core._error(_ENDING[stopping]))
        return
    gen = spec.func(core.instance, *call._args, **call._kwargs)
    call._open = True
    try:
        if spec.kind == STREAM_ASYNC:
            await _pump_async(call, gen)
        elif spec.kind == STREAM_SYNC:
            await _pump_sync(call, gen)
        else:
            await _pump_thread(call, gen)
    except _CancelledError:
        if not call._state:
            raise
        # The consumer closed the stream, or a restart or stop ended it: the
        # call is settled already, and the worker goes on.


async def _pump_async(call: StreamCall, agen: AsyncGenerator[Any, Any]) -> None:
    try:
        while not call._state:
            try:
                item = await agen.__anext__()
            except StopAsyncIteration:
                return
            if call._put(item):
                await call._room()
    finally:
        try:
            await agen.aclose()
        except Exception as exc:
            call._closed_now(exc)
        else:
            call._closed_now(None)


async def _pump_sync(call: StreamCall, gen: Generator[Any, Any, Any]) -> None:
    try:
        while not call._state:
            try:
                item = next(gen)
            except StopIteration:
                return
            if call._put(item):
                await call._room()
    finally:
        try:
            gen.close()
        except Exception as exc:
            call._closed_now(exc)
        else:
            call._closed_now(None)


async def _pump_thread(call: StreamCall, gen: Generator[Any, Any, Any]) -> None:
    import anyio.to_thread

    steps = _ThreadSteps(gen, call)
    # The threads run in copies of this context: this is how the generator
    # finds its call (get_runtime_context().is_canceled()).
    token = current_call.set(weakref.ref(call))
    try:
        while not call._state:
            item = await anyio.to_thread.run_sync(steps.step, abandon_on_cancel=True)
            if item is END:
                return
            if call._put(item):
                await call._room()
    finally:
        current_call.reset(token)
        if not steps.release():
            pass  # a step still runs: its thread closes the generator once it yields
        elif inspect.getgeneratorstate(gen) == inspect.GEN_CLOSED:
            call._closed_now(None)  # it returned or raised: closed already
        else:
            await anyio.to_thread.run_sync(steps.close, abandon_on_cancel=True)


class _ThreadSteps:
    """A generator stepped in worker threads, one step at a time.

    A cancelled step goes on in its thread (it cannot be interrupted); the
    generator is then closed by that thread once the step ends, never while
    it runs.
    """

    __slots__ = ("busy", "call", "done", "gen", "lock", "loop")

    def __init__(self, gen: Generator[Any, Any, Any], call: StreamCall) -> None:
        self.gen = gen
        self.call = call
        self.loop = call._loop
        self.lock = threading.Lock()
        self.busy = False
        # No step may start: the loop gave the generator up.
        self.done = False

    def step(self) -> Any:
        """In a worker thread: the next item, or ``END``."""
        with self.lock:
            if self.done:
                return END
            self.busy = True
        try:
            return next(self.gen)
        except StopIteration:
            return END
        finally:
            with self.lock:
                self.busy = False
                abandoned = self.done
            if abandoned:
                self.close()

    def release(self) -> bool:
        """The loop is done with the generator: whether it must close it now
        (``False``: a step still runs, and its thread will)."""
        with self.lock:
            self.done = True
            return not self.busy

    def close(self) -> None:
        """In a worker thread: close the generator and tell the call."""
        try:
            self.gen.close()
        except Exception as exc:
            self._tell(exc)
        else:
            self._tell(None)

    def _tell(self, exc: BaseException | None) -> None:
        assert self.loop is not None
        # The loop may be closed: then nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.call._closed_now, exc)


def end_streams(core: CoreBase, why: StopReason) -> None:
    """A stop that must not wait for open streams: end them with ``ActorDiedError``.

    Their consumers get the items buffered, then the error.
    """
    reason = _ENDING.get(why)
    if reason is None or not core.workers:
        return
    for task, call in list(core.workers.items()):
        if isinstance(call, StreamCall) and not call._state:
            call._set_exception(core._error(reason))
            task.cancel()
