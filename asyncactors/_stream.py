"""``StreamRef``: the items of a generator method, as the actor produces them.

``handle.gen.remote()`` on a generator method returns a ``StreamRef`` at once.
The engine runs the generator as one call, holding a concurrency slot of the
actor, at most ``stream_buffer`` items ahead of the consumer; the ``StreamRef``
is the consumer's side. Items are the values the generator yields, not refs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

from ._exceptions import ActorDiedError
from ._ref import refuse_misuses

__all__ = ["END", "StreamRef", "StreamSource"]

_T = TypeVar("_T")
_get_running_loop = asyncio._get_running_loop


class _End:
    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


# What StreamSource.next_item() returns once the stream has ended: a value,
# since StopAsyncIteration cannot cross a future from another loop.
END: Final[Any] = _End()


class StreamSource(Protocol):
    """What a ``StreamRef`` needs of the engine's side of a stream.

    ``next_item`` and ``close`` run on ``_loop``'s thread; ``cancel`` and
    ``done`` on any thread.
    """

    _loop: asyncio.AbstractEventLoop | None

    def done(self) -> bool:
        """Whether the generator has finished, failed or been closed."""

    def cancel(self) -> bool:
        """Close the stream from any thread; ``False`` if it had ended already."""

    def drop(self) -> None:
        """The consumer is gone: close the stream soon (any thread, even inside a
        garbage collection, so nothing runs now)."""

    async def next_item(self) -> Any:
        """The next item, once produced; ``END`` after the last one.

        Raises:
            Exception: what the generator raised, after the items before it;
                ``TaskCancelledError`` once cancelled; ``ActorDiedError`` if
                the actor died, restarted or was shut down meanwhile.
            RuntimeError: another task is waiting for an item already.
        """

    async def close(self) -> None:
        """Cancel the stream and wait until its generator is closed."""

    def describe_stream(self) -> str:
        """How reprs name the stream: its call, its state and what it buffers."""


class StreamRef(Generic[_T]):
    """The items of a generator method's call, as its actor produces them.

    ``async for item in stream`` gets each item once, in order; ``await
    stream`` gets the rest of them as a list. The generator runs at most the
    method's ``stream_buffer`` items ahead of its consumer. What the generator
    raises reaches the consumer after the items produced before it;
    ``ActorDiedError`` if the actor dies, restarts or is shut down meanwhile.

    The stream holds one of the actor's concurrency slots until its generator
    ends. ``await stream.aclose()``, ``stream.cancel()``, cancelling the task
    that waits for an item, or dropping the last reference to the stream
    closes the generator (its ``finally`` runs) and frees the slot. It works
    from any event loop or thread with a running loop; each item is then a
    hop between the loops.
    """

    __slots__ = ("__weakref__", "_closed", "_source")

    def __init__(self, source: StreamSource) -> None:
        self._source = source
        self._closed = False

    def __aiter__(self) -> StreamRef[_T]:
        return self

    async def __anext__(self) -> _T:
        """The next item.

        Raises:
            StopAsyncIteration: the generator has returned, or the stream was closed.
            TaskCancelledError: the stream was cancelled.
            ActorDiedError: the actor died, restarted or was shut down during the stream.
            RuntimeError: another task is iterating the stream at the same time.
            Exception: what the generator raised.
        """
        if self._closed:
            raise StopAsyncIteration
        source = self._source
        if _get_running_loop() is source._loop:
            item = await source.next_item()
        else:
            item = await self._on_loop(source.next_item)
        if item is END:
            raise StopAsyncIteration
        return item  # type: ignore[no-any-return]

    def __await__(self) -> Generator[Any, None, list[_T]]:
        return self._rest().__await__()

    async def _rest(self) -> list[_T]:
        if self._closed:
            return []
        source = self._source

        async def collect() -> list[_T]:
            items = []
            while (item := await source.next_item()) is not END:
                items.append(item)
            return items

        if _get_running_loop() is source._loop:
            return await collect()
        return await self._on_loop(collect)  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Close the stream and wait until its generator is closed (its ``finally`` has run).

        Iterating the stream afterwards ends at once. Idempotent.

        Raises:
            Exception: what the generator's ``finally`` raised.
        """
        self._closed = True
        source = self._source
        if _get_running_loop() is source._loop:
            await source.close()
        else:
            await self._on_loop(source.close)

    def cancel(self) -> bool:
        """Close the stream without waiting, from any thread.

        Its generator is closed and the items not consumed are dropped; the
        next item raises ``TaskCancelledError``. Returns ``False`` if the
        generator had ended already.
        """
        return self._source.cancel()

    async def _on_loop(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        """Run ``make()`` on the stream's loop, from another loop, and return its result."""
        loop = self._source._loop
        assert loop is not None
        coro = make()
        try:
            cf = asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:
            coro.close()
            if not loop.is_closed():
                raise
            raise ActorDiedError(
                f"{self._source.describe_stream()} can never go on: its event loop is closed"
            ) from None
        return await asyncio.wrap_future(cf)

    def __del__(self) -> None:
        source = getattr(self, "_source", None)
        if source is not None and not source.done():
            # The loop may be closed already, or closing at interpreter exit:
            # then nothing runs the generator any more.
            with contextlib.suppress(Exception):
                source.drop()

    def __repr__(self) -> str:
        return f"<StreamRef {self._source.describe_stream()}>"

    def __reduce__(self) -> Any:
        raise TypeError("StreamRef cannot be pickled: iterate it where it was made")

    if not TYPE_CHECKING:  # at runtime only, so that type checkers report it themselves

        def __iter__(self) -> Any:
            raise TypeError(
                "cannot iterate over a StreamRef with 'for': use 'async for item in stream', "
                "or 'await stream' for the list of its items"
            )


# Its own __iter__ (above) says more than the generic one would.
refuse_misuses(
    StreamRef,
    "a StreamRef",
    "it streams a call's items, it is not their list; use 'async for item in stream', "
    "or 'await stream' for the list of its items",
    skip=("__iter__",),
)
