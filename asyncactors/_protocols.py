"""The seams between the front end, the actor system, the engines and supervisors.

Typing only: nothing here runs, and nothing here costs a call anything.

* ``EngineCore``: what handles, module functions and the system need from one
  actor, whichever engine runs it. ``ActorMethod.remote`` makes exactly one
  call into it, ``core.call(...)``.
* ``Host``: what an engine needs from the system that owns its actors.
* ``Parent`` and ``Child``: what a supervisor and its children (actors, or
  supervisors nested in it) need from each other. Their members keep a leading
  underscore: ``Supervisor`` is public, and these are not for its users.
* ``Backend``: an engine, imported by name (``_backends.get_backend``).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections import deque
from collections.abc import Callable, Mapping
from types import CodeType
from typing import TYPE_CHECKING, Any, Protocol

from ._context import RunningActor
from ._ref import ObjectRef
from ._specs import EAGER_BUDGET, ActorConfig, ClassSpec, MethodSpec
from ._stream import StreamSource
from ._types import ActorState, EventKind, RestartType, StopReason

if TYPE_CHECKING:
    from ._info import ActorInfo
    from ._metrics import ActorStatistics, LatencyRecorder, RunningCall

__all__ = ["EAGER_BUDGET", "Backend", "Child", "EngineCore", "Host", "Parent"]


class Child(Protocol):
    """What a supervisor needs of a child, actor or supervisor."""

    @property
    def restart(self) -> RestartType: ...

    def _take_down(self, reason: str) -> None:
        """Stop the current incarnation, keeping what the next one needs (calls queue)."""

    def _bring_up(self) -> None:
        """Start the next incarnation."""

    def _hold(self) -> None:
        """Wait, never started, for a supervisor that is down, until ``_bring_up``."""

    def _die(self, reason: str) -> None:
        """Stop for good; every waiting caller gets ``ActorDiedError``."""


class Parent(Protocol):
    """What a child needs of its supervisor."""

    # Whether this is its system's root supervisor (the supervisor of actors given
    # none): an engine tells it so without making the root to compare.
    is_root: bool

    def _child_failed(self, child: Any, reason: str) -> None:
        """Apply the restart strategy to ``child``, already taken down."""

    def _forget(self, child: Any) -> None:
        """``child`` stopped for good: drop it."""

    def _restarts_after_exit(self, child: Any) -> bool:
        """Whether a normal exit of ``child`` restarts it."""


class Host(Protocol):
    """What an engine needs from the actor system that owns its actors."""

    loop: asyncio.AbstractEventLoop
    # Actors' code runs in this context, not in whichever caller woke them.
    ctx: contextvars.Context
    # Guards handle counts and the name registry, which any thread may touch.
    lock: threading.RLock
    # The actor whose sync code runs inline on the loop right now (see
    # _context.running_actor): cheaper than a context variable per drain.
    inline: RunningActor | None
    # The thread that runs the loop for good, or None if none does (compat.ray's
    # loop is run by whichever thread owns it).
    thread_id: int | None
    # The loop, if its ``_thread_id`` is the ident of the thread running it and
    # None when it is not running (asyncio's own loops; not uvloop's): that field
    # answers "is this thread running the loop?" without is_running(), a Python
    # call, nor the running loop, a getpid() system call in 3.11. Else None.
    thread_loop: Any
    # ActorSystem(metrics=True): time every call of actors created from now on.
    metrics: bool
    # What the engine keeps for this system (Ray's: the Ray it joined or started).
    engine: Any
    # What the in-process engine keeps for this system, whichever engine the
    # system's is (a Ray worker's system hosts its actor in-process); None at first.
    local: Any
    # Whether an events() stream is open: emit() has nobody to tell otherwise.
    watched: bool
    # How many more calls the engine may run inside .remote() (eager=True)
    # before the loop must turn; it starts at EAGER_BUDGET.
    eager_left: int

    @property
    def root(self) -> Parent:
        """The supervisor of actors given none."""

    @property
    def closing(self) -> bool:
        """Whether the system is shutting down."""

    def on_loop_thread(self) -> bool:
        """Whether the calling thread is the loop's."""

    def emit(self, kind: EventKind, core: Any, exc: BaseException | None = None) -> None:
        """Publish a lifecycle event of ``core``."""

    def keep_task(self, task: asyncio.Task[Any]) -> None:
        """Keep a task of a dead actor until it has finished; shutdown awaits it."""

    def unregister(self, core: Any) -> None:
        """``core`` is DEAD: free its id and name."""


