"""The caller's side of the Ray engine: ``RayCore`` (an actor this process owns)
and ``RemoteCore`` (a handle to one it does not).

Each actor is a Ray actor built from one generic host class (see ``_host``),
which runs the actor with the local engine on its own event loop. This side
sends calls and follows the host's lifecycle events:

* Calls: ``host.call(token, seq, method, options, args, kwargs)``. At most
  ``mailbox_size`` calls per handle are in flight (the window); later ones
  wait here, in order, and ``submit()`` waits for room. The host runs calls in
  ``seq`` order per caller ``token``: Ray runs an async actor's calls as they
  arrive, not in order.
* Lifecycle: a long-polled ``host.watch(seq)`` brings the host's events
  (started, crashed, failed, stopped, ...). A crash inside the host is
  decided by this process's supervisor, which restarts the actor in place
  (``_bring_up``), restarts its siblings, or lets it die. When the host's
  process dies, the watch fails: the supervisor decides the same way, and a
  restart starts a new Ray actor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import itertools
import random
import weakref
from collections import deque
from collections.abc import Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import ray
from ray.exceptions import ActorUnavailableError, RayActorError, RayError

from ..._exceptions import (
    ActorAlreadyExistsError,
    ActorDiedError,
    MailboxFullError,
    PendingCallsLimitExceeded,
    TaskCancelledError,
)
from ..._metrics import ActorStatistics, RunningCall, actor_statistics
from ..._options import ACTOR_DEFAULTS
from ..._ref import ObjectRef, logger
from ..._specs import ActorConfig, ClassSpec, MethodSpec
from ..._stores import MemoryStore, checkpoint_key
from ..._types import STREAMS, ActorInfo, ActorState, EventKind, StopReason
from .._local import LocalBackend
from .._local.call import stop_spec
from .._local.common import STOPPED_BY as _STOPPED_BY
from .._local.common import died_error as _died
from .._local.restart import retry_allowed
from . import _session
from ._refs import (
    Raised,
    RayObjectRef,
    death_reason,
    first_line,
    from_ray,
    killed_by_ray,
    on_ray_result,
)

if TYPE_CHECKING:
    from ..._protocols import Host, Parent

__all__ = ["RayBackend", "RayCall", "RayCore", "RemoteCore", "backend", "rebuild_handle"]

_get_running_loop = asyncio._get_running_loop
_CancelledError = asyncio.CancelledError

_PENDING: Final = ActorState.PENDING_CREATION
_ALIVE: Final = ActorState.ALIVE
_RESTARTING: Final = ActorState.RESTARTING
_DEAD: Final = ActorState.DEAD

# Where a call is.
_NEW: Final = 0
_DEPS: Final = 1  # waiting here for refs among its arguments
_BACKLOG: Final = 2  # waiting for room in the window
_SENT: Final = 3

# Ray's limit on a host's concurrent calls; the host's own lanes enforce the
# actor's max_concurrency and concurrency groups on its one event loop.
_RAY_MAX_CONCURRENCY: Final = 100_000

# What the host is told to do, in order with the calls (see _host.ActorHost.call).
TAKE_DOWN: Final = "_take_down"
BRING_UP: Final = "_bring_up"
DIE: Final = "_die"
CRASH: Final = "_crash"
REQUEST_STOP: Final = "_request_stop"
STOP: Final = "_stop"
CANCEL: Final = "_cancel"

# How long a dying actor's host may run __pre_destroy__ before it is killed.
_PRE_DESTROY_GRACE_S: Final = 5.0
# How long a restart waits for Ray to free the name of the dead process.
_NAME_WAIT_S: Final = 0.1
_NAME_WAIT_TRIES: Final = 50
# How soon to ask again about an actor Ray has lost touch with.
_REWATCH_S: Final = 0.2
# How long a host that stopped may take to send its last replies before it is killed.
_RETIRE_GRACE_S: Final = 1.0

# What Ray's scheduler calls the resources of ActorConfig.resources.
_RAY_RESOURCE_OPTIONS: Final = {"CPU": "num_cpus", "GPU": "num_gpus", "memory": "memory"}

# The RayCore of each Ray actor this process owns, by Ray actor id: a handle
# that comes back from another actor is a handle to the same core.
_owners: weakref.WeakValueDictionary[str, RayCore] = weakref.WeakValueDictionary()
# The actor hosted in this process, if it is an actor's process: a handle to
# itself that comes back is a local handle.
hosted: dict[str, Any] = {}
# Handles to Ray actors this process does not own, one core per actor.
_remotes: weakref.WeakValueDictionary[str, RemoteCore] = weakref.WeakValueDictionary()
# Ray actors this process created and has not killed, by key (for tests' cleanup).
_alive: dict[str, Any] = {}
# The specs of classes seen here, so that every handle of a class shares one.
_specs: weakref.WeakKeyDictionary[type, ClassSpec] = weakref.WeakKeyDictionary()
_ray_classes: weakref.WeakKeyDictionary[type, Any] = weakref.WeakKeyDictionary()
_tokens = itertools.count(random.getrandbits(48) << 14)


# The Ray actor class every actor's host derives from (_host.ActorHost), which
# registers itself here: _host imports this module, not the other way round.
_host_class: list[type] = []


def register_host_class(cls: type) -> None:
    """Make ``cls`` the base of the Ray actor classes that host actors."""
    _host_class[:] = [cls]


def spec_for(cls: type) -> ClassSpec:
    """The ``ClassSpec`` of an actor class, built once per process."""
    spec = _specs.get(cls)
    if spec is None:
        from ..._actor_class import _build_spec

        spec = _specs[cls] = _build_spec(cls)
    return spec


def _ray_class(spec: ClassSpec) -> Any:
    """The Ray actor class hosting ``spec.cls``, named after it (``ray::Counter``)."""
    cls = spec.cls
    ray_cls = _ray_classes.get(cls)
    if ray_cls is None:
        base = _host_class[0]
        host = type(
            spec.name,
            (base,),
            {"__module__": base.__module__, "__qualname__": spec.name, "user_class": cls},
        )
        make: Any = ray.remote(max_concurrency=_RAY_MAX_CONCURRENCY)  # type: ignore[call-overload]
        ray_cls = _ray_classes[cls] = make(host)
    return ray_cls


def _actor_key(ray_handle: Any) -> str:
    return str(ray_handle._actor_id.hex())


def host_options(config: ActorConfig) -> dict[str, Any]:
    """The options the host builds its ``ActorConfig`` from: the engine's, in the
    actor's process (scheduling, supervision and the handle's limits stay here)."""
    return {
        "max_concurrency": config.max_concurrency,
        "concurrency_groups": dict(config.groups) if config.groups else None,
        "mailbox_size": config.mailbox_size,
        "max_task_retries": config.max_task_retries,
        "restart_on": config.restart_on,
        "checkpoint_store": config.store,
        "checkpoint_every": config.checkpoint_every,
        "on_corrupt_checkpoint": config.on_corrupt_checkpoint,
    }


def ray_scheduling(config: ActorConfig) -> dict[str, Any]:
    """``num_cpus``, ``num_gpus``, ``memory`` and ``resources`` for Ray's scheduler."""
    options: dict[str, Any] = {}
    custom: dict[str, float] = {}
    for key, amount in (config.resources or {}).items():
        option = _RAY_RESOURCE_OPTIONS.get(key)
        if option is None:
            custom[key] = amount
        else:
            options[option] = amount
    if custom:
        options["resources"] = custom
    return options


