"""``_Caller``: sending calls to one Ray actor: the window, the order, the outcomes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections import deque
from collections.abc import Generator, Sequence
from typing import Any, Final

from ray.exceptions import ActorUnavailableError, RayActorError, RayError

from ..._exceptions import (
    ActorDiedError,
    MailboxFullError,
    PendingCallsLimitExceeded,
)
from ..._metrics import ActorStatistics, RunningCall, actor_statistics
from ..._ref import ObjectRef, logger
from ..._specs import ActorConfig, ClassSpec, MethodSpec
from ..._types import ActorInfo, StopReason
from .._local.call import stop_spec
from .._local.common import STOPPED_BY as _STOPPED_BY
from .._local.common import died_error as _died
from .._local.restart import retry_allowed
from ._calls import _BACKLOG, _DEPS, _NEW, _SENT, RayCall, _relay_dep, _StopCall, _travels
from ._common import (
    _DEAD,
    _PENDING,
    CANCEL,
    STOP,
    _CancelledError,
    _get_running_loop,
)
from ._refs import (
    Raised,
    death_reason,
    first_line,
    from_ray,
    on_ray_result,
)

__all__: list[str] = []


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
