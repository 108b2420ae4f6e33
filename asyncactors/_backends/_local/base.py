"""``CoreBase``: the one ``__slots__`` layout of an actor, shared by the engine's mixins.

``ActorCore`` is assembled from mixins by concern (dispatch, lifecycle, restarts,
checkpoints), as Akka's ActorCell is from traits. Each mixin derives from this
class and adds no slots, so the object stays one flat ``__slots__`` instance
and a method found through the mixins costs what one defined on the class does.
The methods one mixin calls on another are declared here for the type checker.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..._mailbox import Lane, Mailbox
from ..._specs import ActorConfig, ClassSpec
from ..._types import ActorState, StopReason
from .._supervised import Supervised
from .._waiters import Waiters
from .common import ColdField, ColdState, died_error

if TYPE_CHECKING:
    from collections.abc import Generator, Sequence

    from ..._exceptions import ActorDiedError, CheckpointError
    from ..._protocols import Host, Parent
    from ..._ref import ObjectRef
    from ..._specs import MethodSpec
    from .call import Admission, Call

__all__ = ["CoreBase"]

_get_ident = threading.get_ident
_get_running_loop = asyncio._get_running_loop


class CoreBase(Waiters, Supervised):
    """Every field of an actor; the mixins add behaviour only."""

    __slots__ = (
        "actor_id",
        "cold",
        "config",
        "handles",
        "host",
        "incarnation",
        "init_args",
        "init_kwargs",
        "instance",
        "loop",
        "mailbox",
        "namespace",
        "processed",
        "ready_waiters",
        "refusing",
        "scheduled",
        "spec",
        "state",
        "stopping",
        "workers",
    )

    host: Host
    loop: asyncio.AbstractEventLoop
    spec: ClassSpec
    config: ActorConfig
    actor_id: int
    namespace: str
    init_args: tuple[Any, ...]
    init_kwargs: Mapping[str, Any]
    state: ActorState
    instance: Any
    mailbox: Mailbox | None
    # Tasks running calls (the call, or None between calls) and lifecycle hooks.
    workers: dict[asyncio.Task[Any], Call | None] | None
    ready_waiters: list[asyncio.Future[None]] | None
    # A drain callback is scheduled (or creation is under way).
    scheduled: bool
    refusing: bool
    stopping: StopReason | None
    handles: int
    processed: int
    # Bumped by every take-down and death: a task of an older incarnation sees
    # the change and keeps its hands off.
    incarnation: int
    cold: ColdState | None

    # Rarely set, so kept in the ColdState (see ColdField): calls waiting for ref
    # arguments, stats of failures and restarts, how the actor died, and the stop.
    deps_waiting: ColdField[set[Call] | None] = ColdField(None)
    stop_waiters: ColdField[list[asyncio.Future[None]] | None] = ColdField(None)
    finishing: ColdField[bool] = ColdField(False)
    death: ColdField[BaseException | None] = ColdField(None)
    reason: ColdField[str | None] = ColdField(None)
    failed: ColdField[int] = ColdField(0)
    restarts: ColdField[int] = ColdField(0)
    # Most actors have no name and no max_pending_calls (the hot path reads
    # ``pending`` off the ColdState itself).
    name: ColdField[str | None] = ColdField(None)
    # Makes each call, for an actor with max_pending_calls or under metrics.
    pending: ColdField[Admission | None] = ColdField(None)

    # The tasks this incarnation's code started, not yet done (see tasks.py).
    owned: ColdField[set[asyncio.Future[Any]] | None] = ColdField(None)

    # The supervisor the actor was given; None under the system's root (see
    # Supervised, which reads it).
    own_supervisor: ColdField[Parent | None] = ColdField(None)

    @property
    def ctx(self) -> contextvars.Context:
        """The context the actor's code runs in: its system's (the engine reads
        ``host.ctx`` itself)."""
        return self.host.ctx

    def describe(self) -> str:
        """``actor Counter(id=3, name='c')``: how errors and logs name this actor."""
        named = f", name={self.name!r}" if self.name else ""
        return f"actor {self.spec.name}(id={self.actor_id}{named})"

    @property
    def class_name(self) -> str:
        """The actor class's name."""
        return self.spec.name

    def _cold(self) -> ColdState:
        cold = self.cold
        if cold is None:
            cold = self.cold = ColdState()
        return cold

    def _error(self, reason: str) -> ActorDiedError:
        """``ActorDiedError`` for ``reason``, caused by what killed the actor, if anything."""
        death = self.death
        # Failed by the shutdown alone, unless a crash of its own killed the actor.
        err = died_error(self, reason, by_shutdown=death is None and self.host.closing)
        err.__cause__ = death
        return err

    def _dead_error(self) -> ActorDiedError:
        return self._error(self.reason or "is dead")

    def on_loop(self) -> bool:
        """Whether the caller runs on the actor's loop (``Dispatch.call`` inlines this)."""
        # On the loop's thread with the loop running, the running loop is the
        # actor's: that spares asking for it (a getpid() system call in 3.11).
        host = self.host
        marked = host.thread_loop
        if marked is not None:
            here = marked._thread_id == _get_ident()
        else:
            here = host.thread_id == _get_ident() and self.loop.is_running()
        return here or _get_running_loop() is self.loop

    def _schedule_drain(self) -> None:
        """Have the mailbox drained in the next loop iteration, if it is not already.

        For the cold paths; the hot path inlines these lines.
        """
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._drain, context=self.host.ctx)

    if TYPE_CHECKING:
        # Defined by the mixins; declared here so that each mixin type-checks alone.
        def _drain(self) -> None: ...
        def handle_added(self) -> None: ...
        def handle_released(self) -> None: ...
        def call(self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call: ...
        def _submit(self, call: Call) -> None: ...
        def _resume(self) -> None: ...
        def _enqueue(self, call: Call) -> None: ...
        def _spawn_hook(self, coro: Any) -> None: ...
        def _own_task(self, task: asyncio.Future[Any]) -> None: ...
        def _end_tasks(self) -> list[asyncio.Future[Any]]: ...
        def _create(self) -> bool: ...
        def _refusal(self) -> ActorDiedError: ...
        def _die(self, reason: str, *, pre_destroy: bool = False) -> None: ...
        def _exit(self, how: StopReason) -> None: ...
        def _fail_waiting(self, reason: str) -> None: ...
        def _maybe_finish_stop(self) -> None: ...
        def _stop_after_running(self, why: StopReason, reason: str) -> None: ...
        def _creation_failed(self, exc: BaseException, hook: str) -> None: ...
        def _exited_in(self, hook: str) -> bool: ...
        def _became_alive(self) -> None: ...
        def _hook_context(self) -> contextvars.Context: ...
        def _crash(
            self, exc: BaseException | None, reason: str, crashed: Call | None = None
        ) -> None: ...
        def _retry(self, call: Call, exc: BaseException | None) -> bool: ...
        def _take_down(
            self, reason: str, crashed: Call | None = None, exc: BaseException | None = None
        ) -> None: ...
        def _start_again(self) -> None: ...
        async def _checkpoint_after(self, call: Call, value: Any) -> None: ...
        async def _restore(self) -> None: ...
        async def _save(self, data: bytes) -> None: ...
        def _capture(self) -> bytes: ...
        def _roll_back(self, exc: CheckpointError) -> None: ...
        def _submit_threadsafe(self, call: Call) -> Call: ...
        def _drop_checkpoint(self) -> None: ...
        def _new_mailbox(self) -> Mailbox: ...
        def _spawn(self, lane: Lane, call: Call | None) -> None: ...
        def _flush_batches(self) -> None: ...
        def _fail_batches(self, reason: str) -> None: ...
        # What code running in the actor may ask (_context.RunningActor).
        def request_exit(self) -> None: ...
        def running_call(self) -> ObjectRef[Any] | None: ...
        def blocking_wait(
            self, ref: ObjectRef[Any], fut: asyncio.Future[Any]
        ) -> Generator[Any, None, Any]: ...
        def check_wait(
            self, refs: Sequence[ObjectRef[Any]], needed: int, fut: asyncio.Future[Any] | None
        ) -> None: ...
        def done_waiting(self) -> None: ...
        def set_batch_limits(
            self, method: str, max_batch_size: int | None, batch_wait_timeout_s: float | None
        ) -> None: ...