class EngineCore(RunningActor, Child, Protocol):
    """One actor, as handles and the system see it, whichever engine runs it."""

    actor_id: int
    name: str | None
    namespace: str
    spec: ClassSpec
    config: ActorConfig
    state: ActorState
    loop: asyncio.AbstractEventLoop
    restarts: int
    # Calls finished, and those of them that failed (what info() reports).
    processed: int
    failed: int
    supervisor: Parent
    # Why it is DEAD (completing "actor X(id=1) ..."), and the exception that killed it.
    reason: str | None
    death: BaseException | None

    @property
    def max_restarts(self) -> int: ...

    @property
    def crash_times(self) -> deque[float]: ...

    def start(self) -> None:
        """Schedule creation (any thread)."""

    def park(self) -> None:
        """Stay PENDING_CREATION, before ``start()``: calls queue, nothing runs."""

    def call(
        self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> ObjectRef[Any]:
        """Submit a call from any thread; return its ref at once."""

    def stream(
        self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> StreamSource:
        """Submit a generator method's call from any thread; return its stream at once."""

    def item_sender(self, spec: MethodSpec) -> Callable[..., ObjectRef[Any]]:
        """What sends one item of batched method ``spec`` (``spec.batch``), as ``call``
        sends a call, from any thread: ``handle.method.remote`` of a batched method."""

    def call_nowait(
        self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> ObjectRef[Any]:
        """Submit only if the mailbox has room now (a ``StreamSource`` for a generator)."""

    async def submit(
        self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> ObjectRef[Any]:
        """Submit, then wait until the call is in the mailbox (a ``StreamSource`` for a
        generator)."""

    def submit_stop(self, via: StopReason) -> ObjectRef[Any]:
        """Queue a graceful stop behind the calls already sent."""

    async def wait_ready(self) -> None:
        """Wait until the actor has started."""

    def stopped(self) -> asyncio.Future[None]:
        """A future of the loop, done once the actor is DEAD."""

    async def checkpoint(self) -> None:
        """Save the actor's state now."""

    def kill(self, *, no_restart: bool = True, by: str = "asyncactors.kill") -> None:
        """Stop now (or crash, with ``no_restart=False``); ``by`` names the API that
        killed it in the reason the actor's callers see."""

    def request_stop(self, why: StopReason) -> None:
        """Stop gracefully once every accepted call has finished."""

    def pending_calls(self) -> int:
        """Calls submitted and not finished."""

    def describe(self) -> str:
        """How errors and logs name this actor."""

    def leftovers(self) -> str | None:
        """What the actor has still to do, for leak reports; ``None`` if nothing."""

    def info(self) -> ActorInfo:
        """This actor, as ``list_actors()`` reports it."""

    def statistics(self) -> ActorStatistics:
        """``info()`` with restarts, calls waiting for room and latency (any thread)."""

    def latency(self) -> LatencyRecorder | None:
        """The actor's call latencies, if its system has ``metrics=True``."""

    def running_calls(self) -> list[RunningCall]:
        """The calls running in the actor's tasks now (any thread; for the watchdog)."""

    def handle_added(self) -> None:
        """A new handle refers to this actor (any thread)."""

    def handle_released(self) -> None:
        """A handle was garbage-collected (any thread)."""

    def reduce_handle(self) -> Any:
        """What a handle to this actor pickles to (``__reduce__``'s value).

        Raises:
            TypeError: the engine's handles do not leave this process.
        """

    def _die(self, reason: str, *, pre_destroy: bool = False) -> None:
        """Stop for good now; with ``pre_destroy``, run ``__pre_destroy__`` first."""


class Backend(Protocol):
    """An engine: makes the cores of a system's actors."""

    name: str
    # The engine's functions that call an actor's own code: where a stack of
    # actor code starts, for the watchdog.
    runner_codes: frozenset[CodeType]
    # Whether the system's resource pool reserves actors' num_cpus, num_gpus,
    # memory and resources (the local engine), or the engine does (Ray's scheduler).
    reserves_resources: bool

    def open(
        self,
        host: Host,
        *,
        namespace: str,
        address: str | None,
        ray_init_options: Mapping[str, Any] | None,
    ) -> None:
        """A new system: check and keep its engine options in ``host.engine``.

        Raises:
            ValueError, TypeError: an option this engine cannot take (named).
        """

    def start(self, host: Host) -> None:
        """The system has its loop (called on it): start what the engine needs."""

    async def close(self, host: Host) -> None:
        """Every actor of the system has stopped: stop what ``start()`` started."""

    def find_actor(self, host: Host, name: str, namespace: str) -> EngineCore | None:
        """A core for a live named actor the system does not own, or ``None``."""

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
    ) -> EngineCore:
        """A core for a new actor; ``start()`` it to create the actor."""
