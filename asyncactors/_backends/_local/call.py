"""``Call``: a call in flight. The ref its caller holds is the call itself."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from ..._exceptions import ActorDiedError, PendingCallsLimitExceeded, TaskCancelledError
from ..._mailbox import Lane, Mailbox
from ..._ref import _SEEN, ACCELERATED, ObjectRef, _actor_here, _RefBase, call_soon_from_afar
from ..._specs import MethodSpec
from ..._types import ASYNC, SYNC, ActorState, StopReason
from .common import STOPPED_BY, UNREACHABLE, died_error

if TYPE_CHECKING:
    from ..._protocols import Host
    from ..._specs import ClassSpec
    from .common import Described

__all__ = [
    "DEPS",
    "NEW",
    "OVERFLOW",
    "QUEUED",
    "RUNNING",
    "Admission",
    "Call",
    "CallOwner",
    "Item",
    "PendingCount",
    "StopCall",
]

_get_running_loop = asyncio._get_running_loop
_get_ident = threading.get_ident
_Future = asyncio.Future

# Where a call is. Plain ints, compared on the hot path.
NEW: Final = 0
DEPS: Final = 1  # waiting for ref arguments
OVERFLOW: Final = 2  # waiting for room in a full mailbox
QUEUED: Final = 3
RUNNING: Final = 4


# For type checking only: a Protocol class costs more to make than most classes.
if TYPE_CHECKING:

    class CallOwner(Described, Protocol):
        """What a call needs of the actor it was sent to."""

        state: ActorState
        host: Host
        loop: asyncio.AbstractEventLoop
        spec: ClassSpec
        mailbox: Mailbox | None
        deps_waiting: set[Call] | None
        workers: dict[asyncio.Task[Any], Call | None] | None

        def stopped(self) -> asyncio.Future[None]: ...
        def _stop_after_running(self, why: StopReason, reason: str) -> None: ...
        def _resume(self) -> None: ...


class _PyCallBase(_RefBase):
    """``Call``'s fields, in Python: the twin of ``_speedups.CallBase``, a call's fields
    and its ref's in one C struct (slots of a Python class cost each dealloc a walk)."""

    # _attempts is set only on calls that are retried; _blocked only on calls
    # that blocked in a wait inside their method (see _deadlock).
    __slots__ = (
        "_admit",
        "_args",
        "_attempts",
        "_blocked",
        "_core",
        "_kwargs",
        "_lane",
        "_pos",
        "_spec",
    )

    _admit: asyncio.Future[None] | None
    _args: tuple[Any, ...]
    _attempts: int
    _blocked: Any
    _core: CallOwner
    _kwargs: Mapping[str, Any]
    _lane: Lane | None
    _pos: int
    _spec: MethodSpec


if TYPE_CHECKING or not ACCELERATED:
    _CallBase = _PyCallBase
else:
    from ... import _speedups

    _CallBase = _speedups.CallBase


