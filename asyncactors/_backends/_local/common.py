"""What the local engine's modules share: errors, stop reasons and small helpers."""

from __future__ import annotations

import asyncio
import functools
import types
from collections import deque
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Final, NoReturn, Protocol

from ..._exceptions import ActorDiedError
from ..._types import StopReason

if TYPE_CHECKING:
    from ..._specs import MethodSpec

__all__ = [
    "BUDGET",
    "STOPPED_BY",
    "STOP_REASONS",
    "UNREACHABLE",
    "YIELD",
    "ColdState",
    "Described",
    "died_error",
    "propagates",
    "returned_coroutine",
]

_current_task = asyncio.current_task
_CancelledError = asyncio.CancelledError

# How many calls one drain callback or worker runs before it yields to the loop,
# so that a long mailbox cannot starve other actors and I/O.
BUDGET: Final = 128

UNREACHABLE: Final = "is unreachable: its event loop is closed"

# What a stop call was sent by, as error messages name it.
STOPPED_BY: Final[dict[StopReason, str]] = {
    StopReason.STOP: "asyncactors.stop()",
    StopReason.TERMINATE: "__ray_terminate__()",
}

# How ActorDiedError completes "actor X(id=1) ..." once the actor stopped.
STOP_REASONS: Final[dict[StopReason, str]] = {
    StopReason.SHUTDOWN: "was shut down with its actor system",
    StopReason.SUPERVISOR: "was stopped by its supervisor",
    StopReason.RELEASED: "stopped after all its handles were released",
    StopReason.EXIT: "exited via exit_actor()",
    StopReason.SYSTEM_EXIT: "exited: a method raised SystemExit",
    **{why: f"was stopped by {via}" for why, via in STOPPED_BY.items()},
}


class _Yield:
    """``await YIELD`` gives the loop one turn, like ``asyncio.sleep(0)`` but
    without its two Python frames."""

    __slots__ = ()

    if TYPE_CHECKING:

        def __await__(self) -> Generator[None, None, None]: ...

    else:
        # An iterator that yields None once: a bare yield, which a task takes as
        # "run me again in the next iteration". Made in C, without the frame of a
        # generator method; a partial is no descriptor, so it is called without self.
        __await__ = functools.partial(iter, (None,))


YIELD: Final = _Yield()


class Described(Protocol):
    """What errors need of an actor to name it."""

    actor_id: int
    name: str | None

    def describe(self) -> str: ...

    @property
    def class_name(self) -> str: ...


def died_error(core: Described, reason: str) -> ActorDiedError:
    """``ActorDiedError("<actor> <reason>")`` with the actor's id, class and name."""
    return ActorDiedError(
        f"{core.describe()} {reason}",
        actor_id=core.actor_id,
        class_name=core.class_name,
        name=core.name,
    )


class ColdState:
    """State few actors need, allocated on first use to keep idle actors small."""

    __slots__ = ("crash_times", "key", "rollbacks", "save_lock", "since_checkpoint")

    def __init__(self) -> None:
        self.crash_times: deque[float] = deque()
        self.save_lock: asyncio.Lock | None = None
        self.since_checkpoint = 0
        self.key: str | None = None
        self.rollbacks = 0


def returned_coroutine(spec: MethodSpec, coro: types.CoroutineType[Any, Any, Any]) -> NoReturn:
    """A sync method returned a coroutine: close it unawaited and fail the call."""
    coro.close()  # no "coroutine was never awaited" warning: the error says it all
    raise TypeError(
        f"{spec.class_name}.{spec.name}() is a sync method but returned a coroutine "
        f"({coro.__qualname__}) without awaiting it; declare it 'async def' so that "
        "the actor awaits it"
    )


def propagates(exc: BaseException) -> bool:
    """Whether a BaseException out of user code goes on up: KeyboardInterrupt, or a
    cancellation of the running task (not a CancelledError the code raised itself)."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    if isinstance(exc, _CancelledError):
        task = _current_task()
        return task is not None and task.cancelling() > 0
    return False
