"""The in-process engine: one ``ActorCore`` per actor, driving its mailbox.

The hot path is ``ActorCore.call`` -> ``Mailbox.put`` -> ``ActorCore._drain``
(a ``loop.call_soon`` callback) -> the method -> ``ObjectRef._set_result``.

* Sync methods run inline in the drain callback: no task, no extra hop.
* Async methods run in worker tasks, one per concurrency slot in use. A worker
  keeps taking calls from its lane while there are any, and lingers for one
  loop iteration before it exits, so a caller awaiting each call in turn is
  served by the same task.
* An idle actor holds no task and no queue.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import weakref
from collections import deque
from collections.abc import Callable, Generator, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from ._context import current_actor, current_call, running_actor
from ._exceptions import (
    ActorDiedError,
    CheckpointCorruptError,
    CheckpointError,
    MailboxFullError,
    PendingCallsLimitExceeded,
    TaskCancelledError,
)
from ._mailbox import Lane, Mailbox
from ._ref import FAILED, ObjectRef, logger
from ._signature import ArgChecker

if TYPE_CHECKING:
    from ._handle import ActorHandle
    from ._supervisor import Supervisor
    from ._system import ActorSystem

__all__ = [
    "ActorConfig",
    "ActorCore",
    "ActorState",
    "Admission",
    "ClassSpec",
    "MethodSpec",
    "exit_actor",
]

_get_running_loop = asyncio._get_running_loop
_current_task = asyncio.current_task
_CancelledError = asyncio.CancelledError

# How many calls one drain callback or worker runs before it yields to the loop,
# so that a long mailbox cannot starve other actors and I/O.
_BUDGET: Final = 128


class ActorState(StrEnum):
    """An actor's lifecycle state, as in Ray."""

    PENDING_CREATION = "PENDING_CREATION"
    ALIVE = "ALIVE"
    RESTARTING = "RESTARTING"
    DEAD = "DEAD"


_PENDING: Final = ActorState.PENDING_CREATION
_ALIVE: Final = ActorState.ALIVE
_RESTARTING: Final = ActorState.RESTARTING
_DEAD: Final = ActorState.DEAD

# Method kinds.
SYNC: Final = 0
ASYNC: Final = 1
THREAD: Final = 2

# Where a call is.
_NEW: Final = 0
_DEPS: Final = 1
_OVERFLOW: Final = 2
_QUEUED: Final = 3
_RUNNING: Final = 4


class _Yield:
    """``await _YIELD`` gives the loop one turn, like ``asyncio.sleep(0)`` but
    without its two Python frames."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        yield


_YIELD: Final = _Yield()

_RESTORING: Final = "restoring its checkpoint"


class _ActorExit(BaseException):
    """Raised by ``exit_actor()``; a BaseException so ``except Exception`` lets it by."""


def exit_actor() -> None:
    """Stop the current actor once the running method returns.

    The caller of that method gets ``ActorDiedError``; calls still queued fail
    the same way. ``__pre_destroy__`` runs. This is a normal stop, not a crash.

    Raises:
        TypeError: called outside an actor's method.
    """
    if running_actor() is None:
        raise TypeError(
            "asyncactors.exit_actor() can only be called inside an actor's method "
            "(or __init__ / __post_create__)"
        )
    raise _ActorExit


class MethodSpec:
    """What the engine knows about one actor method."""

    __slots__ = (
        "check",
        "class_name",
        "func",
        "group",
        "kind",
        "max_task_retries",
        "name",
        "retry_exceptions",
    )

    def __init__(
        self,
        class_name: str,
        name: str,
        func: Callable[..., Any],
        kind: int,
        group: str | None,
        max_task_retries: int | None,
        retry_exceptions: bool | tuple[type[BaseException], ...] | None,
    ) -> None:
        self.class_name = class_name
        self.name = name
        self.func = func
        self.kind = kind
        self.group = group
        self.max_task_retries = max_task_retries
        self.retry_exceptions = retry_exceptions
        self.check = ArgChecker(func, f"{class_name}.{name}", drop_first=True)

    def with_options(self, opts: Mapping[str, Any]) -> MethodSpec:
        """A copy with per-call options applied."""
        new = object.__new__(MethodSpec)
        for slot in MethodSpec.__slots__:
            setattr(new, slot, getattr(self, slot))
        for key, value in opts.items():
            if key == "concurrency_group":
                new.group = value
            elif key == "retry_exceptions" and isinstance(value, list):
                new.retry_exceptions = tuple(value)
            else:
                setattr(new, key, value)
        return new


class ClassSpec:
    """What the engine knows about an actor class, built once by ``@remote``."""

    __slots__ = (
        "cls",
        "handle_type",
        "has_async",
        "init_check",
        "methods",
        "name",
        "post_create",
        "pre_destroy",
        "stop",
    )

    def __init__(
        self,
        cls: type,
        methods: dict[str, MethodSpec],
        post_create: Callable[[Any], Any] | None,
        pre_destroy: Callable[[Any], Any] | None,
    ) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.methods = methods
        self.has_async = any(m.kind == ASYNC for m in methods.values())
        self.post_create = post_create
        self.pre_destroy = pre_destroy
        self.init_check = ArgChecker(cls, cls.__name__, drop_first=False)
        # What a stop call (asyncactors.stop(), __ray_terminate__) runs.
        self.stop = MethodSpec(self.name, "__ray_terminate__", _run_stop, SYNC, None, 0, None)
        # Set by ActorClass: the ActorHandle subclass with one attribute per method.
        self.handle_type: type[ActorHandle[Any]] = None  # type: ignore[assignment]


class Call(ObjectRef[Any]):
    """A call in flight: the ref its caller holds is the call itself."""

    # _attempts is set only on calls that are retried.
    __slots__ = ("_admit", "_args", "_attempts", "_core", "_kwargs", "_lane", "_pos", "_spec")

    _attempts: int

    def __init__(
        self, core: ActorCore, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self._loop = core.loop
        self._state = 0
        self._waiters = None
        self._log = None
        self._core = core
        self._spec = spec
        self._args = args
        self._kwargs = kwargs
        self._pos = _NEW
        self._admit: asyncio.Future[None] | None = None

    def _describe(self) -> str:
        return f"call {self._spec.name}() on {self._core.describe()}"

    def __repr__(self) -> str:
        return f"<ObjectRef {self._state_name()}: {self._describe()}>"

    def _unreachable(self) -> ActorDiedError:
        return _died(self._core, _UNREACHABLE)

    def _admitted(self) -> None:
        self._pos = _QUEUED
        admit = self._admit
        if admit is not None and not admit.done():
            admit.set_result(None)

    def cancel(self) -> bool:
        """Cancel the call; return ``False`` if it had already finished.

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
            loop.call_soon_threadsafe(self._cancel)
            return True
        return self._cancel()

    def _cancel(self) -> bool:
        if self._state:
            return False
        core = self._core
        pos = self._pos
        if pos in (_QUEUED, _OVERFLOW):
            assert core.mailbox is not None
            core.mailbox.remove(self)
        elif pos == _DEPS:
            if core.deps_waiting is not None:
                core.deps_waiting.discard(self)
        elif pos == _RUNNING and self._spec.kind == ASYNC and core.workers:
            for task, running in core.workers.items():
                if running is self:
                    task.cancel()
                    break
        self._set_exception(TaskCancelledError(f"{self._describe()} was cancelled"), log=False)
        return True