class Call(ObjectRef[Any], _CallBase):
    """A call in flight: the ref its caller holds is the call itself."""

    __slots__ = ()

    def __init__(
        self, core: CallOwner, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        # Dispatch.call makes the calls of the hot path without this method (a
        # class's __init__ is a Python call made from C, dearer than the stores):
        # a field set here must be set there too.
        self._loop = core.loop
        self._state = 0
        self._waiters = None
        self._log = None
        self._core = core
        self._spec = spec
        self._args = args
        self._kwargs = kwargs
        self._pos = NEW
        self._admit = None

    def _describe(self) -> str:
        return f"call {self._spec.name}() on {self._core.describe()}"

    def __repr__(self) -> str:
        return f"<ObjectRef {self._state_name()}: {self._describe()}>"

    def _unreachable(self) -> ActorDiedError:
        return died_error(self._core, UNREACHABLE)

    # With the C base (_ref.ACCELERATED), its await does this without a Python frame.
    if not ACCELERATED:

        def __await__(self) -> Generator[Any, None, Any]:
            if self._state:
                return self._finished()
            core = self._core
            loop = core.loop
            # ObjectRef.__await__ asks for the running loop, and in Python 3.11 that
            # makes a getpid() system call: on the actor's own thread, with its loop
            # running, the running loop can only be the actor's (see CoreBase.on_loop).
            host = core.host
            marked = host.thread_loop
            if (
                marked._thread_id != _get_ident()
                if marked is not None
                else host.thread_id != _get_ident() or not loop.is_running()
            ):
                return ObjectRef.__await__(self)
            # The rest of ObjectRef.__await__, inlined: the hot path. Not
            # loop.create_future(), a Python method on asyncio's loops.
            fut: asyncio.Future[Any] = _Future(loop=loop)
            if self._waiters is None:
                self._waiters = fut
            else:
                self._add_waiter(fut)
            # _retrieved(), shortened: a pending ref has no failure to log yet.
            self._log = _SEEN
            actor = _actor_here()
            if actor is None:
                return iter(fut)  # not fut.__await__(): a slot wrapper, dearer to call
            return actor.blocking_wait(self, fut)

    def _admitted(self) -> None:
        self._pos = QUEUED
        # Admitted into its lane, which may be one no drain or worker will look
        # at: whoever freed the room (a worker, a drain, a batch, a cancel).
        self._core._resume()
        admit = self._admit
        if admit is not None and not admit.done():
            admit.set_result(None)

    def cancel(self) -> bool:
        """Cancel the call; return ``False`` if it had already finished, or can never
        finish: its event loop is closed.

        A queued call is removed and never runs; a running async method's task is
        cancelled. A method running in a thread cannot be interrupted: its caller
        gets ``TaskCancelledError`` at once and its result is dropped. Awaiting a
        cancelled ref raises ``TaskCancelledError``.
        """
        if self._state:
            return False
        loop = self._loop
        if _get_running_loop() is not loop:
            assert loop is not None
            return call_soon_from_afar(loop, self._cancel)
        return self._cancel()

    def _cancel(self) -> bool:
        if self._state:
            return False
        core = self._core
        pos = self._pos
        if pos in (QUEUED, OVERFLOW):
            mb = core.mailbox
            assert mb is not None
            mb.remove(self)
        elif pos == DEPS:
            if core.deps_waiting is not None:
                core.deps_waiting.discard(self)
        elif pos == RUNNING and self._spec.kind == ASYNC and core.workers:
            for task, running in core.workers.items():
                if running is self:
                    task.cancel()
                    break
        self._set_exception(TaskCancelledError(f"{self._describe()} was cancelled"), log=False)
        return True


class CappedCall(Call):
    """A call to an actor with ``max_pending_calls``: it gives its place back once resolved."""

    __slots__ = ("_count",)

    def __init__(
        self,
        core: CallOwner,
        spec: MethodSpec,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        count: PendingCount,
    ) -> None:
        Call.__init__(self, core, spec, args, kwargs)
        self._count = count

    def _set_result(self, value: Any) -> None:
        if not self._state:
            self._count.give_back()
            ObjectRef._set_result(self, value)

    def _set_exception(self, exc: BaseException, *, log: bool = True) -> None:
        if not self._state:
            self._count.give_back()
            ObjectRef._set_exception(self, exc, log=log)


# For type checking only: a Protocol class costs more to make than most classes.
if TYPE_CHECKING:

    class Admission(Protocol):
        """What ``Dispatch.call`` asks to make each call, when the actor has one.

        ``max_pending_calls`` counts calls through it (``PendingCount``);
        ``ActorSystem(metrics=True)`` times them (``timed.TimedAdmission``). An actor
        with neither has none, and its calls pay nothing for either.
        """

        def admit(
            self,
            core: CallOwner,
            spec: MethodSpec,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
            make: Callable[..., Call] | None = None,
        ) -> Call: ...


class PendingCount:
    """How many calls an actor with ``max_pending_calls`` has submitted and not resolved.

    A lock guards the count, so a caller on any thread takes a place at once,
    without a round trip to the actor's loop, and the cap holds exactly.
    """

    __slots__ = ("cap", "lock", "n")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.n = 0
        self.lock = threading.Lock()

    def admit(
        self,
        core: CallOwner,
        spec: MethodSpec,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        make: Callable[..., Call] | None = None,
    ) -> Call:
        """Take a place and return the new call: a ``CappedCall``, or ``make(..., self)``.

        Raises:
            PendingCallsLimitExceeded: every place is taken.
        """
        self.take(core)
        return (make or CappedCall)(core, spec, args, kwargs, self)

    def take(self, core: CallOwner) -> None:
        """Take a place for a call to ``core``.

        Raises:
            PendingCallsLimitExceeded: every place is taken.
        """
        with self.lock:
            full = self.n >= self.cap
            if not full:
                self.n += 1
        if full:
            raise PendingCallsLimitExceeded(
                f"{core.describe()} already has {self.cap} pending calls "
                f"(its max_pending_calls); wait for some to finish"
            )

    def give_back(self) -> None:
        """A call resolved: free its place."""
        with self.lock:
            self.n -= 1


class Item(Call):
    """An item of a batched method sent by ``batch.ItemSender.send``'s short path: a
    plain ``Call``, made by ``Item()`` (``object.__init__``), its fields set by its maker.

    An item waits for its batch and is never run as a call: once queued, its lane keeps
    its argument (``BatchLane.values``) and its ``_args`` is empty; the tuple of it,
    which would live as long as the item, is kept only while the item waits for room.
    """

    __slots__ = ()

    __init__ = object.__init__


Item.__name__ = Item.__qualname__ = "ObjectRef"


class StopCall(Call):
    """A stop call: queued like a call, its ref resolves once the actor is DEAD."""

    __slots__ = ("_via",)

    def __init__(self, core: CallOwner, via: StopReason) -> None:
        super().__init__(core, stop_spec(core.spec), (core, via), {})
        self._via = via

    def _describe(self) -> str:
        return f"{STOPPED_BY[self._via]} of {self._core.describe()}"

    def _set_result(self, value: Any) -> None:
        if self._state:
            return
        # The stop has run; its caller hears of it when the actor is DEAD.
        self._core.stopped().add_done_callback(self._stopped)

    def _stopped(self, _: asyncio.Future[None]) -> None:
        Call._set_result(self, None)


def _run_stop(instance: Any, core: CallOwner, via: StopReason) -> None:
    """The body of a stop call: refuse new calls, fail queued ones, stop when idle."""
    core._stop_after_running(via, f"was stopped by {STOPPED_BY[via]} before running the call")


def stop_spec(spec: ClassSpec) -> MethodSpec:
    """The method a stop call runs, named as Ray names it; made once per actor class."""
    stop = spec.stop
    if stop is None:
        stop = spec.stop = MethodSpec(
            spec.name, "__ray_terminate__", _run_stop, SYNC, None, 0, None
        )
    return stop


# Python's own messages ("'Call' object is not callable", "Object of type Call is
# not JSON serializable") name a ref's type: the public one, not the engine's.
for _cls in (Call, CappedCall, StopCall):
    _cls.__name__ = _cls.__qualname__ = "ObjectRef"
