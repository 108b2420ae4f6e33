"""The hot path, top to bottom: submit -> mailbox -> run -> reply.

``Dispatch.call`` makes the call (the call object is the caller's ref) and,
on the loop's thread, ``_submit`` puts it in the mailbox (``_enqueue``) and
schedules ``_drain`` with ``loop.call_soon``; from another thread the same
happens through ``call_soon_threadsafe``.

* Sync methods run inline in the drain callback (``_run_inline``): no task, no
  extra hop.
* Async methods run in worker tasks (``_work``), one per concurrency slot in
  use. A worker keeps taking calls from its lane while there are any, and
  lingers for one loop iteration before it exits, so a caller awaiting each
  call in turn is served by the same task.
* The result reaches the caller through ``ObjectRef._set_result``.
* An idle actor holds no task and no queue.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import types
import weakref
from typing import TYPE_CHECKING, Any, Final, cast

from ..._context import current_actor, current_call
from ..._exceptions import MailboxFullError, TaskCancelledError, _ActorExit
from ..._mailbox import Lane
from ..._ref import FAILED, ObjectRef
from ..._specs import MethodSpec
from ..._types import ASYNC, STREAMS, SYNC, THREAD, ActorState, StopReason
from .._waiters import take_ref_values, wait_admitted
from .base import CoreBase
from .call import DEPS, NEW, OVERFLOW, QUEUED, RUNNING, Call
from .common import BUDGET, UNREACHABLE, YIELD, died_error, propagates, returned_coroutine

if TYPE_CHECKING:
    from .stream import StreamCall

__all__ = ["Dispatch"]

_get_running_loop = asyncio._get_running_loop
_get_ident = threading.get_ident
_current_task = asyncio.current_task
_CancelledError = asyncio.CancelledError
_Task = asyncio.Task
_CoroutineType = types.CoroutineType
_new = object.__new__

_PENDING: Final = ActorState.PENDING_CREATION
_ALIVE: Final = ActorState.ALIVE


class Dispatch(CoreBase):
    """Submission, the mailbox, and running calls."""

    __slots__ = ()

    def call(self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        """Submit a call from any thread; return its ref at once.

        Raises:
            PendingCallsLimitExceeded: ``max_pending_calls`` calls are already pending.
        """
        # self.pending (a ColdField), read off the ColdState without a call.
        cold = self.cold
        if cold is None or cold.pending is None:
            # Call(self, spec, args, kwargs) without calling Call.__init__ from C.
            call = _new(Call)
            call._loop = self.loop
            call._state = 0
            call._waiters = None
            call._log = None
            call._core = self
            call._spec = spec
            call._args = args
            call._kwargs = kwargs
            call._pos = NEW
            call._admit = None
        else:
            call = cold.pending.admit(self, spec, args, kwargs)
        # not self.on_loop(), inlined.
        host = self.host
        marked = host.thread_loop
        if (
            marked._thread_id != _get_ident()
            if marked is not None
            else host.thread_id != _get_ident() or not self.loop.is_running()
        ) and _get_running_loop() is not self.loop:
            return self._submit_threadsafe(call)
        mb = self.mailbox
        if mb is None and not self.refusing:
            # As _enqueue would: for an ALIVE actor, or the first call of a new one.
            mb = self._new_mailbox()
        if mb is not None and not kwargs and spec.group is None and not self.refusing:
            for a in args:
                if isinstance(a, ObjectRef):
                    break
            else:
                # _submit, _enqueue and Mailbox.put for a call to the default lane
                # without ref arguments, inlined: the hot path.
                lane = call._lane = mb.default
                depth = mb.depth
                if (
                    spec.kind is not SYNC
                    and lane.head is None
                    and not lane.idle
                    and lane.running < lane.limit
                    and self.state is _ALIVE
                    and not mb.overflow
                    and not lane.retries
                ):
                    # A free slot and nothing ahead of it: what the drain would do
                    # in the next iteration, a worker task does, without the drain.
                    call._pos = QUEUED
                    self._spawn(lane, call)
                elif depth < mb.capacity and not mb.overflow:
                    if lane.head is None:
                        lane.head = call
                    else:
                        lane.push(call)
                    depth = mb.depth = depth + 1
                    if depth > mb.peak:
                        mb.peak = depth
                    call._pos = QUEUED
                    if not self.scheduled and not lane.idle and lane.running < lane.limit:
                        self.scheduled = True
                        self.loop.call_soon(self._drain, context=self.host.ctx)
                else:
                    mb.wait_for_room(call)
                    call._pos = OVERFLOW
                return call
        self._submit(call)
        return call

    def stream(self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> StreamCall:
        """Submit a generator method's call from any thread; return its stream at once.

        Raises:
            PendingCallsLimitExceeded: ``max_pending_calls`` calls are already pending.
        """
        # Here: only generator methods load streaming (and deadlock detection with it).
        from .stream import StreamCall

        pending = self.pending
        if pending is None:
            call = StreamCall(self, spec, args, kwargs)
        else:
            call = cast(StreamCall, pending.admit(self, spec, args, kwargs, StreamCall))
        if _get_running_loop() is self.loop:
            self._submit(call)
        else:
            self._submit_threadsafe(call)
        return call

    def _submit_threadsafe(self, call: Call) -> Call:
        """Hand ``call`` to the loop from another thread; fail it if the loop is closed."""
        try:
            self.loop.call_soon_threadsafe(self._submit, call, context=self.host.ctx)
        except RuntimeError:
            if not self.loop.is_closed():
                raise
            call._set_exception(died_error(self, UNREACHABLE))
        return call

    def call_nowait(self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        """Submit a call only if the mailbox has room now (loop thread only)."""
        mb = self.mailbox
        if mb is not None and (mb.depth >= mb.capacity or mb.overflow):
            raise MailboxFullError(
                f"the mailbox of {self.describe()} is full "
                f"({mb.depth}/{mb.capacity}); use 'await ...submit()' to wait for room"
            )
        if spec.kind in STREAMS:
            return self.stream(spec, args, kwargs)
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
            mb = self._new_mailbox()
        group = call._spec.group
        lane = mb.default if group is None else mb.lane(group)
        if mb.put(call, lane):
            call._pos = QUEUED
            if not self.scheduled and not lane.idle and lane.running < lane.limit:
                self.scheduled = True
                self.loop.call_soon(self._drain, context=self.host.ctx)
        else:
            call._pos = OVERFLOW

    async def submit(self, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        """Submit, then wait until the call is in the mailbox (or finished)."""
        if _get_running_loop() is not self.loop:
            cf = asyncio.run_coroutine_threadsafe(self.submit(spec, args, kwargs), self.loop)
            return await asyncio.wrap_future(cf)
        make = self.stream if spec.kind in STREAMS else self.call
        call = make(spec, args, kwargs)
        if call._pos < QUEUED and not call._state:
            await wait_admitted(call, self.loop)
        return call

    def _wait_for_deps(self, call: Call) -> None:
        deps = [a for a in (*call._args, *call._kwargs.values()) if isinstance(a, ObjectRef)]
        waiting = [d for d in deps if not d.done()]
        if not waiting:
            self._deps_ready(call)
            return
        call._pos = DEPS
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
        exc = take_ref_values(call)
        if exc is not None:
            call._set_exception(exc)
            self._maybe_finish_stop()
            return
        if self.refusing and self.stopping != "shutdown":
            call._set_exception(self._refusal())
            return
        self._enqueue(call)

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
        host = self.host
        previous, host.inline = host.inline, self
        try:
            budget = BUDGET
            for lane in mb.lanes:
                while lane.running < lane.limit:
                    if lane.retries:
                        call = lane.retries.popleft()
                    else:
                        # Mailbox.pop, inlined: the hot path.
                        call = lane.head
                        if call is None:
                            break
                        rest = lane.rest
                        lane.head = rest.popleft() if rest else None
                        mb.depth -= 1
                        if mb.overflow:
                            mb._admit()
                    if call._spec.kind == SYNC and inline:
                        self._run_inline(call)
                        if self.state is not _ALIVE:
                            return  # it crashed: the supervisor takes over
                        budget -= 1
                        if not budget:
                            self.scheduled = True
                            self.loop.call_soon(self._drain, context=self.host.ctx)
                            return
                    else:
                        self._spawn(lane, call)
        finally:
            host.inline = previous
            call = None  # see _run_inline
        if self.stopping is not None:
            self._maybe_finish_stop()
        elif self.processed <= 1:
            # A new actor's first call (or none): most actors are made for one call,
            # and a second one schedules its own drain. Not lingering saves that
            # pass, and the empty mailbox is dropped now.
            self._release_mailbox()
        elif budget < BUDGET and not self.scheduled:
            # Having run calls, come back once more in the next loop iteration,
            # as a worker lingers: a caller awaiting each call in turn submits
            # its next one meanwhile, and that call runs in the caller's
            # iteration instead of an iteration of its own. A pass that finds
            # nothing to run stops.
            self.scheduled = True
            self.loop.call_soon(self._drain, context=self.host.ctx)

    def _release_mailbox(self) -> None:
        """Drop the empty mailbox of an idle actor that has run one call.

        Many actors are created for one call: an empty mailbox of about 200 bytes
        for each of them adds up. An actor called again makes a new one (and
        keeps that), as one whose first call started a worker keeps its own: a
        mailbox made for each call would cost more than it saves. A mailbox that
        held more calls at once, or has concurrency groups, stays too: its peak
        depth is reported.
        """
        mb = self.mailbox
        if mb is not None and mb.peak <= 1 and mb.groups is None and not mb.overflow:
            lane = mb.default
            if not lane.running and lane.head is None and not lane.retries:
                self.mailbox = None

    def _run_inline(self, call: Call) -> None:
        call._pos = RUNNING
        kwargs = call._kwargs
        try:
            args = call._args
            if kwargs:
                value = call._spec.func(self.instance, *args, **kwargs)
            elif len(args) == 1:
                # Not func(instance, *args): that builds a list and a tuple first.
                value = call._spec.func(self.instance, args[0])
            elif args:
                value = call._spec.func(self.instance, *args)
            else:
                value = call._spec.func(self.instance)
            if type(value) is _CoroutineType:
                returned_coroutine(call._spec, value)
        except BaseException as exc:
            settled = self._raised(call, exc)
            if settled:
                call._args = call._kwargs = None  # type: ignore[assignment]
            # exc's traceback keeps this frame (and _drain's) alive: holding the
            # call too, they would put it in a reference cycle, and it would
            # outlive its last reference, with the log of a failure nobody awaited.
            del call
            if isinstance(exc, KeyboardInterrupt):
                raise
            return
        else:
            self.processed += 1
            call._set_result(value)
        call._args = call._kwargs = None  # type: ignore[assignment]

    def _raised(self, call: Call, exc: BaseException) -> bool:
        """Deal with a call whose method raised; return whether that settled the call.

        Any exception is the call's failure, except these: ``exit_actor()`` and
        ``SystemExit`` exit the actor; a ``CancelledError`` the method raised (not
        a cancellation of the call) fails the call with ``TaskCancelledError``,
        and ``StopIteration`` with ``RuntimeError``, as in a generator;
        ``KeyboardInterrupt`` fails the call, and the runner re-raises it. The call
        is not settled when it crashed the actor (the restart deals with it) or
        is queued to run again (``retry_exceptions``).
        """
        if not isinstance(exc, Exception):
            if isinstance(exc, _ActorExit | SystemExit):
                self.processed += 1
                call._set_exception(self._failure(call, exc))
                self._exit(
                    StopReason.EXIT if isinstance(exc, _ActorExit) else StopReason.SYSTEM_EXIT
                )
                return True
            if isinstance(exc, KeyboardInterrupt):
                self.processed += 1
                self.failed += 1
                call._set_exception(exc)
                self._resume()  # the calls behind it run if the loop goes on
                return True
            exc = self._failure(call, exc)
        elif isinstance(exc, StopIteration):
            exc = self._failure(call, exc)
        restart_on = self.config.restart_on
        if restart_on and isinstance(exc, restart_on):
            self.processed += 1
            self.failed += 1
            self._crash(exc, _crash_reason(call, exc), call)
            return False
        if call._spec.retry_exceptions and not call._state and self._retry(call, exc):
            # Ray reruns the call; it goes ahead of the calls still queued.
            mb = self.mailbox
            assert mb is not None
            mb.retry(call, mb.lane(call._spec.group))
            call._pos = QUEUED
            return False
        self.processed += 1
        self.failed += 1
        call._set_exception(exc)
        return True

    def _failure(self, call: Call, exc: BaseException) -> BaseException:
        """What the caller of a call whose method raised ``exc`` gets."""
        if isinstance(exc, _ActorExit):
            return died_error(self, "exited: the method called exit_actor()")
        if isinstance(exc, SystemExit):
            err: BaseException = died_error(self, f"exited: the method raised {exc!r}")
        elif isinstance(exc, _CancelledError):
            # Not the caller's own cancellation, nor ref.cancel(): say so.
            err = TaskCancelledError(
                f"{call._describe()} failed: the method raised CancelledError although "
                "nobody cancelled the call (an inner task's cancellation escaped?)"
            )
        elif isinstance(exc, StopIteration):
            # A future cannot hold it (it would end the awaiting coroutine): PEP 479.
            err = RuntimeError(f"{call._describe()} failed: the method raised StopIteration")
        else:
            return exc
        err.__cause__ = exc
        return err

    def _settle_late(self, call: Call, exc: BaseException | None, value: Any = None) -> None:
        """Settle the call that called ``exit_actor()`` once its method ends after a restart.

        The restart left that call to its runner; every other call of the old
        incarnation was requeued or failed, and is not touched here.
        """
        if call._pos != RUNNING or call._state:
            return
        self.processed += 1
        if exc is None:
            call._set_result(value)
        else:
            call._set_exception(self._failure(call, exc))

    def _resume(self) -> None:
        """Schedule a drain, for the calls behind one whose runner is ending."""
        if self.state is _ALIVE:
            self._schedule_drain()

    def _spawn(self, lane: Lane, call: Call | None) -> None:
        lane.running += 1
        # In a copy of the actor's context, not of the caller's, wherever it is spawned.
        # Not loop.create_task(): the loop's task factory would take the worker
        # for the actor whose code runs here (tasks.py), and it costs a call more.
        task = _Task(self._work(lane, call), loop=self.loop, context=self.host.ctx.copy())
        workers = self.workers
        if workers is None:
            workers = self.workers = {}
        workers[task] = call

    async def _work(self, lane: Lane, call: Call | None) -> None:
        # Given the loop, current_task() does not ask for the running one (getpid()).
        task = _current_task(self.loop)
        assert task is not None
        workers = self.workers
        assert workers is not None
        mb = self.mailbox
        assert mb is not None
        instance = self.instance
        incarnation = self.incarnation
        every = self.config.checkpoint_every
        current_actor.set(self)  # in this task's own context
        budget = BUDGET
        lingered = False
        try:
            while True:
                if call is None:
                    if lane.head is None and not lane.retries:
                        if lingered:
                            lane.caught = False
                            return
                        if not lane.caught and (lane.idle or self.processed < 2):
                            # Lingering costs a loop turn of this task: not for the
                            # actor's first call, nor beside another lingering
                            # worker, unless the last linger caught a call.
                            return
                        # Linger one loop iteration: a caller awaiting each call in
                        # turn submits its next one meanwhile, and this task takes
                        # it without a new task or another drain.
                        lingered = True
                        workers[task] = None
                        lane.idle += 1
                        try:
                            await YIELD
                        finally:
                            if self.incarnation == incarnation:
                                lane.idle -= 1
                        budget = BUDGET
                    else:
                        budget -= 1
                        if not budget:
                            budget = BUDGET
                            workers[task] = None
                            await YIELD
                    if self.state is not _ALIVE:
                        return
                    # The one place this task takes a call: Mailbox.pop, inlined.
                    if lane.retries:
                        call = lane.retries.popleft()
                    else:
                        call = lane.head
                        if call is None:
                            continue
                        rest = lane.rest
                        lane.head = rest.popleft() if rest else None
                        mb.depth -= 1
                        if mb.overflow:
                            mb._admit()
                    if lingered:
                        lane.caught = True
                    if lane.head is not None and lane.running < lane.limit and not self.scheduled:
                        # Calls queued while this task ran or lingered came to it
                        # alone: free slots must take the others now.
                        self.scheduled = True
                        self.loop.call_soon(self._drain, context=self.host.ctx)
                lingered = False
                if call._state:
                    # Cancelled between leaving the mailbox and this task's start.
                    call = None
                    continue
                workers[task] = call
                call._pos = RUNNING
                spec = call._spec
                try:
                    if spec.kind == ASYNC:
                        kwargs = call._kwargs
                        args = call._args
                        if kwargs:
                            value = await spec.func(instance, *args, **kwargs)
                        elif len(args) == 1:  # see _run_inline
                            value = await spec.func(instance, args[0])
                        elif args:
                            value = await spec.func(instance, *args)
                        else:
                            value = await spec.func(instance)
                    else:
                        if spec.kind == SYNC:
                            value = spec.func(instance, *call._args, **call._kwargs)
                        elif spec.kind == THREAD:
                            value = await self._in_thread(spec, call)
                        else:
                            from .stream import drive  # loaded by stream() already

                            await drive(self, call)
                            value = None
                        if type(value) is _CoroutineType:
                            returned_coroutine(spec, value)
                except BaseException as exc:
                    if self.incarnation != incarnation:
                        # Killed or restarted: the call was requeued or failed,
                        # unless it is the one that called exit_actor().
                        self._settle_late(call, exc)
                        if propagates(exc):
                            raise
                        return
                    if task.cancelling():
                        if call._state:
                            task.uncancel()  # ref.cancel(): the call is settled already
                        elif isinstance(exc, _CancelledError):
                            # Cancelled neither by ref.cancel() nor by the actor system.
                            self._die("had its worker task cancelled from outside the actor system")
                            raise
                    if self._raised(call, exc):
                        call._args = call._kwargs = None
                        if isinstance(exc, KeyboardInterrupt):
                            raise
                else:
                    if self.incarnation != incarnation:
                        # Restarted meanwhile: the call was requeued or failed,
                        # unless it is the one that called exit_actor().
                        self._settle_late(call, None, value)
                        return
                    self.processed += 1
                    if every and not call._state:
                        await self._checkpoint_after(call, value)
                    else:
                        call._set_result(value)
                    if call._state == FAILED and task.cancelling():
                        # ref.cancel() hit a method that swallowed the cancellation.
                        task.uncancel()
                    call._args = call._kwargs = None
                if self.incarnation != incarnation:
                    return
                call = None
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


def _crash_reason(call: Call, exc: BaseException) -> str:
    return (
        f"crashed: {call._spec.name}() raised {type(exc).__name__}: {exc} (a restart_on exception)"
    )
