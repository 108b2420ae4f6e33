"""The floor: the cheapest correct actor plain asyncio allows.

One task drains an ``asyncio.Queue`` of ``(args, future)`` pairs, calls the
method, and sets the future's result or exception. Whatever asyncactors costs
on top of this is the price of its features (handles, refs, bounded mailboxes,
supervision), which is what the benchmarks report.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self, cast

__all__ = ["FloorActor", "FloorBatcher"]

_Item = tuple[tuple[object, ...], asyncio.Future[object]]


class FloorActor:
    """A plain asyncio actor for one method: calls start in submission order.

    Use as ``async with FloorActor(obj.method) as actor: await actor.submit(*args)``.
    With ``max_concurrency=1`` (the default) one task drains the queue and an
    ``async def`` method is awaited to completion before the next call starts;
    with ``max_concurrency=n``, n tasks drain it, so up to n calls overlap.
    """

    _loop: asyncio.AbstractEventLoop
    _tasks: list[asyncio.Task[None]]

    def __init__(self, method: Callable[..., object], max_concurrency: int = 1) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self._method = method
        self._is_async = inspect.iscoroutinefunction(method)
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._workers = max_concurrency

    async def __aenter__(self) -> Self:
        """Start the draining task(s) on the running loop."""
        self._loop = asyncio.get_running_loop()
        drain = self._drain_async if self._is_async else self._drain_sync
        self._tasks = [asyncio.create_task(drain()) for _ in range(self._workers)]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the draining tasks and fail calls still queued, so no caller waits forever."""
        for task in self._tasks:
            task.cancel()
        # asyncio.wait never raises the tasks' CancelledError, so a cancellation of
        # the caller itself is not swallowed here.
        await asyncio.wait(self._tasks)
        while not self._queue.empty():
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(RuntimeError("floor actor stopped"))

    def submit(self, *args: object) -> asyncio.Future[object]:
        """Queue one call with positional ``args``; return the future of its result."""
        fut = self._loop.create_future()
        self._queue.put_nowait((args, fut))
        return fut

    async def _drain_sync(self) -> None:
        get = self._queue.get
        method = self._method
        while True:
            args, fut = await get()
            try:
                result = method(*args)
            except Exception as exc:
                # The caller may have cancelled its future; setting it then would
                # raise InvalidStateError and kill the actor.
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(result)

    async def _drain_async(self) -> None:
        get = self._queue.get
        method = cast(Callable[..., Awaitable[object]], self._method)
        while True:
            args, fut = await get()
            try:
                result = await method(*args)
            except Exception as exc:
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(result)


_Pending = tuple[object, asyncio.Future[object]]


class FloorBatcher:
    """A hand-written asyncio batcher, as one writes it without a library.

    Callers ``submit(item)``; ``max_concurrency`` tasks each take the first item
    waiting, then more until the batch holds ``max_batch_size`` or
    ``batch_wait_timeout_s`` has passed since that first one, call
    ``method(items)`` and set each caller's future to its result.
    """

    _loop: asyncio.AbstractEventLoop
    _tasks: list[asyncio.Task[None]]

    def __init__(
        self,
        method: Callable[[list[object]], Awaitable[list[object]]],
        max_batch_size: int,
        batch_wait_timeout_s: float,
        max_concurrency: int = 1,
    ) -> None:
        self._method = method
        self._max = max_batch_size
        self._wait = batch_wait_timeout_s
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._workers = max_concurrency

    async def __aenter__(self) -> Self:
        """Start the batching tasks on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._tasks = [asyncio.create_task(self._batches()) for _ in range(self._workers)]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the batching tasks and fail items still queued."""
        for task in self._tasks:
            task.cancel()
        await asyncio.wait(self._tasks)
        while not self._queue.empty():
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(RuntimeError("floor batcher stopped"))

    def submit(self, item: object) -> asyncio.Future[object]:
        """Queue one item; return the future of its result."""
        fut = self._loop.create_future()
        self._queue.put_nowait((item, fut))
        return fut

    async def _collect(self) -> list[_Pending]:
        queue = self._queue
        batch = [await queue.get()]
        deadline = self._loop.time() + self._wait
        while len(batch) < self._max:
            if not queue.empty():
                batch.append(queue.get_nowait())
                continue
            left = deadline - self._loop.time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), left))
            except TimeoutError:
                break
        return batch

    async def _batches(self) -> None:
        while True:
            batch = await self._collect()
            try:
                results = await self._method([item for item, _ in batch])
            except Exception as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
            else:
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)