def check_options(spec: ClassSpec, config: ActorConfig) -> None:
    """Refuse what cannot work on Ray, naming it and the backend.

    Raises:
        ValueError: generator or batched methods (not on Ray yet), a ``MemoryStore``,
            or a checkpoint store that cannot be pickled.
    """
    streams = sorted(m.name for m in spec.methods.values() if m.kind in STREAMS)
    if streams:
        raise ValueError(
            f"{spec.name} has generator methods ({', '.join(streams)}): backend='ray' "
            "has no streaming methods yet; return lists, or use backend='local'"
        )
    batched = sorted(m.name for m in spec.methods.values() if m.batch is not None)
    if batched:
        raise ValueError(
            f"{spec.name} has batched methods ({', '.join(batched)}): backend='ray' has "
            "no @asyncactors.batch yet; batch in the caller, or use backend='local'"
        )
    store = config.store
    if store is None:
        return
    if isinstance(store, MemoryStore):
        raise ValueError(
            f"option 'checkpoint_store' of {spec.name}: a MemoryStore cannot work on "
            "backend='ray', where each actor runs in its own process; use "
            "asyncactors.FileStore(path) on a path every node can reach"
        )
    dumps: Any = ray.cloudpickle.dumps
    try:
        dumps(store)
    except Exception as exc:
        raise ValueError(
            f"option 'checkpoint_store' of {spec.name}: backend='ray' sends the store to the "
            f"actor's process, and {type(store).__name__} cannot be pickled: {exc}"
        ) from exc


