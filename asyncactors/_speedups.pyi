"""asyncactors._speedups: the optional C base of ``ObjectRef`` (see _speedups.c)."""

import asyncio
from collections.abc import Callable, Generator
from contextvars import ContextVar
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
    _kwargs: dict[str, Any]
    _lane: Any
    _pos: int
    _spec: Any

def setup(
    future_type: type[asyncio.Future[Any]],
    base_event_loop: type[asyncio.BaseEventLoop],
    get_running_loop: Callable[[], asyncio.AbstractEventLoop | None],
    actor_var: ContextVar[Any],
    seen: object,
    /,
) -> None:
    """Give ``RefBase``'s await the objects of ``asyncactors._ref`` it uses.

    Raises RuntimeError if called before with other objects (it takes effect once).
    """

def settle(items: list[Any], results: list[Any], start: int, item_type: type[Any], /) -> int:
    """Resolve ``items[start:]`` with ``results[start:]`` as ``ObjectRef._set_result``
    would, while an item is of ``item_type`` exactly, awaited once (its ``_waiters`` a
    plain ``asyncio.Future``) and its result no exception. Return the index of the first
    item that is not such (``len(items)`` once all are).

    Raises TypeError (not lists, or ``item_type`` no subclass of ``RefBase``), ValueError
    (``start`` < 0), RuntimeError (``setup()`` not called), or what a future's
    ``set_result()`` raised other than ``InvalidStateError``.
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