class _CappedCall(Call):
    """A call to an actor with ``max_pending_calls``: it gives its place back once resolved."""

    __slots__ = ("_count",)

    def __init__(
        self,
        core: ActorCore,
        spec: MethodSpec,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        count: _PendingCount,
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


class Admission(Protocol):
    """What ``ActorCore.call`` asks to make each call, when the actor has one.

    ``max_pending_calls`` counts calls through it; ``ActorSystem(metrics=True)``
    times them (``_statistics.TimedAdmission``). An actor with neither has none,
    and its calls pay nothing for either.
    """

    def admit(
        self, core: ActorCore, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Call: ...


class _PendingCount:
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
        self, core: ActorCore, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Call:
        """Take a place and return the new call.

        Raises:
            PendingCallsLimitExceeded: every place is taken.
        """
        self.take(core)
        return _CappedCall(core, spec, args, kwargs, self)

    def take(self, core: ActorCore) -> None:
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


_UNREACHABLE: Final = "is unreachable: its event loop is closed"

# Why an actor stops gracefully: its system shuts down, its supervisor stops it,
# its handles are gone, it called exit_actor(), or a stop call ran.
StopWhy = Literal["shutdown", "supervisor", "released", "exit", "stop", "terminate"]
StopVia = Literal["stop", "terminate"]

# What a stop call was sent by, as error messages name it.
_STOPPED_BY: Final[dict[str, str]] = {
    "stop": "asyncactors.stop()",
    "terminate": "__ray_terminate__()",
}

_STOP_REASONS: Final = {
    "shutdown": "was shut down with its actor system",
    "supervisor": "was stopped by its supervisor",
    "released": "stopped after all its handles were released",
    "exit": "exited via exit_actor()",
    **{why: f"was stopped by {via}" for why, via in _STOPPED_BY.items()},
}


class _StopCall(Call):
    """A stop call: queued like a call, its ref resolves once the actor is DEAD."""

    __slots__ = ("_via",)

    def __init__(self, core: ActorCore, via: StopVia) -> None:
        super().__init__(core, core.spec.stop, (core, via), {})
        self._via = via

    def _describe(self) -> str:
        return f"{_STOPPED_BY[self._via]} of {self._core.describe()}"

    def _set_result(self, value: Any) -> None:
        if self._state:
            return
        # The stop has run; its caller hears of it when the actor is DEAD.
        self._core.stopped().add_done_callback(self._stopped)

    def _stopped(self, _: asyncio.Future[None]) -> None:
        Call._set_result(self, None)


def _run_stop(instance: Any, core: ActorCore, via: StopVia) -> None:
    """The body of a stop call: refuse new calls, fail queued ones, stop when idle."""
    core._stop_after_running(via, f"was stopped by {_STOPPED_BY[via]} before running the call")


# Python's own messages ("'Call' object is not callable", "Object of type Call is
# not JSON serializable") name a ref's type: the public one, not the engine's.
for _cls in (Call, _CappedCall, _StopCall):
    _cls.__name__ = _cls.__qualname__ = "ObjectRef"


def _died(core: ActorCore, reason: str) -> ActorDiedError:
    return ActorDiedError(
        f"{core.describe()} {reason}",
        actor_id=core.actor_id,
        class_name=core.spec.name,
        name=core.name,
    )


class ActorConfig:
    """What every actor made from one ``ActorClass`` shares: its resolved options."""

    __slots__ = (
        "cap",
        "checkpoint_every",
        "detached",
        "groups",
        "mailbox_size",
        "max_concurrency",
        "max_restarts",
        "max_task_retries",
        "on_corrupt_checkpoint",
        "restart",
        "restart_on",
        "store",
        "supervisor",
    )

    def __init__(self, spec: ClassSpec, opts: Mapping[str, Any]) -> None:
        self.detached = opts["lifetime"] == "detached"
        self.cap: int = opts["max_pending_calls"]
        self.mailbox_size: int = opts["mailbox_size"]
        mc = opts["max_concurrency"]
        self.max_concurrency: int = mc if mc is not None else (1000 if spec.has_async else 1)
        self.groups: Mapping[str, int] | None = opts["concurrency_groups"]
        self.max_restarts: int = opts["max_restarts"]
        self.max_task_retries: int = opts["max_task_retries"]
        self.supervisor: Supervisor | None = opts["supervisor"]
        restart = opts["restart"]
        if restart is None:
            # OTP's default under an explicit supervisor; Ray's (restart on
            # crashes only) under the root.
            restart = "permanent" if self.supervisor is not None else "transient"
        self.restart: str = restart
        self.restart_on: tuple[type[BaseException], ...] = tuple(opts["restart_on"])
        self.store: Any = opts["checkpoint_store"]
        self.checkpoint_every: int = opts["checkpoint_every"] if self.store is not None else 0
        self.on_corrupt_checkpoint: str = opts["on_corrupt_checkpoint"]


class _Rare:
    """State few actors need, allocated on first use to keep idle actors small."""

    __slots__ = ("crash_times", "key", "rollbacks", "save_lock", "since_checkpoint")

    def __init__(self) -> None:
        self.crash_times: deque[float] = deque()
        self.save_lock: asyncio.Lock | None = None
        self.since_checkpoint = 0
        self.key: str | None = None
        self.rollbacks = 0


class ActorCore:
    """One actor's state, mailbox and scheduling. Lives on its system's loop."""

    __slots__ = (
        "__weakref__",
        "actor_id",
        "config",
        "ctx",
        "death",
        "deps_waiting",
        "failed",
        "finishing",
        "handles",
        "incarnation",
        "init_args",
        "init_kwargs",
        "instance",
        "loop",
        "mailbox",
        "name",
        "namespace",
        "pending",
        "processed",
        "rare",
        "ready_waiters",
        "reason",
        "refusing",
        "restarts",
        "scheduled",
        "spec",
        "state",
        "stop_waiters",
        "stopping",
        "supervisor",
        "system",
        "workers",
    )

    def __init__(
        self,
        system: ActorSystem,
        spec: ClassSpec,
        actor_id: int,
        config: ActorConfig,
        name: str | None,
        namespace: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.system = system
        self.loop: asyncio.AbstractEventLoop = system.loop
        self.ctx: contextvars.Context = system._ctx
        self.spec = spec
        self.config = config
        self.actor_id = actor_id
        self.name = name
        self.namespace = namespace
        self.supervisor: Supervisor = system._root
        self.init_args = args
        self.init_kwargs = kwargs
        self.state = _PENDING
        self.instance: Any = None
        self.mailbox: Mailbox | None = None
        self.workers: dict[asyncio.Task[Any], Call | None] | None = None
        self.deps_waiting: set[Call] | None = None
        self.ready_waiters: list[Any] | None = None
        self.stop_waiters: list[asyncio.Future[None]] | None = None
        self.scheduled = True  # the creation step is scheduled by the system
        self.refusing = False
        self.finishing = False
        self.stopping: StopWhy | None = None
        self.death: BaseException | None = None
        self.reason: str | None = None
        self.handles = 0
        self.processed = 0
        self.failed = 0
        self.restarts = 0
        self.incarnation = 0
        self.rare: _Rare | None = None
        # Only an actor with max_pending_calls (or metrics) admits its calls
        # through an Admission: the others pay nothing.
        self.pending: Admission | None = _PendingCount(config.cap) if config.cap > 0 else None

    @property
    def max_restarts(self) -> int:
        """The root supervisor's limit for this actor (Ray's ``max_restarts``)."""
        return self.config.max_restarts

    @property
    def restart(self) -> str:
        """``permanent``, ``transient`` or ``temporary``, as OTP means them."""
        return self.config.restart

    @property
    def crash_times(self) -> deque[float]:
        """When this actor crashed lately, for the root's backoff."""
        return self._rare().crash_times

    def _rare(self) -> _Rare:
        rare = self.rare
        if rare is None:
            rare = self.rare = _Rare()
        return rare

    def describe(self) -> str:
        """``Counter(id=3, name='c')``: how errors and logs name this actor."""
        named = f", name={self.name!r}" if self.name else ""
        return f"actor {self.spec.name}(id={self.actor_id}{named})"

    # -- submission ---------------------------------------------------------------

    def call(self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        """Submit a call from any thread; return its ref at once.

        Raises:
            PendingCallsLimitExceeded: ``max_pending_calls`` calls are already pending.
        """
        pending = self.pending
        if pending is None:
            call = Call(self, spec, args, kwargs)
        else:
            call = pending.admit(self, spec, args, kwargs)
        if _get_running_loop() is self.loop:
            self._submit(call)
            return call
        return self._submit_threadsafe(call)

    def _submit_threadsafe(self, call: Call) -> Call:
        """Hand ``call`` to the loop from another thread; fail it if the loop is closed."""
        try:
            self.loop.call_soon_threadsafe(self._submit, call, context=self.ctx)
        except RuntimeError:
            if not self.loop.is_closed():
                raise
            call._set_exception(_died(self, _UNREACHABLE))
        return call

    def call_nowait(self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        """Submit a call only if the mailbox has room now (loop thread only)."""
        mb = self.mailbox
        if mb is not None and (mb.depth >= mb.capacity or mb.overflow):
            raise MailboxFullError(
                f"the mailbox of {self.describe()} is full "
                f"({mb.depth}/{mb.capacity}); use 'await ...submit()' to wait for room"
            )
        return self.call(spec, args, kwargs)

    def _submit(self, call: Call) -> None:
        if self.refusing:
            call._set_exception(self._refusal())
            return
        for a in call._args:
            if isinstance(a, ObjectRef):
                self._wait_for_deps(call)
                return
        if call._kwargs:
            for a in call._kwargs.values():
                if isinstance(a, ObjectRef):
                    self._wait_for_deps(call)
                    return
        self._enqueue(call)

    def _enqueue(self, call: Call) -> None:
        mb = self.mailbox
        if mb is None:
            config = self.config
            mb = self.mailbox = Mailbox(config.mailbox_size, config.max_concurrency, config.groups)
        group = call._spec.group
        lane = mb.default if group is None else mb.lane(group)
        if mb.put(call, lane):
            call._pos = _QUEUED
            if not self.scheduled and not lane.idle and lane.running < lane.limit:
                self.scheduled = True
                self.loop.call_soon(self._drain, context=self.ctx)
        else:
            call._pos = _OVERFLOW

    def _refusal(self) -> ActorDiedError:
        if self.state is _DEAD:
            return self._dead_error()
        if self.stopping == "shutdown":
            return _died(self, "is not accepting calls: its actor system is being shut down")
        if self.stopping == "supervisor":
            return _died(self, "is not accepting calls: its supervisor is stopping it")
        if self.stopping in _STOPPED_BY:
            return _died(self, f"is stopping: {_STOPPED_BY[self.stopping]} was called")
        return _died(self, "is stopping: it called exit_actor()")

    def _dead_error(self) -> ActorDiedError:
        return self._error(self.reason or "is dead")

    def _error(self, reason: str) -> ActorDiedError:
        err = _died(self, reason)
        err.__cause__ = self.death
        return err

    async def submit(self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        """Submit, then wait until the call is in the mailbox (or finished)."""
        if _get_running_loop() is not self.loop:
            cf = asyncio.run_coroutine_threadsafe(self.submit(spec, args, kwargs), self.loop)
            return await asyncio.wrap_future(cf)
        call = self.call(spec, args, kwargs)
        if call._pos >= _QUEUED or call._state:
            return call
        admit = call._admit = self.loop.create_future()

        def finished(_: ObjectRef[Any]) -> None:
            if not admit.done():
                admit.set_result(None)

        call._add_callback(finished)
        try:
            await admit
        except _CancelledError:
            call._cancel()
            raise
        return call

    # -- dataflow -----------------------------------------------------------------

    def _wait_for_deps(self, call: Call) -> None:
        deps = [a for a in (*call._args, *call._kwargs.values()) if isinstance(a, ObjectRef)]
        waiting = [d for d in deps if not d.done()]
        if not waiting:
            self._deps_ready(call)
            return
        call._pos = _DEPS
        if self.deps_waiting is None:
            self.deps_waiting = set()
        self.deps_waiting.add(call)
        remaining = [len(waiting)]

        def on_dep(dep: ObjectRef[Any]) -> None:
            if call._state or call not in (self.deps_waiting or ()):
                return
            if dep._state == FAILED:
                self._deps_ready(call)
                return
            remaining[0] -= 1
            if remaining[0] == 0:
                self._deps_ready(call)

        for dep in waiting:
            if dep._loop is self.loop or dep._loop is None:
                dep._add_callback(on_dep)
            else:

                def relay(dep: ObjectRef[Any]) -> None:
                    self.loop.call_soon_threadsafe(on_dep, dep)

                dep._loop.call_soon_threadsafe(dep._add_callback, relay)

    def _deps_ready(self, call: Call) -> None:
        if self.deps_waiting is not None:
            self.deps_waiting.discard(call)
        for a in (*call._args, *call._kwargs.values()):
            if isinstance(a, ObjectRef) and a._state == FAILED:
                a._retrieved()
                assert a._exc is not None
                call._set_exception(a._exc)
                self._maybe_finish_stop()
                return

        def value(a: Any) -> Any:
            if isinstance(a, ObjectRef):
                a._retrieved()
                return a._value
            return a

        call._args = tuple(value(a) for a in call._args)
        if call._kwargs:
            call._kwargs = {k: value(v) for k, v in call._kwargs.items()}
        if self.refusing and self.stopping != "shutdown":
            call._set_exception(self._refusal())
            return
        self._enqueue(call)

    # -- running ------------------------------------------------------------------

    def _drain(self) -> None:
        self.scheduled = False
        state = self.state
        if state is not _ALIVE:
            if state is _PENDING and self.instance is None and not self._create():
                return
            if self.state is not _ALIVE:
                return
        mb = self.mailbox
        if mb is None:
            self._maybe_finish_stop()
            return
        # Sync methods run inline unless each result must wait for a checkpoint.
        inline = not self.config.checkpoint_every
        system = self.system
        previous, system._inline = system._inline, self
        try:
            budget = _BUDGET
            for lane in mb.lanes:
                while lane.running < lane.limit and (lane.head is not None or lane.retries):
                    call = mb.pop(lane)
                    if call._spec.kind == SYNC and inline:
                        self._run_inline(call)
                        if self.state is not _ALIVE:
                            return  # it crashed: the supervisor takes over
                        budget -= 1
                        if not budget:
                            self.scheduled = True
                            self.loop.call_soon(self._drain, context=self.ctx)
                            return
                    else:
                        self._spawn(lane, call)
        finally:
            system._inline = previous
            call = None  # see _run_inline
        if budget < _BUDGET and not self.scheduled and self.stopping is None:
            # Having run calls, come back once more in the next loop iteration,
            # as a worker lingers: a caller awaiting each call in turn submits
            # its next one meanwhile, and that call runs in the caller's
            # iteration instead of an iteration of its own. A pass that finds
            # nothing to run stops.
            self.scheduled = True
            self.loop.call_soon(self._drain, context=self.ctx)
        elif self.stopping is not None:
            self._maybe_finish_stop()

    def _run_inline(self, call: Call) -> None:
        call._pos = _RUNNING
        kwargs = call._kwargs
        try:
            if kwargs:
                value = call._spec.func(self.instance, *call._args, **kwargs)
            else:
                value = call._spec.func(self.instance, *call._args)
        except _ActorExit:
            self._exited(call)
            return
        except BaseException as exc:
            crashed = self._raised(call, exc)
            if not crashed:
                call._args = call._kwargs = None  # type: ignore[assignment]
            # exc's traceback keeps this frame (and _drain's) alive: holding the
            # call too, they would put it in a reference cycle, and it would
            # outlive its last reference, with the log of a failure nobody awaited.
            del call
            if crashed or isinstance(exc, Exception):
                return
            raise
        else:
            self.processed += 1
            call._set_result(value)
        call._args = call._kwargs = None  # type: ignore[assignment]

    def _raised(self, call: Call, exc: BaseException) -> bool:
        """Settle a call whose method raised; return whether that crashed the actor."""
        self.processed += 1
        self.failed += 1
        restart_on = self.config.restart_on
        if restart_on and isinstance(exc, restart_on):
            self._crash(exc, _crash_reason(call, exc), call)
            return True
        call._set_exception(exc)
        return False

    def _exited(self, call: Call) -> None:
        """The method called exit_actor(): its caller learns the actor is gone."""
        self.processed += 1
        call._set_exception(_died(self, "exited: the method called exit_actor()"))
        self._exit()

    def _spawn(self, lane: Lane, call: Call | None) -> None:
        lane.running += 1
        task = self.loop.create_task(self._work(lane, call))
        workers = self.workers
        if workers is None:
            workers = self.workers = {}
        workers[task] = call

    async def _work(self, lane: Lane, call: Call | None) -> None:
        task = _current_task()
        assert task is not None
        workers = self.workers
        assert workers is not None
        mb = self.mailbox
        assert mb is not None
        instance = self.instance
        incarnation = self.incarnation
        every = self.config.checkpoint_every
        current_actor.set(self)  # in this task's own context
        budget = _BUDGET
        lingered = False
        try:
            while True:
                if call is None:
                    if lingered:
                        return
                    # Linger one loop iteration: a caller awaiting each call in
                    # turn submits its next one meanwhile, and this task takes
                    # it without a new task or another drain.
                    lingered = True
                    workers[task] = None
                    lane.idle += 1
                    try:
                        await _YIELD
                    finally:
                        if self.incarnation == incarnation:
                            lane.idle -= 1
                    call = mb.pop(lane) if self.state is _ALIVE else None
                    continue
                lingered = False
                if call._state:
                    # Cancelled between leaving the mailbox and this task's start.
                    call = mb.pop(lane) if self.state is _ALIVE else None
                    continue
                workers[task] = call
                call._pos = _RUNNING
                spec = call._spec
                try:
                    if spec.kind == ASYNC:
                        kwargs = call._kwargs
                        if kwargs:
                            value = await spec.func(instance, *call._args, **kwargs)
                        else:
                            value = await spec.func(instance, *call._args)
                    elif spec.kind == SYNC:
                        value = spec.func(instance, *call._args, **call._kwargs)
                    else:
                        value = await self._in_thread(spec, call)
                except _CancelledError:
                    if self.incarnation != incarnation:
                        raise  # killed or restarted: the call was dealt with
                    if not call._state:
                        # Cancelled by someone other than ref.cancel().
                        self.failed += 1
                        call._set_exception(_died(self, "was cancelled while running the call"))
                        self._die("its task was cancelled from outside the actor system")
                        raise
                    task.uncancel()
                    self.processed += 1
                    self.failed += 1
                except _ActorExit:
                    self._exited(call)
                except BaseException as exc:
                    if self.incarnation != incarnation or self._raised(call, exc):
                        return
                    if not isinstance(exc, Exception):
                        raise
                else:
                    if self.incarnation != incarnation:
                        return  # restarted meanwhile; the call was requeued or failed
                    self.processed += 1
                    if every and not call._state:
                        await self._checkpoint_after(call, value)
                    else:
                        call._set_result(value)
                    if call._state == FAILED and task.cancelling():
                        # ref.cancel() hit a method that swallowed the cancellation.
                        task.uncancel()
                call._args = call._kwargs = None  # type: ignore[assignment]
                if self.incarnation != incarnation:
                    return
                if (lane.head is not None or lane.retries) and self.state is _ALIVE:
                    call = mb.pop(lane)
                else:
                    call = None
                if call is not None:
                    if lane.head is not None and lane.running < lane.limit and not self.scheduled:
                        self.scheduled = True
                        self.loop.call_soon(self._drain, context=self.ctx)
                    budget -= 1
                    if not budget:
                        budget = _BUDGET
                        workers[task] = None
                        await _YIELD
        finally:
            # See _run_inline. After a restart or death ``workers`` is a dict the
            # core dropped, still naming the call this task ran.
            call = None
            workers.pop(task, None)
            if self.incarnation == incarnation:
                lane.running -= 1
                if self.stopping is not None:
                    self._maybe_finish_stop()

    async def _in_thread(self, spec: MethodSpec, call: Call) -> Any:
        import anyio.to_thread

        func = functools.partial(spec.func, self.instance, *call._args, **call._kwargs)
        # The thread runs in a copy of this context: this is how it finds its
        # call (get_runtime_context().is_canceled()) without an event loop.
        token = current_call.set(weakref.ref(call))
        del call  # see _run_inline
        try:
            return await anyio.to_thread.run_sync(func, abandon_on_cancel=True)
        finally:
            current_call.reset(token)

    # -- checkpoints --------------------------------------------------------------

    @property
    def checkpoint_key(self) -> str:
        """Where this actor's state lives in its store (see ``_stores.checkpoint_key``)."""
        rare = self._rare()
        key = rare.key
        if key is None:
            from ._stores import checkpoint_key

            key = rare.key = checkpoint_key(self.namespace, self.name, self.actor_id)
        return key

    async def _checkpoint_after(self, call: Call, value: Any) -> None:
        """Count a successful call; every N-th, save before the caller sees its result.

        A failed save fails the call and rolls the actor back to its last
        checkpoint: what the caller was told never differs from what is durable.
        """
        rare = self._rare()
        rare.since_checkpoint += 1
        if rare.since_checkpoint < self.config.checkpoint_every:
            call._set_result(value)
            return
        rare.since_checkpoint = 0
        incarnation = self.incarnation
        try:
            await self._save_state("ran the call but could not save its state")
        except CheckpointError as exc:
            self.failed += 1
            err = CheckpointError(f"{exc}; the actor is rolled back to its last checkpoint")
            err.__cause__ = exc.__cause__
            call._set_exception(err)
            del call  # see _run_inline
            if self.incarnation == incarnation:
                self._roll_back(err)
        else:
            call._set_result(value)

    def _roll_back(self, exc: CheckpointError) -> None:
        """Rebuild the actor from its last good checkpoint, undoing what was not saved.

        Not a crash: the supervisor is not asked and no restart is counted, so it
        happens even with ``max_restarts=0``. Queued calls run on the rebuilt actor.
        """
        self._take_down("was rolled back to its last checkpoint", exc=exc)
        if self.state is _RESTARTING:
            self._rare().rollbacks += 1
            self._start_again()

    def _capture(self) -> bytes:
        from ._state import checkpoint_bytes

        return checkpoint_bytes(self.instance)

    async def _save_state(self, failure: str) -> None:
        """Capture the state now and save it.

        Raises:
            CheckpointError: ``<actor> <failure>: <why>``, caused by what the
                encoder (``TypeError`` naming the attribute) or the store raised.
        """
        try:
            await self._save(self._capture())
        except Exception as exc:
            raise CheckpointError(f"{self.describe()} {failure}: {exc}") from exc

    async def _save(self, data: bytes) -> None:
        store = self.config.store
        assert store is not None
        rare = self._rare()
        if rare.save_lock is None:
            rare.save_lock = asyncio.Lock()
        # Saves go out in capture order, so an older state never lands last.
        async with rare.save_lock:
            await store.save(self.checkpoint_key, data)

    async def checkpoint(self) -> None:
        """Save the actor's state now.

        Raises:
            RuntimeError: the actor has no ``checkpoint_store``.
            ActorDiedError: the actor is dead.
            CheckpointError: the state cannot be encoded (naming the attribute;
                the cause is a ``TypeError``) or the store could not save it.
        """
        if self.config.store is None:
            raise RuntimeError(f"{self.describe()} has no checkpoint_store option")
        if _get_running_loop() is not self.loop:
            cf = asyncio.run_coroutine_threadsafe(self.checkpoint(), self.loop)
            await asyncio.wrap_future(cf)
            return
        while self.state is not _ALIVE:
            await self.wait_ready()  # raises ActorDiedError once it is DEAD
        await self._save_state("could not save its state")

    async def _restore(self) -> None:
        from ._state import decode_state, restore_state
        from ._stores import checkpoint_source

        store = self.config.store
        assert store is not None
        key = self.checkpoint_key
        try:
            data = await store.load(key)
            if data is not None:
                source = checkpoint_source(store, key)
                restore_state(self.instance, decode_state(data, source=source), source=source)
        except CheckpointCorruptError:
            if self.config.on_corrupt_checkpoint != "start_fresh":
                raise
            logger.warning(
                "%s: corrupt checkpoint ignored (on_corrupt_checkpoint='start_fresh')",
                self.describe(),
                exc_info=True,
            )
        # The instance now holds the last checkpoint: no call since it is unsaved.
        self._rare().since_checkpoint = 0

    # -- creation -----------------------------------------------------------------

    def _create(self) -> bool:
        """Run ``__init__`` (inline); return whether the actor is ALIVE now."""
        system = self.system
        previous, system._inline = system._inline, self
        try:
            self.instance = self.spec.cls(*self.init_args, **self.init_kwargs)
        except BaseException as exc:
            self._creation_failed(exc, "__init__")
            if not isinstance(exc, Exception | _ActorExit):
                raise
            return False
        finally:
            system._inline = previous
        if self.spec.post_create is not None or self.config.store is not None:
            self._spawn_hook(self._finish_creation())
            return False
        self._became_alive()
        return True

    def _spawn_hook(self, coro: Any) -> None:
        """Run a lifecycle hook in a task counted among the workers while it runs."""
        task = self.loop.create_task(self._run_hook(coro), context=self._hook_context())
        if self.workers is None:
            self.workers = {}
        self.workers[task] = None

    async def _run_hook(self, coro: Any) -> None:
        try:
            await coro
        finally:
            # After a restart or death this is another dict, or None: no-op.
            if self.workers is not None:
                self.workers.pop(_current_task(), None)  # type: ignore[arg-type]

    def _hook_context(self) -> contextvars.Context:
        ctx = self.ctx.copy()
        ctx.run(current_actor.set, self)
        return ctx

    async def _finish_creation(self) -> None:
        """Restore the checkpoint and run ``__post_create__``, off the drain."""
        incarnation = self.incarnation
        hook = _RESTORING
        try:
            if self.config.store is not None:
                await self._restore()
            hook = "__post_create__"
            if self.spec.post_create is not None:
                await self.spec.post_create(self.instance)
        except _CancelledError:
            if self.incarnation == incarnation:
                self._creation_failed(_died(self, f"was cancelled in {hook}"), hook)
            raise
        except BaseException as exc:
            if self.incarnation == incarnation:
                self._creation_failed(exc, hook)
            if not isinstance(exc, Exception | _ActorExit):
                raise
        else:
            if self.incarnation == incarnation and self.state is _PENDING:
                self._became_alive()
                if not self.scheduled:
                    self.scheduled = True
                    self.loop.call_soon(self._drain, context=self.ctx)

    def _became_alive(self) -> None:
        self.state = _ALIVE
        self.death = None
        rebuilt = self.restarts or (self.rare is not None and self.rare.rollbacks)
        self.system._emit("restarted" if rebuilt else "started", self)
        waiters = self.ready_waiters
        if waiters is not None:
            self.ready_waiters = None
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    def _creation_failed(self, exc: BaseException, hook: str) -> None:
        if self.state is _DEAD:
            return
        if isinstance(exc, _ActorExit):
            self.death = None
            self._die(f"exited in {hook} via exit_actor()")
            return
        if hook == _RESTORING and isinstance(exc, CheckpointCorruptError):
            # No restart can mend the bytes: fail now, and every waiting caller with it.
            self.death = exc
            self._die(
                f"failed to start: its checkpoint is corrupt: {exc} "
                "(on_corrupt_checkpoint='start_fresh' starts from __init__ instead)"
            )
            return
        self._crash(exc, f"failed to start: {hook} raised {type(exc).__name__}: {exc}")

    async def wait_ready(self) -> None:
        """Wait until ``__init__`` and ``__post_create__`` have run.

        Raises:
            ActorDiedError: the actor failed to start (for good) or is dead.
        """
        if self.state is _PENDING or self.state is _RESTARTING:
            if _get_running_loop() is not self.loop:
                cf = asyncio.run_coroutine_threadsafe(self.wait_ready(), self.loop)
                await asyncio.wrap_future(cf)
                return
            fut = self.loop.create_future()
            if self.ready_waiters is None:
                self.ready_waiters = []
            self.ready_waiters.append(fut)
            await fut
        elif self.state is _DEAD:
            raise self._dead_error()

    # -- crashes and restarts -----------------------------------------------------

    def kill(self, *, no_restart: bool = True) -> None:
        """Stop now: running, queued and later calls fail with ``ActorDiedError``.

        With ``no_restart=False`` this is a crash instead, and the supervisor
        may restart the actor; queued calls then survive.
        """
        if _get_running_loop() is not self.loop:
            self.loop.call_soon_threadsafe(
                functools.partial(self.kill, no_restart=no_restart), context=self.ctx
            )
            return
        if no_restart:
            self._die("was killed by asyncactors.kill()")
        elif self.state is not _DEAD:
            self.death = None
            self._crash(None, "was killed by asyncactors.kill(no_restart=False)")

    def _crash(self, exc: BaseException | None, reason: str, crashed: Call | None = None) -> None:
        """The actor failed: take it down, then let its supervisor decide."""
        if self.state is _DEAD or self.state is _RESTARTING:
            return
        if exc is not None:
            self.death = exc
        self.system._emit("crashed", self, exc)
        self._take_down(reason, crashed, exc)
        self._ask_supervisor(reason)

    def _ask_supervisor(self, reason: str) -> None:
        try:
            self.supervisor._child_failed(self, reason)
        except Exception:
            # A supervisor that cannot decide must not leave callers waiting
            # on an actor that will never come back.
            logger.exception("the supervisor of %s failed; the actor dies", self.describe())
            self._die(f"{reason}; its supervisor failed to handle the crash")

    def _retry(self, call: Call, exc: BaseException | None) -> bool:
        """Whether ``call`` may run again (Ray's rules); counts the attempt if so."""
        spec = call._spec
        limit = spec.max_task_retries
        if limit is None:
            limit = self.config.max_task_retries
        attempts: int = getattr(call, "_attempts", 0)
        if limit != -1 and attempts >= limit:
            return False
        if exc is not None:
            allowed = spec.retry_exceptions
            if not allowed:
                return False
            if isinstance(allowed, tuple) and not isinstance(exc, allowed):
                return False
        call._attempts = attempts + 1
        return True

    def _take_down(
        self, reason: str, crashed: Call | None = None, exc: BaseException | None = None
    ) -> None:
        """Stop this incarnation; keep the mailbox for the next one."""
        if self.state is _DEAD or self.state is _RESTARTING:
            return
        self.state = _RESTARTING
        self.incarnation += 1
        again: list[Call] = []
        if crashed is not None and not crashed._state:
            if self._retry(crashed, exc):
                again.append(crashed)
            else:
                assert exc is not None or reason
                crashed._set_exception(exc if exc is not None else self._error(reason))
        workers = self.workers
        self.workers = None
        current = _current_task()
        if workers:
            for task, call in workers.items():
                if call is not None and call is not crashed and not call._state:
                    if self._retry(call, None):
                        again.append(call)
                    else:
                        self.failed += 1
                        call._set_exception(self._error(f"restarted during the call: it {reason}"))
                if task is not current:
                    task.cancel()
                    self.system._adopt(task)
        mb = self.mailbox
        if mb is not None:
            for lane in mb.lanes:
                lane.running = lane.idle = 0
            for call in reversed(again):
                call._args = call._args  # still held: a retried call keeps its arguments
                mb.retry(call, mb.lane(call._spec.group))
                call._pos = _QUEUED
        self.instance = None
        self.system._emit("restarting", self, exc)

    def _bring_up(self) -> None:
        """Start the next incarnation: ``__init__`` again, then the kept mailbox."""
        if self.state is not _RESTARTING:
            return
        if self.incarnation:
            self.restarts += 1
        # else it was held, never started: this is its first start.
        self._start_again()

    def _start_again(self) -> None:
        self.state = _PENDING
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._drain, context=self.ctx)

    def _hold(self) -> None:
        """Wait, never started, for a supervisor that is down; ``_bring_up`` starts it.

        It is RESTARTING meanwhile, like its siblings: calls queue, nothing runs.
        """
        self.state = _RESTARTING
        self.scheduled = False

    # -- stopping -----------------------------------------------------------------

    def _die(self, reason: str, *, pre_destroy: bool = False) -> None:
        if self.state is _DEAD:
            return
        if pre_destroy and self.instance is not None and self.spec.pre_destroy is not None:
            self._pre_destroy_detached()
        self.state = _DEAD
        self.incarnation += 1
        self.refusing = True
        self.reason = reason
        self._fail_waiting(reason)
        workers = self.workers
        if workers:
            self.workers = {}
            current = _current_task()
            for task, call in workers.items():
                if call is not None and not call._state:
                    self.failed += 1
                    call._set_exception(self._error(reason))
                if task is not current:
                    task.cancel()
                    self.system._adopt(task)
        waiters = self.ready_waiters
        if waiters is not None:
            self.ready_waiters = None
            for w in waiters:
                if not w.done():
                    w.set_exception(self._dead_error())
        self.instance = None
        self._stopped_for_good("dead")

    def _fail_waiting(self, reason: str) -> None:
        mb = self.mailbox
        if mb is not None:
            for call in mb.take_all():
                call._set_exception(self._error(reason))
        deps = self.deps_waiting
        if deps:
            self.deps_waiting = None
            for call in deps:
                call._set_exception(self._error(reason))

    def _exit(self) -> None:
        """``exit_actor()`` was called: a normal stop, or a restart for a permanent child."""
        if self.supervisor._restarts_after_exit(self):
            self._take_down("exited via exit_actor()")
            self._ask_supervisor("exited via exit_actor()")
            return
        self._stop_after_running("exit", "exited via exit_actor() before running the call")

    def _stop_after_running(self, why: StopWhy, reason: str) -> None:
        """Refuse new calls, fail the waiting ones with ``reason``, and stop once
        the running ones finish."""
        self.refusing = True
        self.stopping = why
        self._fail_waiting(reason)

    def submit_stop(self, via: StopVia) -> Call:
        """Queue a graceful stop behind the calls already submitted (any thread).

        When it runs, the actor refuses new calls, fails the calls still waiting
        (in the mailbox, or for ref arguments) with ``ActorDiedError``, lets the
        running ones finish, runs ``__pre_destroy__`` and is DEAD for good: no
        supervisor restarts it. The returned ref resolves to ``None`` then; it
        fails with ``ActorDiedError`` if the actor died before the stop ran.
        """
        call = _StopCall(self, via)
        if _get_running_loop() is self.loop:
            self._submit(call)
            return call
        return self._submit_threadsafe(call)

    def request_stop(self, why: StopWhy) -> None:
        """Stop gracefully once every accepted call has finished.

        ``why`` is ``"shutdown"`` or ``"supervisor"`` (refuse new calls), or
        ``"released"`` (all handles are gone).
        """
        if self.state is _DEAD or self.stopping is not None:
            return
        self.stopping = why
        if why != "released":
            self.refusing = True
        self._maybe_finish_stop()

    def _busy(self) -> bool:
        if self.scheduled or self.workers or self.deps_waiting:
            return True
        mb = self.mailbox
        if mb is None:
            return False
        if mb.depth or mb.overflow:
            return True
        return any(lane.running or lane.retries for lane in mb.lanes)

    def _maybe_finish_stop(self) -> None:
        if self.stopping is None or self.finishing or self.state is not _ALIVE or self._busy():
            return  # still working, or creation/restart is under way and comes back here
        self.finishing = True
        if self.config.store is not None and self.name is not None:
            self._spawn_hook(self._final_checkpoint())
            return
        self._run_pre_destroy()

    async def _final_checkpoint(self) -> None:
        try:
            await self._save(self._capture())
        except Exception:
            logger.exception("%s: the checkpoint at stop failed", self.describe())
        self._run_pre_destroy()

    def _call_pre_destroy(self) -> Any:
        """Call ``__pre_destroy__``; return its coroutine if it is async, else ``None``.

        What it raises is logged: nobody awaits a stopping actor's hook.
        """
        assert self.spec.pre_destroy is not None
        system = self.system
        previous, system._inline = system._inline, self
        try:
            result = self.spec.pre_destroy(self.instance)
        except Exception:
            logger.exception("__pre_destroy__ of %s raised", self.describe())
            return None
        finally:
            system._inline = previous
        return result if asyncio.iscoroutine(result) else None

    def _run_pre_destroy(self) -> None:
        coro = self._call_pre_destroy() if self.spec.pre_destroy is not None else None
        if coro is None:
            self._finish()
        else:
            self._spawn_hook(self._await_pre_destroy(coro))

    def _pre_destroy_detached(self) -> None:
        """Run ``__pre_destroy__`` of an actor being forced down; the system awaits it."""
        coro = self._call_pre_destroy()
        if coro is not None:
            self.system._adopt(
                self.loop.create_task(self._logged(coro), context=self._hook_context())
            )

    async def _logged(self, coro: Any) -> None:
        try:
            await coro
        except Exception:
            logger.exception("__pre_destroy__ of %s raised", self.describe())

    async def _await_pre_destroy(self, coro: Any) -> None:
        try:
            await self._logged(coro)
        finally:
            self._finish()

    def _finish(self) -> None:
        if self.state is _DEAD:
            return
        self.state = _DEAD
        self.incarnation += 1
        self.refusing = True
        self.reason = _STOP_REASONS.get(self.stopping or "", "stopped")
        self.instance = None
        self._stopped_for_good("stopped")

    def _stopped_for_good(self, kind: str) -> None:
        self.supervisor._forget(self)
        self.system._unregister(self)
        store = self.config.store
        if store is not None and self.name is None and self.rare is not None and self.rare.key:
            # An unnamed actor's key is never used again.
            self.system._adopt(self.loop.create_task(_delete_quietly(store, self.rare.key)))
        self.system._emit(kind, self, self.death)
        waiters = self.stop_waiters
        if waiters is not None:
            self.stop_waiters = None
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    def stopped(self) -> asyncio.Future[None]:
        """A future of the loop that completes when the actor is DEAD."""
        fut: asyncio.Future[None] = self.loop.create_future()
        if self.state is _DEAD:
            fut.set_result(None)
        else:
            if self.stop_waiters is None:
                self.stop_waiters = []
            self.stop_waiters.append(fut)
        return fut

    def handle_added(self) -> None:
        """A new ``ActorHandle`` refers to this actor (any thread)."""
        with self.system._lock:
            self.handles += 1

    def handle_released(self) -> None:
        """An ``ActorHandle`` was garbage-collected (any thread)."""
        with self.system._lock:
            self.handles -= 1
            last = self.handles == 0
        if last and self.name is None and not self.config.detached and self.state is not _DEAD:
            try:
                if threading.get_ident() == self.system._thread_id:
                    self.loop.call_soon(self._released, context=self.ctx)
                else:
                    self.loop.call_soon_threadsafe(self._released, context=self.ctx)
            except RuntimeError:  # the loop is closed: nothing left to stop
                pass

    def _released(self) -> None:
        if self.handles == 0:
            self.request_stop("released")

    def info(self) -> tuple[Any, ...]:
        """The raw fields of ``ActorInfo``."""
        mb = self.mailbox
        return (
            self.actor_id,
            self.spec.name,
            self.name,
            self.namespace,
            self.state,
            mb.depth if mb else 0,
            self.config.mailbox_size,
            mb.peak if mb else 0,
            self.processed,
            self.failed,
            sum(lane.running - lane.idle for lane in mb.lanes) if mb else 0,
        )


async def _delete_quietly(store: Any, key: str) -> None:
    try:
        await store.delete(key)
    except Exception:
        logger.exception("deleting checkpoint %r from %r failed", key, store)


def _crash_reason(call: Call, exc: BaseException) -> str:
    return (
        f"crashed: {call._spec.name}() raised {type(exc).__name__}: {exc} (a restart_on exception)"
    )