class RayCall(RayObjectRef[Any]):
    """A call in flight: the ref its caller holds is the call itself."""

    # _attempts is set only on calls that are retried.
    __slots__ = (
        "_admit",
        "_args",
        "_attempts",
        "_core",
        "_gen",
        "_kwargs",
        "_pos",
        "_seq",
        "_spec",
    )

    _attempts: int

    def __init__(
        self, core: _Caller, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self._loop = core.loop
        self._state = 0
        self._waiters = None
        self._log = None
        self._ray = None
        self._core = core
        self._spec = spec
        self._args = args
        self._kwargs = kwargs
        self._pos = _NEW
        self._gen = -1
        self._seq = -1
        self._admit: asyncio.Future[None] | None = None

    def _describe(self) -> str:
        return f"call {self._spec.name}() on {self._core.describe()}"

    def _completed(self, result: Any) -> None:  # on one of Ray's threads
        # Per call: a try costs less than contextlib.suppress.
        try:  # noqa: SIM105
            self._core.loop.call_soon_threadsafe(self._core._settled, self, result)
        except RuntimeError:
            pass  # the loop has closed: nobody can await the call any more

    def _admitted(self) -> None:
        admit = self._admit
        if admit is not None and not admit.done():
            admit.set_result(None)

    def cancel(self) -> bool:
        """Cancel the call; return ``False`` if it had already finished.

        A call not yet sent never runs; a sent one is cancelled in the actor as
        locally (a queued call never runs, a running async one is cancelled).
        Awaiting a cancelled ref raises ``TaskCancelledError`` at once.
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
        self._core._withdraw(self)
        self._set_exception(TaskCancelledError(f"{self._describe()} was cancelled"), log=False)
        return True

    def __reduce__(self) -> Any:
        if self._ray is None:
            raise TypeError(
                f"{self._describe()} has not been sent yet (its actor's window of "
                "mailbox_size calls is full), so it cannot be passed inside a value; "
                "pass it as a top-level argument, or await it first"
            )
        return super().__reduce__()


class _StopCall(RayCall):
    """A stop call: its ref resolves to ``None`` once the actor has stopped."""

    __slots__ = ("_via",)

    def __init__(self, core: _Caller, spec: MethodSpec, via: StopReason) -> None:
        super().__init__(core, spec, (via,), {})
        self._via = via

    def _describe(self) -> str:
        return f"{_STOPPED_BY[self._via]} of {self._core.describe()}"

    def _set_result(self, value: Any) -> None:
        if self._state:
            return
        # The host queued the stop; its caller hears of it when the actor is DEAD.
        self._core.stopped().add_done_callback(self._stopped)

    def _stopped(self, _: asyncio.Future[None]) -> None:
        core = self._core
        if core._final_kind == "stopped":
            RayCall._set_result(self, None)
        else:
            self._set_exception(core._dead_error())


class _Caller:
    """Sending calls to one Ray actor: the window, the order, the outcomes."""

    # Not an ActorCore: the test suite's leak check looks for worker tasks.
    workers: Final = None

    def __init__(
        self,
        spec: ClassSpec,
        config: ActorConfig,
        host_opts: dict[str, Any],
        actor_id: int,
        name: str | None,
        namespace: str,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self.spec = spec
        self._host_opts = host_opts
        self.config = config
        self.actor_id = actor_id
        self.name = name
        self.namespace = namespace
        self._loop = loop
        self.state = _PENDING
        self.restarts = 0
        self.death: BaseException | None = None
        self.reason: str | None = None
        self.refusing = False
        self.stopping: StopReason | None = None
        self.processed = 0
        self.failed = 0
        self._peak = 0
        self._final_kind: str | None = None
        self._ray_handle: Any = None
        self._remote: Any = None
        self._gen = 0
        self._token = 0
        self._seq = 0
        self._inflight = 0
        self._window = config.mailbox_size
        self._refill = config.mailbox_size * 3 // 4
        self._backlog: deque[RayCall] = deque()
        self._resend: list[RayCall] = []
        self._deps: set[RayCall] = set()
        self._methods = spec.methods

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop this core's calls resolve on."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def describe(self) -> str:
        """``actor Counter(id=3, name='c')``: how errors and logs name this actor."""
        named = f", name={self.name!r}" if self.name else ""
        return f"actor {self.spec.name}(id={self.actor_id}{named})"

    @property
    def class_name(self) -> str:
        """The actor class's name."""
        return self.spec.name

    # -- RunningActor: no actor code runs in this process --------------------------

    def request_exit(self) -> None:
        """``exit_actor()`` runs in the actor's own process, never here."""
        raise RuntimeError(f"{self.describe()} runs in a Ray actor process, not here")

    def running_call(self) -> ObjectRef[Any] | None:
        return None

    def blocking_wait(
        self, ref: ObjectRef[Any], fut: asyncio.Future[Any]
    ) -> Generator[Any, None, Any]:
        return fut.__await__()

    def check_wait(
        self, refs: Sequence[ObjectRef[Any]], needed: int, fut: asyncio.Future[Any] | None
    ) -> None:
        pass

    def done_waiting(self) -> None:
        pass

    def park(self) -> None:
        """Stay PENDING_CREATION until ``start()``: calls wait here."""

    def pending_calls(self) -> int:
        """Calls of this handle submitted and not finished."""
        return self._inflight + len(self._backlog) + len(self._resend) + len(self._deps)

    def leftovers(self) -> str | None:
        """What this handle still waits for, for leak reports; ``None`` if nothing."""
        if self.state is _DEAD:
            return None
        n = self.pending_calls()
        return f"{self.describe()} has {n} call(s) of this process pending" if n else None

    def info(self) -> ActorInfo:
        """This actor as ``list_actors()`` reports it: the calls counted are this handle's."""
        return ActorInfo(
            actor_id=self.actor_id,
            class_name=self.spec.name,
            name=self.name,
            namespace=self.namespace,
            state=self.state,
            mailbox_depth=self._inflight,
            mailbox_capacity=self._window,
            peak_depth=self._peak,
            calls_processed=self.processed,
            calls_failed=self.failed,
            running=0,
        )

    def statistics(self) -> ActorStatistics:
        """``info()`` with restarts and the calls waiting to be sent; no latency:
        ``metrics=True`` times the calls of the local engine only."""
        return actor_statistics(
            self.info(),
            restarts=self.restarts,
            waiting_for_room=len(self._backlog),
            latency=None,
        )

    def latency(self) -> None:
        """Not measured for Ray actors (see ``statistics()``)."""
        return None

    def running_calls(self) -> list[RunningCall]:
        """None here: the actor's calls run in its own process (whose watchdog sees them)."""
        return []

    def reduce_handle(self) -> Any:
        """A handle pickles to its Ray handle and what rebuilds an ``ActorHandle`` from it.

        Raises:
            TypeError: the actor has no Ray actor right now (it is restarting
                after its process died, or waits for its supervisor).
        """
        if self._ray_handle is None:
            raise TypeError(
                f"a handle to {self.describe()} cannot be passed right now: it has no Ray "
                "actor while it restarts or waits for its supervisor; await the handle first"
            )
        return (
            rebuild_handle,
            (
                self._ray_handle,
                self.spec.cls,
                self._host_opts,
                self.actor_id,
                self.name,
                self.namespace,
            ),
        )

    # -- submission ---------------------------------------------------------------

    def call(self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RayCall:
        """Submit a call from any thread; return its ref at once.

        Raises:
            PendingCallsLimitExceeded: this handle has ``max_pending_calls`` pending.
        """
        running = _get_running_loop()
        loop = self._loop
        if loop is None and running is not None:
            loop = self._loop = running
        if running is loop:
            if self.config.max_pending_calls > 0:
                self._check_cap()
            call = RayCall(self, spec, args, kwargs)
            self._submit(call)
            return call
        return self._call_threadsafe(spec, args, kwargs)

    def _call_threadsafe(
        self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> RayCall:
        cf: concurrent.futures.Future[RayCall] = concurrent.futures.Future()

        def submit_here() -> None:
            try:
                cf.set_result(self.call(spec, args, kwargs))
            except BaseException as exc:
                cf.set_exception(exc)

        try:
            self.loop.call_soon_threadsafe(submit_here)
        except RuntimeError:
            call = RayCall(self, spec, args, kwargs)
            call._set_exception(_died(self, "is unreachable: its event loop is closed"))
            return call
        return cf.result()

    def call_nowait(
        self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> RayCall:
        """Submit a call only if the window has room now.

        Raises:
            MailboxFullError: ``mailbox_size`` calls of this handle are in flight.
        """
        if self._inflight >= self._window or self._backlog:
            raise MailboxFullError(
                f"the window of {self.describe()} is full ({self._inflight}/{self._window} "
                "calls in flight from this handle); use 'await ...submit()' to wait for room"
            )
        return self.call(spec, args, kwargs)

    async def submit(
        self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> RayCall:
        """Submit, then wait until the call is sent (or finished)."""
        loop = self.loop
        if _get_running_loop() is not loop:
            cf = asyncio.run_coroutine_threadsafe(self.submit(spec, args, kwargs), loop)
            return await asyncio.wrap_future(cf)
        call = self.call(spec, args, kwargs)
        if call._pos == _SENT or call._state:
            return call
        admit = call._admit = loop.create_future()

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

    def submit_stop(self, via: StopReason) -> RayCall:
        """Queue a graceful stop behind the calls already submitted (any thread)."""
        loop = self.loop
        call = _StopCall(self, stop_spec(self.spec), via)
        if _get_running_loop() is loop:
            self._submit(call)
        else:
            loop.call_soon_threadsafe(self._submit, call)
        return call

    def _check_cap(self) -> None:
        cap = self.config.max_pending_calls
        if self.pending_calls() >= cap:
            raise PendingCallsLimitExceeded(
                f"{self.describe()} already has {cap} pending calls from this handle "
                "(its max_pending_calls); wait for some to finish"
            )

    def _submit(self, call: RayCall) -> None:
        if self.refusing:
            call._set_exception(self._refusal())
            return
        for a in call._args:
            if isinstance(a, ObjectRef) and not _travels(a):
                self._wait_for_deps(call)
                return
        if call._kwargs:
            for a in call._kwargs.values():
                if isinstance(a, ObjectRef) and not _travels(a):
                    self._wait_for_deps(call)
                    return
        self._enqueue(call)

    def _enqueue(self, call: RayCall) -> None:
        if self._remote is not None and self._inflight < self._window and not self._backlog:
            self._send(call)
        else:
            call._pos = _BACKLOG
            self._backlog.append(call)

    def _send(self, call: RayCall) -> None:
        seq = self._seq
        self._seq = seq + 1
        call._seq = seq
        call._gen = self._gen
        call._pos = _SENT
        inflight = self._inflight = self._inflight + 1
        if inflight > self._peak:
            self._peak = inflight
        spec = call._spec
        name = spec.name
        if self._methods.get(name) is spec:
            opts = None
        elif type(call) is _StopCall:
            name = STOP
            opts = None
        else:
            opts = (spec.group, spec.max_task_retries, spec.retry_exceptions)
        try:
            # One list argument: Ray serialises (and checks against the host's
            # signature) each argument on its own, and packs a list of plain
            # values with msgpack, without pickle.
            ref = self._remote([self._token, seq, name, opts, [*call._args], call._kwargs])
        except Exception as exc:
            # Nothing was sent (an argument Ray cannot pickle): the seq is free again.
            self._seq = seq
            self._inflight -= 1
            call._pos = _NEW
            call._set_exception(exc)
            return
        call._ray = ref
        ref._on_completed(call._completed)
        if call._admit is not None:
            call._admitted()

    def _order(self, op: str, *args: Any) -> Any:
        """Tell the host to do ``op``, in order with the calls sent before it;
        return the Ray ref of its outcome (``None`` without a Ray actor)."""
        remote = self._remote
        if remote is None:
            return None
        seq = self._seq
        self._seq = seq + 1
        ref = remote([self._token, seq, op, None, [*args], {}])
        on_ray_result(self.loop, ref, functools.partial(self._ordered, op))
        return ref

    def _ordered(self, op: str, result: Any) -> None:
        if type(result) is Raised:
            logger.error("%s: %s failed in the actor", self.describe(), op, exc_info=result.error())
        elif isinstance(result, RayError) and not isinstance(result, RayActorError):
            logger.error("%s: %s failed: %s", self.describe(), op, first_line(result))

    def _pump(self) -> None:
        """Send what waits here while the window has room: retried calls first."""
        if self._remote is None:
            return
        if self._resend:
            again = sorted(self._resend, key=lambda c: (c._gen, c._seq))
            self._resend = []
            for call in again:
                if not call._state:
                    self._send(call)
        backlog = self._backlog
        while backlog and self._inflight < self._window:
            call = backlog.popleft()
            if not call._state:
                self._send(call)

    def _withdraw(self, call: RayCall) -> None:
        """A call was cancelled: take it back, or tell the host."""
        pos = call._pos
        if pos == _BACKLOG:
            try:
                self._backlog.remove(call)
            except ValueError:
                if call in self._resend:
                    self._resend.remove(call)
        elif pos == _DEPS:
            self._deps.discard(call)
        elif pos == _SENT and call._gen == self._gen:
            self._order(CANCEL, call._seq)

    # -- outcomes -----------------------------------------------------------------

    def _settled(self, call: RayCall, result: Any) -> None:
        if call._gen == self._gen:
            self._inflight -= 1
        if type(result) is Raised:
            self.processed += 1
            self.failed += 1
            call._set_exception(result.error())
        elif isinstance(result, RayError):
            if isinstance(result, ActorUnavailableError):
                self._unavailable(call, result)
            elif isinstance(result, RayActorError):
                self._lost(call, result)
            else:
                # Ray failed the call before the host saw it (its arguments could
                # not be unpickled there, say): let the host's order skip it.
                if call._gen == self._gen and self._ray_handle is not None:
                    self._ray_handle.control.remote("skip", self._token, call._seq)
                self.failed += 1
                call._set_exception(from_ray(result, self.describe()))
        else:
            self.processed += 1
            call._set_result(result)
        if not call._state:
            return  # to be sent again
        call._args = call._kwargs = None  # type: ignore[assignment]
        if self._resend or (self._backlog and self._inflight <= self._refill):
            # A full window refills in batches: one send per reply would cost
            # a loop turn per call (as many as calls), a batch one per batch.
            self._pump()
        self._after_settle()

    def _after_settle(self) -> None:
        pass

    def stopped(self) -> asyncio.Future[None]:
        """A future of the loop that completes when the actor is DEAD."""
        raise NotImplementedError

    def _unavailable(self, call: RayCall, exc: ActorUnavailableError) -> None:
        """Ray lost touch with the actor during ``call``, which may have run or not;
        the actor may come back (its watch tells). The call runs again if its
        retries allow, else fails."""
        if call._state:
            return
        if self.state is not _DEAD and retry_allowed(call, self.config, None):
            call._pos = _BACKLOG
            self._resend.append(call)
            self._pump()
            return
        self.failed += 1
        call._set_exception(self._error(f"was unavailable during the call: {first_line(exc)}"))

    def _lost(self, call: RayCall, exc: RayActorError) -> None:
        """The Ray actor died with ``call`` in flight."""
        if self.state is not _DEAD:
            self._gone(exc)
        if not call._state:
            call._set_exception(self._dead_error())

    def _gone(self, exc: RayActorError) -> None:
        """The Ray actor died: nobody here restarts it."""
        self._gen += 1
        self._ray_handle = self._remote = None
        self._inflight = 0
        self.state = _DEAD
        self.refusing = True
        self.reason = f"died: its Ray actor died ({death_reason(exc)})"
        self._final_kind = "dead"
        self._fail_waiting(self.reason)

    def _fail_waiting(self, reason: str) -> None:
        waiting = [*self._resend, *self._backlog, *self._deps]
        self._resend = []
        self._backlog.clear()
        self._deps.clear()
        for call in waiting:
            call._set_exception(self._error(reason))

    # -- dataflow -----------------------------------------------------------------

    def _wait_for_deps(self, call: RayCall) -> None:
        """Refs that cannot travel to the actor (local ones, calls not yet sent)
        are resolved here first; the call is enqueued with their values."""
        loop = self.loop
        waiting = [
            a
            for a in (*call._args, *call._kwargs.values())
            if isinstance(a, ObjectRef) and not _travels(a) and not a.done()
        ]
        if not waiting:
            self._deps_ready(call)
            return
        call._pos = _DEPS
        self._deps.add(call)
        remaining = [len(waiting)]

        def on_dep(dep: ObjectRef[Any]) -> None:
            if call._state or call not in self._deps:
                return
            remaining[0] -= 1
            if remaining[0] == 0 or dep._state == 2:
                self._deps_ready(call)

        for dep in waiting:
            if dep._loop is loop or dep._loop is None:
                dep._add_callback(on_dep)
            else:
                dep.future().add_done_callback(functools.partial(_relay_dep, on_dep, dep))

    def _deps_ready(self, call: RayCall) -> None:
        self._deps.discard(call)
        values = (*call._args, *call._kwargs.values())
        for a in values:
            if isinstance(a, ObjectRef) and not _travels(a) and a._state == 2:
                a._retrieved()
                assert a._exc is not None
                call._set_exception(a._exc)
                self._after_settle()
                return

        def value(a: Any) -> Any:
            if isinstance(a, ObjectRef) and not _travels(a):
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

    # -- errors -------------------------------------------------------------------

    def _refusal(self) -> ActorDiedError:
        if self.state is _DEAD:
            return self._dead_error()
        if self.stopping == "shutdown":
            return _died(self, "is not accepting calls: its actor system is being shut down")
        if self.stopping == "supervisor":
            return _died(self, "is not accepting calls: its supervisor is stopping it")
        if self.stopping in _STOPPED_BY:
            return _died(self, f"is stopping: {_STOPPED_BY[self.stopping]} was called")
        return _died(self, "is not accepting calls")

    def _dead_error(self) -> ActorDiedError:
        return self._error(self.reason or "is dead")

    def _error(self, reason: str) -> ActorDiedError:
        err = _died(self, reason)
        err.__cause__ = self.death
        return err

    # -- asking the host ----------------------------------------------------------

    async def _ask(self, op: str, *args: Any) -> Any:
        """Run the host's control ``op`` and return its result, raising as it raised.

        Raises:
            ActorDiedError: the actor died meanwhile.
        """
        handle = self._ray_handle
        if handle is None:
            raise self._dead_error() if self.state is _DEAD else self._error("is restarting")
        loop = self.loop
        fut: asyncio.Future[Any] = loop.create_future()
        on_ray_result(loop, handle.control.remote(op, *args), fut.set_result)
        result = await fut
        if type(result) is Raised:
            raise result.error()
        if isinstance(result, RayActorError):
            raise self._error(f"died: its Ray actor died ({death_reason(result)})") from result
        if isinstance(result, RayError):
            raise from_ray(result, self.describe())
        return result


def _relay_dep(on_dep: Any, dep: ObjectRef[Any], _: asyncio.Future[Any]) -> None:
    on_dep(dep)


def _travels(ref: ObjectRef[Any]) -> bool:
    """Whether ``ref`` can go to an actor as it is (a Ray ref, resolved there)."""
    return isinstance(ref, RayObjectRef) and ref._ray is not None


class RayCore(_Caller):
    """An actor this process created on Ray and supervises."""

    def __init__(
        self,
        host: Host,
        spec: ClassSpec,
        actor_id: int,
        config: ActorConfig,
        name: str | None,
        namespace: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        super().__init__(spec, config, host_options(config), actor_id, name, namespace, host.loop)
        self.host = host
        self.supervisor: Parent = host.root
        # Where its checkpoints live, the same for every process it runs in.
        self._store_key = (
            checkpoint_key(namespace, name, actor_id) if config.store is not None else None
        )
        self.init_args = args
        self.init_kwargs = kwargs
        self.incarnation = 0
        self.handles = 0
        self._crash_times: deque[float] | None = None
        self.ready_waiters: list[asyncio.Future[None]] | None = None
        self.stop_waiters: list[asyncio.Future[None]] | None = None
        self._stop_sent = False
        # The incarnation a crash inside the host took down, until its
        # supervisor hears of it.
        self._worker_down = -1
        self._watch_seq = 0
        self._watch_ref: Any = None
        self._left = False
        self._key = ""
        _specs.setdefault(spec.cls, spec)

    # -- what the supervisor reads ------------------------------------------------

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
        if self._crash_times is None:
            self._crash_times = deque()
        return self._crash_times

    # -- starting -----------------------------------------------------------------

    def start(self) -> None:
        """Create the Ray actor (its ``__init__`` runs there first).

        Raises:
            ActorAlreadyExistsError: Ray has a live actor of that name already.
        """
        if _get_running_loop() is self.loop:
            self._launch(first=True)
        else:
            self.loop.call_soon_threadsafe(self._launch_or_die)

    def _launch_or_die(self) -> None:
        """Create the Ray actor for ``Cls.remote()`` called in another thread,
        which has returned: a failure is the actor's death, told to its callers."""
        try:
            self._launch()
        except Exception as exc:
            self.death = exc
            self._die(f"could not be created on Ray: {type(exc).__name__}: {exc}")

    def _hold(self) -> None:
        """Wait, never started, for a supervisor that is down; ``_bring_up`` starts it."""
        self.state = _RESTARTING

    def _relaunch(self, attempt: int) -> None:
        if self.state is _PENDING and self._ray_handle is None:
            try:
                self._launch(attempt=attempt)
            except Exception as exc:
                self.death = exc
                self._die(f"could not restart on Ray: {type(exc).__name__}: {exc}")

    def _launch(self, first: bool = False, attempt: int = 0) -> None:
        ray_opts: dict[str, Any] = {"max_restarts": 0, "max_task_retries": 0}
        ray_opts.update(ray_scheduling(self.config))
        if self.name is not None:
            ray_opts["name"] = self.name
            ray_opts["namespace"] = self.namespace
        if self.config.detached:
            ray_opts["lifetime"] = "detached"
        supervisor: Any = self.supervisor
        setup = (
            self.actor_id,
            self.name,
            self.namespace,
            self._host_opts,
            self.init_args,
            self.init_kwargs,
            self.restarts,
            self.incarnation,
            supervisor._restarts_after_exit(self),
            self._store_key,
        )
        try:
            handle = _ray_class(self.spec).options(**ray_opts).remote(setup)
        except ValueError as exc:
            if self.name is None or "already" not in str(exc):
                raise
            err = ActorAlreadyExistsError(
                f"an actor named {self.name!r} already exists in namespace "
                f"{self.namespace!r} on Ray; pass get_if_exists=True to reuse it"
            )
            if first:
                raise err from exc
            if attempt < _NAME_WAIT_TRIES:
                # Its dead process may still hold the name for a moment.
                self.loop.call_later(_NAME_WAIT_S, self._relaunch, attempt + 1)
                return
            self.death = err
            self._die(f"could not restart: {err}")
            return
        self._ray_handle = handle
        self._remote = handle.call.remote
        self._token = next(_tokens)
        self._seq = 0
        self._watch_seq = 0
        key = self._key = _actor_key(handle)
        _owners[key] = self
        _alive[key] = handle
        self._watch()
        self._pump()
        self._maybe_send_stop()

    # -- following the host -------------------------------------------------------

    def _watch(self) -> None:
        handle = self._ray_handle
        if handle is None:
            return
        ref = self._watch_ref = handle.watch.remote(self._watch_seq)
        on_ray_result(self.loop, ref, functools.partial(self._on_watch, self._gen))

    def _on_watch(self, gen: int, result: Any) -> None:
        if gen != self._gen or self._left:
            return
        if isinstance(result, RayError):
            if isinstance(result, ActorUnavailableError):
                # Out of touch for now: ask again shortly; a death ends this.
                self.loop.call_later(_REWATCH_S, self._rewatch, gen)
            elif isinstance(result, RayActorError):
                self._gone(result)
            else:
                logger.error("%s: watching its Ray actor failed: %r", self.describe(), result)
            return
        end, events = result
        self._watch_seq = end
        for event in events:
            self._on_event(*event)
            if gen != self._gen:
                return
        if self.state is not _DEAD:
            self._watch()

    def _rewatch(self, gen: int) -> None:
        if gen == self._gen and self.state is not _DEAD:
            self._watch()

    def _on_event(
        self, kind: str, inc: int, restarts: int, reason: str | None, exc: BaseException | None
    ) -> None:
        if kind == "crashed":
            if inc == self.incarnation:  # else this side took it down already
                self.death = exc
                self.host.emit(EventKind.CRASHED, self, exc)
        elif kind == "restarting":
            if inc > self.incarnation and self.state is not _DEAD:
                self.state = _RESTARTING
                self.incarnation = inc
                self._worker_down = inc
                self.host.emit(EventKind.RESTARTING, self, exc)
        elif kind == "failed":
            if inc == self._worker_down and self.state is _RESTARTING:
                self._worker_down = -1
                self._ask_supervisor(reason or "crashed")
        elif kind in ("started", "restarted"):
            if inc == self.incarnation and self.state is _PENDING:
                self._became_alive()
        elif kind in ("stopped", "dead") and self.state is not _DEAD:
            self.reason = reason
            self.death = exc
            self._end(kind)

    def _became_alive(self) -> None:
        self.state = _ALIVE
        self.death = None
        self.host.emit(EventKind.RESTARTED if self.restarts else EventKind.STARTED, self)
        waiters = self.ready_waiters
        if waiters is not None:
            self.ready_waiters = None
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    def _ask_supervisor(self, reason: str) -> None:
        try:
            self.supervisor._child_failed(self, reason)
        except Exception:
            # A supervisor that cannot decide must not leave callers waiting
            # on an actor that will never come back.
            logger.exception("the supervisor of %s failed; the actor dies", self.describe())
            self._die(f"{reason}; its supervisor failed to handle the crash")

    def _gone(self, exc: RayActorError) -> None:
        """The Ray actor's process died: a crash, for the supervisor to decide."""
        if self._ray_handle is not None:
            # Ray keeps a dead actor's name until it is killed: free it for
            # the restart, which starts a new Ray actor under the same name.
            _kill(self._ray_handle)
        self._gen += 1
        self._ray_handle = self._remote = None
        self._inflight = 0
        self._stop_sent = False
        if self.state is _DEAD:
            return
        why = death_reason(exc)
        self.death = from_ray(exc, self.describe())
        if killed_by_ray(exc):
            # Somebody called ray.kill() on it: a kill, as asyncactors.kill().
            self._die(f"was killed by ray.kill() ({why})", now=True)
            return
        reason = f"crashed: its Ray actor died ({why})"
        self.host.emit(EventKind.CRASHED, self, self.death)
        if self.state is _RESTARTING:
            return  # already down; its restart starts a new Ray actor
        self.state = _RESTARTING
        self.incarnation += 1
        self.host.emit(EventKind.RESTARTING, self, self.death)
        self._ask_supervisor(reason)

    def _lost(self, call: RayCall, exc: RayActorError) -> None:
        if call._gen == self._gen:
            self._gone(exc)  # this call brings the first news of the death
        if call._state:
            return
        if self.state is _DEAD:
            call._set_exception(self._dead_error())
        elif retry_allowed(call, self.config, None):
            call._pos = _BACKLOG
            self._resend.append(call)
            self._pump()
        else:
            self.failed += 1
            call._set_exception(
                self._error(f"restarted during the call: its Ray actor died ({death_reason(exc)})")
            )

    # -- the Child protocol -------------------------------------------------------

    def _take_down(self, reason: str) -> None:
        """Stop this incarnation (in its process); calls wait for the next one."""
        if self.state is _DEAD or self.state is _RESTARTING:
            return
        self.state = _RESTARTING
        self.incarnation += 1
        self._order(TAKE_DOWN, reason)
        self.host.emit(EventKind.RESTARTING, self)

    def _bring_up(self) -> None:
        """Start the next incarnation: in the same process, or in a new Ray actor."""
        if self.state is not _RESTARTING:
            return
        if self.incarnation:
            self.restarts += 1
        self.state = _PENDING
        if self._ray_handle is None:
            self._launch_or_die()
        else:
            self._order(BRING_UP, self.restarts)

    def _die(self, reason: str, *, pre_destroy: bool = False, now: bool = False) -> None:
        """Die for good; ``now`` kills the process at once (``asyncactors.kill``)."""
        if self.state is _DEAD:
            return
        self.state = _DEAD
        self.incarnation += 1
        self.refusing = True
        self.reason = reason
        self._fail_waiting(reason)
        waiters = self.ready_waiters
        if waiters is not None:
            self.ready_waiters = None
            for w in waiters:
                if not w.done():
                    w.set_exception(self._dead_error())
        if now:
            self._kill_ray()
        else:
            self._retire(reason, pre_destroy)
        self._stopped_for_good("dead")

    def _kill_ray(self) -> None:
        handle = self._ray_handle
        self._gen += 1
        self._ray_handle = self._remote = None
        if handle is not None:
            _kill(handle)

    def _retire(self, reason: str, pre_destroy: bool = False) -> None:
        """Let the host fail its calls with ``reason`` (and run ``__pre_destroy__``),
        then kill its process: replies it sent before are not lost to the kill."""
        handle = self._ray_handle
        ref = self._order(DIE, reason, pre_destroy)
        self._gen += 1
        self._ray_handle = self._remote = None
        if handle is not None:
            grace = _PRE_DESTROY_GRACE_S if pre_destroy else _RETIRE_GRACE_S
            # Adopted: shutdown waits for it, so no process outlives its system.
            self.host.keep_task(self.loop.create_task(_retire(handle, ref, grace)))

    def _end(self, kind: str) -> None:
        """The host's actor stopped for good: free its process."""
        self.state = _DEAD
        self.incarnation += 1
        self.refusing = True
        self._fail_waiting(self.reason or "stopped")
        self._retire(self.reason or "stopped")
        self._stopped_for_good(kind)

    def _stopped_for_good(self, kind: str, *, emit: bool = True) -> None:
        self._final_kind = kind
        if _owners.get(self._key) is self:
            # Handles that come back now, or get_actor() of a detached actor
            # left running, reach the Ray actor anew.
            del _owners[self._key]
        self.supervisor._forget(self)
        self.host.unregister(self)
        store = self.config.store
        if store is not None and self.name is None and self._store_key and kind != "left":
            # An unnamed actor's key is never used again.
            from .._local.checkpoint import _delete_quietly

            self.host.keep_task(self.loop.create_task(_delete_quietly(store, self._store_key)))
        if emit:
            self.host.emit(EventKind(kind), self, self.death)
        waiters = self.stop_waiters
        if waiters is not None:
            self.stop_waiters = None
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    # -- the EngineCore protocol --------------------------------------------------

    def kill(self, *, no_restart: bool = True) -> None:
        """Stop now (``ray.kill``): running, queued and later calls fail with
        ``ActorDiedError``. With ``no_restart=False`` it is a crash inside the
        actor instead, and its supervisor may restart it; queued calls survive.
        """
        if _get_running_loop() is not self.loop:
            self.loop.call_soon_threadsafe(functools.partial(self.kill, no_restart=no_restart))
            return
        if no_restart:
            self._die("was killed by asyncactors.kill()", now=True)
        elif self.state is not _DEAD and self.state is not _RESTARTING:
            # A crash decided here, at once, as locally: its supervisor acts
            # (siblings too) before any later call reaches them.
            reason = "was killed by asyncactors.kill(no_restart=False)"
            self.death = None
            self.host.emit(EventKind.CRASHED, self)
            self._take_down(reason)
            self._ask_supervisor(reason)

    def request_stop(self, why: StopReason) -> None:
        """Stop gracefully once every accepted call has finished.

        ``why`` is ``"shutdown"`` or ``"supervisor"`` (refuse new calls), or
        ``"released"`` (all handles are gone). At shutdown a detached actor is
        left running in Ray instead.
        """
        if self.state is _DEAD or self.stopping is not None:
            return
        if why == StopReason.SHUTDOWN and self.config.detached and self._ray_handle is not None:
            self._leave()
            return
        self.stopping = why
        if why != StopReason.RELEASED:
            self.refusing = True
        self._maybe_send_stop()

    def _maybe_send_stop(self) -> None:
        if self.stopping is None or self._stop_sent or self.state is _DEAD:
            return
        if self._backlog or self._resend or self._deps or self._remote is None:
            return  # accepted calls go first; a restart under way comes back here
        self._stop_sent = True
        self._order(REQUEST_STOP, self.stopping)

    def _after_settle(self) -> None:
        if self.stopping is not None and not self._stop_sent:
            self._maybe_send_stop()

    def _leave(self) -> None:
        """Shutdown of a detached actor: it keeps running in Ray; this system lets go."""
        self._left = True
        self._gen += 1
        self.state = _DEAD
        self.refusing = True
        self.reason = "was left running in Ray when its actor system shut down (detached)"
        self._ray_handle = self._remote = None
        self._stopped_for_good("left", emit=False)

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

    async def checkpoint(self) -> None:
        """Save the actor's state now, in its process.

        Raises:
            RuntimeError: the actor has no ``checkpoint_store``.
            ActorDiedError: the actor is dead.
            CheckpointError: the store could not save it.
            TypeError: an attribute cannot be encoded.
        """
        if self.config.store is None:
            raise RuntimeError(f"{self.describe()} has no checkpoint_store option")
        if _get_running_loop() is not self.loop:
            cf = asyncio.run_coroutine_threadsafe(self.checkpoint(), self.loop)
            await asyncio.wrap_future(cf)
            return
        while self.state is not _ALIVE:
            await self.wait_ready()
        await self._ask("checkpoint")

    def handle_added(self) -> None:
        """A new ``ActorHandle`` refers to this actor (any thread)."""
        with self.host.lock:
            self.handles += 1

    def handle_released(self) -> None:
        """An ``ActorHandle`` was garbage-collected (any thread)."""
        with self.host.lock:
            self.handles -= 1
            last = self.handles == 0
        if last and self.name is None and not self.config.detached and self.state is not _DEAD:
            try:
                if self.host.on_loop_thread():
                    self.loop.call_soon(self._released)
                else:
                    self.loop.call_soon_threadsafe(self._released)
            except RuntimeError:  # the loop is closed: nothing left to stop
                pass

    def _released(self) -> None:
        if self.handles == 0:
            self.request_stop(StopReason.RELEASED)


def _kill(handle: Any) -> None:
    _alive.pop(_actor_key(handle), None)
    try:
        ray.kill(handle, no_restart=True)
    except Exception:
        # Already gone, or Ray is shutting down: nothing left to kill.
        logger.debug("ray.kill of %r failed", handle, exc_info=True)


async def _retire(handle: Any, ref: Any, grace: float) -> None:
    """Kill ``handle``'s process once ``ref`` (its last order) is done, or after ``grace``."""
    try:
        if ref is not None:
            loop = asyncio.get_running_loop()
            done: asyncio.Future[Any] = loop.create_future()
            on_ray_result(loop, ref, functools.partial(_set_once, done))
            await asyncio.wait({done}, timeout=grace)
    finally:
        _kill(handle)


def _set_once(fut: asyncio.Future[Any], result: Any) -> None:
    if not fut.done():
        fut.set_result(result)


class RemoteCore(_Caller):
    """A handle to a Ray actor this process does not own: calls, kill, monitor.

    Made when a handle arrives from another process, or by ``get_actor`` for an
    actor of another driver. Its owner supervises it; this side sees it ALIVE
    until it learns that it died.
    """

    def __init__(
        self,
        ray_handle: Any,
        spec: ClassSpec,
        host_opts: dict[str, Any],
        actor_id: int,
        name: str | None,
        namespace: str,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        config = ActorConfig(spec, {**ACTOR_DEFAULTS, **host_opts})
        super().__init__(spec, config, host_opts, actor_id, name, namespace, loop)
        self.state = _ALIVE
        self._ray_handle = ray_handle
        self._remote = ray_handle.call.remote
        self._token = next(_tokens)
        self._stopped: asyncio.Future[None] | None = None

    @property
    def max_restarts(self) -> int:
        return self.config.max_restarts

    @property
    def restart(self) -> str:
        return self.config.restart

    def handle_added(self) -> None:
        pass

    def handle_released(self) -> None:
        pass

    async def wait_ready(self) -> None:
        """Wait until the actor has started.

        Raises:
            ActorDiedError: it failed to start or is dead.
        """
        if self.state is _DEAD:
            raise self._dead_error()
        await self._ask("ready")

    def stopped(self) -> asyncio.Future[None]:
        """A future of the loop that completes when the actor is DEAD."""
        loop = self.loop
        fut: asyncio.Future[None] = loop.create_future()
        if self.state is _DEAD or self._ray_handle is None:
            fut.set_result(None)
            return fut
        if self._stopped is None:
            self._stopped = loop.create_future()
            on_ray_result(loop, self._ray_handle.control.remote("stopped"), self._on_stopped)
        self._stopped.add_done_callback(functools.partial(_copy_done, fut))
        return fut

    def _on_stopped(self, result: Any) -> None:
        if self.state is not _DEAD:
            if isinstance(result, RayActorError):
                self._gone(result)
            elif isinstance(result, tuple):
                self.state = _DEAD
                self.refusing = True
                kind, self.reason, self.death = result
                self._final_kind = kind
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    async def checkpoint(self) -> None:
        """Save the actor's state now; see ``ActorHandle.checkpoint``."""
        if self.config.store is None:
            raise RuntimeError(f"{self.describe()} has no checkpoint_store option")
        await self._ask("checkpoint")

    def kill(self, *, no_restart: bool = True) -> None:
        """``ray.kill`` the actor, or with ``no_restart=False`` crash it in place."""
        if _get_running_loop() is not self.loop:
            self.loop.call_soon_threadsafe(functools.partial(self.kill, no_restart=no_restart))
            return
        if self._ray_handle is None:
            return
        if no_restart:
            handle = self._ray_handle
            self._gen += 1
            self._ray_handle = self._remote = None
            self.state = _DEAD
            self.refusing = True
            self.reason = "was killed by asyncactors.kill()"
            self._final_kind = "dead"
            _kill(handle)
        else:
            self._order(CRASH)

    def request_stop(self, why: StopReason) -> None:
        """Not this process's to stop: its owner does (``asyncactors.stop()`` works)."""


def _copy_done(fut: asyncio.Future[None], _: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def rebuild_handle(
    ray_handle: Any,
    cls: type,
    opts: Mapping[str, Any],
    actor_id: int,
    name: str | None,
    namespace: str,
) -> Any:
    """Unpickle an ``ActorHandle``: the owner's core here, else a ``RemoteCore``."""
    key = _actor_key(ray_handle)
    core: Any = _owners.get(key) or hosted.get(key)
    if core is None:
        core = _remotes.get(key)
        if core is None:
            core = RemoteCore(
                ray_handle, spec_for(cls), dict(opts), actor_id, name, namespace, _home_loop()
            )
            _remotes[key] = core
    return core.spec.handle_type(core)


# The loop of this process's actor host, if this is an actor's process.
home: list[asyncio.AbstractEventLoop] = []


def _home_loop() -> asyncio.AbstractEventLoop | None:
    loop = _get_running_loop()
    if loop is None and home:
        loop = home[0]
    return loop


class _RaySystem:
    """What the Ray backend keeps for one actor system (``Host.engine``)."""

    __slots__ = ("address", "holds", "namespace", "options")

    def __init__(
        self, namespace: str, address: str | None, options: Mapping[str, Any] | None
    ) -> None:
        self.namespace = namespace
        self.address = address
        self.options = options
        # Whether the system shares a Ray that asyncactors started (see _session).
        self.holds = False


class RayBackend:
    """The Ray engine: uses or starts Ray for each system, makes ``RayCore``s."""

    name = "ray"
    # Ray's scheduler reserves num_cpus, num_gpus, memory and resources.
    reserves_resources = False
    # The actors this process hosts run on the local engine (see _host).
    runner_codes = LocalBackend.runner_codes

    def open(
        self,
        host: Host,
        *,
        namespace: str,
        address: str | None,
        ray_init_options: Mapping[str, Any] | None,
    ) -> None:
        """Keep the system's namespace, ``address`` and ``ray_init_options`` until it starts.

        Raises:
            TypeError: ``ray_init_options`` is not a mapping.
        """
        if ray_init_options is not None and not isinstance(ray_init_options, Mapping):
            raise TypeError(
                f"ray_init_options must be a dict of ray.init() options, got "
                f"{type(ray_init_options).__name__}"
            )
        host.engine = _RaySystem(namespace, address, ray_init_options)

    def start(self, host: Host) -> None:
        state: _RaySystem = host.engine
        state.holds = _session.acquire(state.address, state.namespace, state.options)

    async def close(self, host: Host) -> None:
        state: _RaySystem | None = host.engine
        if state is not None and state.holds:
            state.holds = False
            _session.release()

    def create_core(
        self,
        host: Host,
        spec: ClassSpec,
        actor_id: int,
        config: ActorConfig,
        name: str | None,
        namespace: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> RayCore:
        """A core for a new Ray actor; ``start()`` creates it.

        Raises:
            ValueError: what cannot work on Ray (see ``check_options``).
        """
        check_options(spec, config)
        return RayCore(host, spec, actor_id, config, name, namespace, args, kwargs)

    def find_actor(self, host: Host, name: str, namespace: str) -> Any | None:
        """A core for the live Ray actor ``name`` this system does not own, or ``None``.

        Asks the actor what it is: this blocks for one call to it.
        """
        try:
            ray_handle = ray.get_actor(name, namespace=namespace)
        except ValueError:
            return None
        key = _actor_key(ray_handle)
        core: Any = _owners.get(key) or _remotes.get(key)
        if core is not None:
            return core
        try:
            described: Any = ray.get(ray_handle.control.remote("describe"), timeout=30)
        except RayError as exc:
            logger.warning("%r in namespace %r did not answer: %s", name, namespace, exc)
            return None
        if type(described) is Raised:
            raise described.error()
        cls, opts, actor_id, a_name, a_namespace = described
        core = RemoteCore(ray_handle, spec_for(cls), opts, actor_id, a_name, a_namespace, host.loop)
        _remotes[key] = core
        return core


_backend = RayBackend()


def backend() -> RayBackend:
    """The engine object ``_backends.get_backend("ray")`` returns."""
    return _backend


def live_ray_actors() -> list[Any]:
    """Ray handles of actors this process created and has not killed (for tests)."""
    return list(_alive.values())
