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
