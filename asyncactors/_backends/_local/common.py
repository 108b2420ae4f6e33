"""What the local engine's modules share: errors, stop reasons and small helpers."""

from __future__ import annotations

import asyncio
import functools
import types
from collections import deque
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, NoReturn, Protocol, TypeVar, overload

from ..._exceptions import ActorDiedError
from ..._types import StopReason

if TYPE_CHECKING:
    from ..._protocols import Host
    from ..._specs import MethodSpec

__all__ = [
    "BUDGET",
    "NO_KWARGS",
    "STOPPED_BY",
    "STOP_REASONS",
    "UNREACHABLE",
    "YIELD",
    "ColdField",
    "ColdState",
    "Described",
    "died_error",
    "propagates",
    "returned_coroutine",
]

# The keyword arguments of what takes none (an actor's __init__, a batch's item): one
# shared mapping, read-only so that no holder can change it for the others.
NO_KWARGS: Final[Mapping[str, Any]] = types.MappingProxyType({})

_current_task = asyncio.current_task
_T = TypeVar("_T")
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
        # generator method. staticmethod: from Python 3.13 on, a partial in a class
        # becomes a method descriptor (a FutureWarning in 3.13), which would bind self.
        __await__ = staticmethod(functools.partial(iter, (None,)))


YIELD: Final = _Yield()


# For type checking only: a Protocol class costs more to make than most classes.
if TYPE_CHECKING:

    class Described(Protocol):
        """What errors need of an actor to name it."""

        actor_id: int
        name: str | None

        def describe(self) -> str: ...

        @property
        def class_name(self) -> str: ...


def died_error(core: Described, reason: str, *, by_shutdown: bool = False) -> ActorDiedError:
    """``ActorDiedError("<actor> <reason>")`` with the actor's id, class and name;
    ``by_shutdown``: the actor system's shutdown is all that failed the call."""
    return ActorDiedError(
        f"{core.describe()} {reason}",
        actor_id=core.actor_id,
        class_name=core.class_name,
        name=core.name,
        by_shutdown=by_shutdown,
    )


class EngineState:
    """What the engine keeps for one actor system (its ``host.engine``)."""

    __slots__ = ("foreign", "released", "starting", "task_factory")

    def __init__(self) -> None:
        # Handle counts of actors made or dropped off the loop's thread, under the
        # host's lock (see Lifecycle.handle_added); on the loop's they are counted
        # in the actor's ``handles``.
        self.foreign: dict[Any, int] = {}
        # Actors started, and actors whose last handle went, on the loop's thread
        # since the loop last turned: one callback takes each list's step for all
        # of them (see Lifecycle.start), rather than a callback per actor.
        self.starting: list[Any] = []
        self.released: list[Any] = []
        # The task factory this system joined on its loop (see tasks.install).
        self.task_factory: Any = None


def local_state(host: Host) -> EngineState:
    """What the engine keeps for ``host``'s system, made on first use (any thread).

    In ``host.local``, not ``host.engine``: the system may be another engine's,
    as that of a Ray worker process, which hosts its actor in an ``ActorCore``.
    """
    state: EngineState | None = host.local
    if state is None:
        with host.lock:
            state = host.local
            if state is None:
                state = host.local = EngineState()
    return state


class ColdState:
    """State few actors need, allocated on first use to keep idle actors small.

    The actor's fields declared as ``ColdField`` live here; the others are
    reached through the actor's methods.
    """

    __slots__ = (
        "crash_times",
        "death",
        "deps_waiting",
        "failed",
        "finishing",
        "key",
        "name",
        "own_supervisor",
        "owned",
        "pending",
        "reason",
        "restarts",
        "rollbacks",
        "save_lock",
        "since_checkpoint",
        "stop_waiters",
    )

    def __init__(self) -> None:
        self.crash_times: deque[float] | None = None
        self.save_lock: asyncio.Lock | None = None
        self.since_checkpoint = 0
        self.key: str | None = None
        self.rollbacks = 0
        # Each as its ColdField's default.
        self.death: BaseException | None = None
        self.deps_waiting: Any = None
        self.failed = 0
        self.finishing = False
        self.reason: str | None = None
        self.restarts = 0
        self.stop_waiters: Any = None
        self.name: str | None = None
        self.owned: Any = None
        self.pending: Any = None
        # None: the system's root supervisor.
        self.own_supervisor: Any = None


# For type checking only: a Protocol class costs more to make than most classes.
if TYPE_CHECKING:

    class _HasCold(Protocol):
        cold: ColdState | None

        def _cold(self) -> ColdState: ...


class ColdField(Generic[_T]):
    """A field of the actor kept in its ``ColdState``.

    It reads as ``default`` while the actor has no ``ColdState``, and setting it
    to ``default`` then allocates none, so an actor that never needs the field
    pays nothing for it: not even the 8 bytes of a slot. A read or a write costs
    a Python call, so none may be on the hot path.
    """

    __slots__ = ("default", "name")

    def __init__(self, default: _T) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        if name not in ColdState.__slots__:
            raise TypeError(f"ColdState has no field {name!r} for {owner.__name__}.{name}")
        self.name = name

    @overload
    def __get__(self, core: None, owner: type) -> ColdField[_T]: ...

    @overload
    def __get__(self, core: _HasCold, owner: type | None = None) -> _T: ...

    def __get__(self, core: _HasCold | None, owner: type | None = None) -> Any:
        if core is None:
            return self
        cold = core.cold
        if cold is None:
            return self.default
        return getattr(cold, self.name)

    def __set__(self, core: _HasCold, value: _T) -> None:
        cold = core.cold
        if cold is None:
            if value is self.default:
                return
            cold = core._cold()
        setattr(cold, self.name, value)


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
