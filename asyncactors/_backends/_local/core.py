"""``ActorCore``: one actor of the in-process engine, assembled from its concerns."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from ..._context import current_call
from ..._ref import ObjectRef
from ..._specs import EAGER_BUDGET, ActorConfig, ClassSpec
from ..._types import SYNC, ActorState
from .batch import Batches
from .call import NEW, Call, PendingCount
from .checkpoint import Checkpoints
from .common import NO_KWARGS
from .dispatch import Dispatch
from .lifecycle import Lifecycle
from .restart import Restarts

if TYPE_CHECKING:
    from ..._info import ActorInfo
    from ..._metrics import ActorStatistics, LatencyRecorder, RunningCall
    from ..._protocols import Host
    from ..._specs import MethodSpec

_ALIVE: Final = ActorState.ALIVE

__all__ = ["ActorCore", "EagerCore"]


if TYPE_CHECKING:
    _Blocked = Callable[[ObjectRef[Any], asyncio.Future[Any]], Generator[Any, None, Any]]
# deadlock.blocked, once the first wait of an actor's code for a ref not done has
# loaded deadlock detection: a program whose actors never wait for each other never
# does, and the wait after it pays one test.
_blocked: _Blocked | None = None


def _load_blocked() -> _Blocked:
    global _blocked
    from .deadlock import blocked

    _blocked = blocked
    return blocked


class ActorCore(Dispatch, Lifecycle, Restarts, Checkpoints, Batches):
    """One actor's state, mailbox and scheduling. Lives on its host system's loop.

    It is what ``_protocols.EngineCore`` describes for handles and the system,
    and ``_protocols.Child`` for its supervisor.
    """

    __slots__ = ()

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
        # First: name and pending are ColdFields, kept in the ColdState if set.
        self.cold = None
        self.host = host
        self.loop = host.loop
        self.spec = spec
        self.config = config
        self.actor_id = actor_id
        if name is not None:
            self.name = name
        self.namespace = namespace
        self.init_args = args
        # Most actors take no keyword arguments: one shared empty mapping, not a
        # dict of 64 bytes each for the life of the actor.
        self.init_kwargs = kwargs or NO_KWARGS
        self.state = ActorState.PENDING_CREATION
        self.instance = None
        self.mailbox = None
        self.workers = None
        self.ready_waiters = None
        self.scheduled = False
        self.refusing = False
        self.stopping = None
        self.handles = 0
        self.processed = 0
        self.incarnation = 0
        # Only an actor with max_pending_calls counts its calls: the others pay nothing.
        cap = config.max_pending_calls
        pending = PendingCount(cap) if cap > 0 else None
        if host.metrics:
            # Chosen once here: the calls of an actor without metrics are untimed,
            # and a system without metrics never loads the timing module.
            from .timed import TimedAdmission

            self.pending = TimedAdmission(pending)
        elif pending is not None:
            self.pending = pending

    def reduce_handle(self) -> Any:
        """How a handle to this actor pickles: it does not; it lives in this process.

        Raises:
            TypeError: always, on this engine.
        """
        raise TypeError(
            "ActorHandle cannot be pickled: asyncactors actors live in this process; "
            "pass the handle itself to other actors"
        )

    @property
    def crash_times(self) -> deque[float]:
        """When this actor crashed lately, for the root's backoff."""
        cold = self._cold()
        times = cold.crash_times
        if times is None:
            times = cold.crash_times = deque()
        return times

    def info(self) -> ActorInfo:
        """This actor, as ``ActorSystem.list_actors()`` reports it."""
        from ..._info import ActorInfo  # here: only listing actors needs the record

        mb = self.mailbox
        return ActorInfo(
            actor_id=self.actor_id,
            class_name=self.spec.name,
            name=self.name,
            namespace=self.namespace,
            state=self.state,
            mailbox_depth=mb.depth if mb else 0,
            mailbox_capacity=self.config.mailbox_size,
            # A mailbox that held one call at most is dropped when idle (see
            # _release_mailbox): an actor that ran calls had a peak of one at least.
            peak_depth=max(mb.peak if mb else 0, 1 if self.processed else 0),
            calls_processed=self.processed,
            calls_failed=self.failed,
            running=sum(lane.running - lane.idle for lane in mb.lanes) if mb else 0,
        )

    def statistics(self) -> ActorStatistics:
        """``info()``, with restarts, calls waiting for room, and latency (any thread)."""
        # Imported here, as below: the records of metrics load when first asked for.
        from ..._metrics import actor_statistics

        mb = self.mailbox
        return actor_statistics(
            self.info(),
            restarts=self.restarts,
            waiting_for_room=len(mb.overflow) if mb is not None and mb.overflow else 0,
            latency=self.latency(),
        )

    def latency(self) -> LatencyRecorder | None:
        """This actor's call latencies, under ``ActorSystem(metrics=True)``."""
        if not self.host.metrics:
            return None  # its calls are untimed (see __init__)
        from .timed import TimedAdmission  # here: loaded by systems with metrics only

        pending = self.pending
        return pending.latency if isinstance(pending, TimedAdmission) else None

    def running_calls(self) -> list[RunningCall]:
        """The calls running in this actor's tasks now (any thread; a snapshot)."""
        from ..._metrics import RunningCall

        workers = self.workers
        if not workers:
            return []
        return [
            RunningCall(task, call, call._spec.name, call._spec.kind, call._spec.func)
            for task, call in list(workers.items())
            if call is not None
        ]

    def leftovers(self) -> str | None:
        """What this actor has still to do, naming the methods; ``None`` if nothing.

        For leak reports (``asyncactors.testing``), not for the hot path.
        """
        parts = []
        pending = self.pending_calls()
        if pending:
            running = [c for c in (self.workers or {}).values() if c is not None]
            names = Counter(c._spec.name for c in (*running, *self._queued()) if not c.done())
            which = ", ".join(
                f"{n}()" + (f" x{k}" if k > 1 else "") for n, k in sorted(names.items())
            )
            parts.append(_plural(pending, "pending call") + (f": {which}" if which else ""))
        mb = self.mailbox
        # Workers of calls hold lane slots; the other tasks run lifecycle hooks.
        hooks = len(self.workers or ()) - (sum(lane.running for lane in mb.lanes) if mb else 0)
        if hooks > 0:
            parts.append(
                _plural(hooks, "task")
                + " of __post_create__, __pre_destroy__ or a checkpoint still running"
            )
        if not parts:
            return None
        state = "" if self.state is ActorState.ALIVE else f" ({self.state})"
        return f"{self.describe()}{state}: {'; '.join(parts)}"

    def _queued(self) -> Iterator[Call]:
        mb = self.mailbox
        if mb is not None:
            for lane in mb.lanes:
                yield from lane.retries or ()
                if lane.head is not None:
                    yield lane.head
                yield from lane.rest or ()
            yield from mb.overflow or ()
            yield from self._batch_items()
        yield from self.deps_waiting or ()

    # -- the running call, for get_runtime_context() and deadlock detection ---------

    def running_call(self) -> ObjectRef[Any] | None:
        """The call whose method is running here: async and threaded methods only.

        A sync method running inline cannot be cancelled while it runs.
        """
        ref = current_call.get()
        if ref is not None:
            return ref()
        workers = self.workers
        if workers and asyncio._get_running_loop() is self.loop:
            task = asyncio.current_task()
            if task is not None:
                return workers.get(task)
        return None

    def blocking_wait(
        self, ref: ObjectRef[Any], fut: asyncio.Future[Any]
    ) -> Generator[Any, None, Any]:
        """``await ref`` in this actor's code, for a ref not done: check it can end.

        Raises:
            DeadlockError: the ref's call can never run before this method ends.
        """
        blocked = _blocked
        if blocked is None:
            blocked = _load_blocked()
        return blocked(ref, fut)

    def check_wait(
        self, refs: Sequence[ObjectRef[Any]], needed: int, fut: asyncio.Future[Any] | None
    ) -> None:
        """A wait for ``needed`` of ``refs`` is about to block this actor's code.

        With ``fut``, the wait is recorded until ``done_waiting()`` or ``fut`` is done.

        Raises:
            DeadlockError: fewer than ``needed`` of them can ever be ready.
        """
        from .deadlock import check  # here: see _blocked

        check(refs, needed, fut, record=fut is not None)

    def done_waiting(self) -> None:
        """The wait ``check_wait()`` recorded has ended."""
        from .deadlock import done_waiting  # loaded by check_wait() already

        done_waiting()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class EagerCore(ActorCore):
    """An actor with ``eager=True``: a sync call it can take at once runs inside ``.remote()``.

    That is, on the loop's thread, when the actor is ALIVE and idle (nothing
    queued or running, no worker), no actor's sync code is running (so no
    eager call nests in another), the method neither checkpoints nor may be
    retried or restart the actor, and no argument is a ref. The call keeps
    Ray's guarantees: ``.remote()`` returns its ref at once (already resolved),
    the calls of each caller run in order (there is nothing queued to overtake),
    and what the method raises is on the ref. The caller does not yield to the
    loop, so at most ``EAGER_BUDGET`` calls in a row run so, system-wide; the next
    one is queued, and the budget is back once the loop has turned. The method
    runs in the actor system's context, as it would in a drain.
    """

    __slots__ = ()

    def call(self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        host = self.host
        if (
            spec.kind is SYNC
            and spec.batch is None
            and host.inline is None
            and host.eager_left > 0
            and self.state is _ALIVE
            and not self.refusing
            and not self.workers
            and not spec.retry_exceptions
            and not self.config.restart_on
            and not self.config.checkpoint_every
            and self.on_loop()
            and self._idle()
            and not any(isinstance(a, ObjectRef) for a in (*args, *kwargs.values()))
        ):
            pending = self.pending
            call = (
                Call(self, spec, args, kwargs)
                if pending is None
                else pending.admit(self, spec, args, kwargs)
            )
            host.inline = self
            try:
                host.ctx.run(self._run_inline, call)
            except RuntimeError:
                if call._pos != NEW:
                    raise
                entered = True  # the system's context is (a callback of actor code)
            else:
                entered = False
            finally:
                host.inline = None
            if entered:
                self._submit(call)
                return call
            left = host.eager_left = host.eager_left - 1
            if not left:
                self.loop.call_soon(_refill, host)
            if self.stopping is not None:
                self._maybe_finish_stop()
            return call
        return ActorCore.call(self, spec, args, kwargs)

    def _idle(self) -> bool:
        mb = self.mailbox
        if mb is None:
            return True
        if mb.depth or mb.overflow:
            return False
        return not any(lane.retries for lane in mb.lanes)


def _refill(host: Host) -> None:
    host.eager_left = EAGER_BUDGET
