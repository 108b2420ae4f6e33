"""asyncactors._speedups: the optional C base of ``ObjectRef`` (see _speedups.c)."""

import asyncio
from collections.abc import Callable, Generator, Mapping
from contextvars import Context, ContextVar
from typing import Any

class RefBase:
    """``ObjectRef``'s fields and its ``await``, in C."""

    _exc: BaseException | None
    _log: Any
    _loop: asyncio.AbstractEventLoop | None
    _state: int
    _value: Any
    _waiters: Any
    def __await__(self) -> Generator[Any, None, Any]: ...

class CallBase(RefBase):
    """The fields of the engine's call (``_backends._local.call.Call``), in C."""

    _admit: asyncio.Future[None] | None
    _args: tuple[Any, ...]
    _attempts: int
    _blocked: Any
    _core: Any
    _kwargs: Mapping[str, Any]
    _lane: Any
    _pos: int
    _spec: Any

def setup(
    future_type: type[asyncio.Future[Any]],
    base_event_loop: type[asyncio.BaseEventLoop],
    get_running_loop: Callable[[], asyncio.AbstractEventLoop | None],
    actor_var: ContextVar[Any],
    seen: object,
    done_future: asyncio.Future[None],
    /,
) -> None:
    """Give ``RefBase``'s await and ``Waiter`` the objects of ``asyncactors._ref`` they use.

    Raises RuntimeError if called before with other objects (it takes effect once).
    """

class Waiter:
    """What ``await ref`` has its task wait on outside an actor: a future of that await,
    to asyncio's Task (only an await makes one). ``set_result`` and ``set_exception``
    do nothing once it is done; ``add_done_callback`` is the waiter itself, called."""

    _asyncio_future_blocking: bool
    @property
    def _loop(self) -> asyncio.AbstractEventLoop: ...
    def add_done_callback(
        self, fn: Callable[[Any], object], /, *, context: Context | None = None
    ) -> None: ...
    def remove_done_callback(self, fn: Callable[[Any], object], /) -> int: ...
    def result(self) -> Any: ...
    def exception(self) -> BaseException | None: ...
    def done(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def cancel(self, msg: Any | None = None) -> bool: ...
    def set_result(self, value: Any, /) -> None: ...
    def set_exception(self, exc: BaseException, /) -> None: ...
    def send(self, value: Any, /) -> Any: ...
    def __iter__(self) -> Waiter: ...
    def __next__(self) -> Any: ...
    def __await__(self) -> Generator[Any, None, Any]: ...

def settle(items: list[Any], results: list[Any], start: int, item_type: type[Any], /) -> int:
    """Resolve ``items[start:]`` with ``results[start:]`` as ``ObjectRef._set_result``
    would, while an item is of ``item_type`` exactly, awaited once outside an actor (its
    ``_waiters`` a ``Waiter``) and its result no exception. Return the index of the first
    item that is not such (``len(items)`` once all are).

    Raises TypeError (not lists, or ``item_type`` no subclass of ``RefBase``), ValueError
    (``start`` < 0), RuntimeError (``setup()`` not called), or what scheduling a
    waiter's callbacks raised.
    """

class Pulse:
    """The watchdog's monitor thread, which needs no GIL while the loop beats (POSIX only)."""

    @property
    def running(self) -> bool: ...
    @property
    def native_id(self) -> int | None:
        """The monitor thread's native id, once it runs; else None."""
    def start(self, poll_s: float, stale_s: float, on_stale: Callable[[], bool], /) -> None:
        """Start the monitor thread: every ``poll_s`` it looks at the count of beats; once
        none has come for ``stale_s`` it calls ``on_stale()`` with the GIL, every ``poll_s``
        until one comes, and stops when ``on_stale()`` returns false.

        Raises ValueError (a period not positive), TypeError (``on_stale`` not callable),
        RuntimeError (started before, or not in the main interpreter), OSError (no thread).
        """
    def beat(self) -> None:
        """The loop is alive (any thread)."""
    def stop(self) -> None:
        """Stop the monitor thread and wait for it to end."""
