"""An actor's life: creation, ``__post_create__``, graceful and forced stops, hooks.

Creation runs ``__init__`` inline in the first drain, then (when there is a
checkpoint to restore or a ``__post_create__``) a hook task; the actor is ALIVE
after both. A graceful stop refuses new calls (or, once every handle is gone,
takes none), lets accepted calls finish, saves a final checkpoint, runs
``__pre_destroy__`` and is DEAD. ``_die`` is the forced stop.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Literal

from ..._context import current_actor
from ..._exceptions import ActorDiedError, CheckpointCorruptError, _ActorExit
from ..._ref import logger
from ..._types import ActorState, EventKind, StopReason
from .base import CoreBase
from .call import Call, StopCall
from .common import STOP_REASONS, STOPPED_BY, EngineState, died_error, local_state, propagates
from .dispatch import Dispatch

__all__ = ["RESTORING", "Lifecycle"]

if TYPE_CHECKING:
    from ..._protocols import Host

_get_running_loop = asyncio._get_running_loop
# The engine's tasks are made so, not by loop.create_task(): the loop's task
# factory would take a task made while an actor's code runs for the actor's (tasks.py).
_Task = asyncio.Task
_get_ident = threading.get_ident
_current_task = asyncio.current_task
_CancelledError = asyncio.CancelledError

_PENDING: Final = ActorState.PENDING_CREATION
_ALIVE: Final = ActorState.ALIVE
_RESTARTING: Final = ActorState.RESTARTING
_DEAD: Final = ActorState.DEAD
# The module of streams, which makes every stream call.
_STREAM: Final = f"{__package__}.stream"

# The step of creation that restores the checkpoint, as errors name it.
RESTORING: Final = "restoring its checkpoint"


class Lifecycle(CoreBase):
    """Creation, stopping and the lifecycle hooks."""

    __slots__ = ()

    def request_exit(self) -> None:
        """``exit_actor()`` was called in this actor's code, on any thread."""
        if _get_running_loop() is self.loop:
            self._exit(StopReason.EXIT)
        else:  # a method running in a thread (run_in_thread=True)
            self.loop.call_soon_threadsafe(self._exit, StopReason.EXIT, context=self.host.ctx)

    def _create(self) -> bool:
        """Run ``__init__`` (inline); return whether the actor is ALIVE now."""
        host = self.host
        previous, host.inline = host.inline, self
        try:
            kwargs = self.init_kwargs
            if kwargs:
                self.instance = self.spec.cls(*self.init_args, **kwargs)
            else:  # not ** of the shared empty mapping: that copies it into a dict
                self.instance = self.spec.cls(*self.init_args)
        except BaseException as exc:
            self._creation_failed(exc, "__init__")
            if isinstance(exc, KeyboardInterrupt):
                raise
            return False
        finally:
            host.inline = previous
        if self.stopping is not None and self._exited_in("__init__"):
            return False
        if self.spec.post_create is not None or self.config.store is not None:
            self._spawn_hook(self._finish_creation())
            return False
        self._became_alive()
        return True

    def start(self) -> None:
        """Schedule creation, from any thread: ``__init__`` runs in the first drain.

        The actors started on the loop's thread in one turn of the loop are created
        by one callback, in order (see ``run_batch``).
        """
        self.scheduled = True
        host = self.host
        if _get_ident() == host.thread_id:
            engine = host.local or local_state(host)
            starting = engine.starting
            starting.append(self)
            if len(starting) == 1:
                try:
                    self.loop.call_soon(_start_batch, engine, context=host.ctx)
                except RuntimeError:
                    # The loop is closed: no batch will run, so none may wait for one.
                    starting.clear()
                    raise
        else:
            self.loop.call_soon_threadsafe(self._drain, context=host.ctx)

    def park(self) -> None:
        """Stay PENDING_CREATION until ``start()``: calls queue, and nothing runs.

        For an actor waiting for resources: created once they are granted.
        """
        # Marked as scheduled with no drain scheduled: submitting a call schedules none.
        self.scheduled = True

    def _spawn_hook(self, coro: Any) -> None:
        """Run a lifecycle hook in a task counted among the workers while it runs."""
        self._add_worker(_Task(self._run_hook(coro), loop=self.loop, context=self._hook_context()))

    def _add_worker(self, task: asyncio.Task[None]) -> None:
        """Count ``task`` among the workers: a forced stop cancels it, a graceful one waits."""
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
        ctx = self.host.ctx.copy()
        ctx.run(current_actor.set, self)
        return ctx

    async def _finish_creation(self) -> None:
        """Restore the checkpoint and run ``__post_create__``, off the drain."""
        incarnation = self.incarnation
        hook = RESTORING
        try:
            if self.config.store is not None:
                await self._restore()
            hook = "__post_create__"
            if self.spec.post_create is not None:
                await self.spec.post_create(self.instance)
        except BaseException as exc:
            escaping = propagates(exc)
            if self.incarnation == incarnation:
                cancelled = escaping and isinstance(exc, _CancelledError)
                self._creation_failed(
                    died_error(self, f"was cancelled in {hook}") if cancelled else exc, hook
                )
            if escaping:
                raise
        else:
            if self.incarnation == incarnation and self.state is _PENDING:
                if self.stopping is not None and self._exited_in(hook):
                    return
                self._became_alive()
                self._schedule_drain()

    def _became_alive(self) -> None:
        self.state = _ALIVE
        # death and restarts are ColdFields: read through the ColdState, if any.
        cold = self.cold
        rebuilt = False
        if cold is not None:
            cold.death = None
            rebuilt = bool(cold.restarts or cold.rollbacks)
        host = self.host
        if host.watched:  # an events() stream is open: nothing to build otherwise
            host.emit(EventKind.RESTARTED if rebuilt else EventKind.STARTED, self)
        waiters = self.ready_waiters
        if waiters is not None:
            self.ready_waiters = None
            self._settle_waiters(waiters)

    def _creation_failed(self, exc: BaseException, hook: str) -> None:
        if self.state is _DEAD:
            return
        if isinstance(exc, _ActorExit | SystemExit):
            how = "via exit_actor()" if isinstance(exc, _ActorExit) else f"by raising {exc!r}"
            self.death = None
            # __pre_destroy__ runs if there is an instance: __init__ returned.
            self._die(f"exited in {hook} {how}", pre_destroy=True)
            return
        if hook == RESTORING and isinstance(exc, CheckpointCorruptError):
            # No restart can mend the bytes: fail now, and every waiting caller with it.
            self.death = exc
            self._die(
                f"failed to start: its checkpoint is corrupt: {exc} "
                "(on_corrupt_checkpoint='start_fresh' starts from __init__ instead)"
            )
            return
        self._crash(exc, f"failed to start: {hook} raised {type(exc).__name__}: {exc}")

    def _exited_in(self, hook: str) -> bool:
        """Whether ``hook`` called exit_actor() and caught its exception; stop if so."""
        if self.stopping == StopReason.EXIT:
            self._creation_failed(_ActorExit(), hook)
            return True
        return False

    def _refusal(self) -> ActorDiedError:
        if self.state is _DEAD:
            return self._dead_error()
        if self.stopping is StopReason.SHUTDOWN:
            return died_error(
                self,
                "is not accepting calls: its actor system is being shut down",
                by_shutdown=True,
            )
        if self.stopping is StopReason.SUPERVISOR:
            return died_error(self, "is not accepting calls: its supervisor is stopping it")
        if self.stopping in STOPPED_BY:
            return died_error(self, f"is stopping: {STOPPED_BY[self.stopping]} was called")
        if self.stopping == StopReason.SYSTEM_EXIT:
            return died_error(self, "is stopping: a method raised SystemExit")
        return died_error(self, "is stopping: it called exit_actor()")

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
                    self.host.keep_task(task)
        self._end_tasks()
        waiters, self.ready_waiters = self.ready_waiters, None
        self._settle_waiters(waiters, self._dead_error)
        self.instance = None
        self._stopped_for_good(EventKind.DEAD)

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
        self._fail_batches(reason)

    def _exit(self, how: StopReason) -> None:
        """A normal stop (``how``: exit_actor() or SystemExit), from the moment it is asked for.

        The actor takes no further call, whatever the method then does with the
        exception. It stops once its running calls have finished, or, as a
        permanent child of a supervisor, restarts at once (unless a stop is under
        way already). During ``__init__`` or ``__post_create__`` creation acts on
        it when the hook returns.
        """
        stopping = self.stopping
        if stopping in (StopReason.EXIT, StopReason.SYSTEM_EXIT) or self.finishing:
            return
        state = self.state
        why = STOP_REASONS[how]
        if state is _ALIVE and stopping is None and self._exit_restarts():
            workers = self.workers
            task = _current_task()
            if workers and task in workers:
                # The restart leaves the calling method's call to its worker,
                # which settles it when the method ends.
                workers[task] = None
            self._take_down(why)
            self._ask_supervisor(why)
            return
        if state is not _ALIVE and state is not _PENDING:
            return
        self._stop_after_running(how, f"{why} before running the call")

    def _stop_after_running(self, why: StopReason, reason: str) -> None:
        """Refuse new calls, fail the waiting ones with ``reason``, and stop once
        the running ones finish."""
        self.refusing = True
        self.stopping = why
        self._fail_waiting(reason)
        if self.state is _ALIVE and self.host.inline is not self and not self._busy():
            # A runner of this actor's calls finishes the stop when it ends; with
            # none (exit_actor() in a task a method left behind), a drain does.
            self._schedule_drain()

    def submit_stop(self, via: StopReason) -> Call:
        """Queue a graceful stop behind the calls already submitted (any thread).

        When it runs, the actor refuses new calls, fails the calls still waiting
        (in the mailbox, or for ref arguments) with ``ActorDiedError``, lets the
        running ones finish, runs ``__pre_destroy__`` and is DEAD for good: no
        supervisor restarts it. The returned ref resolves to ``None`` then; it
        fails with ``ActorDiedError`` if the actor died before the stop ran.
        """
        call = StopCall(self, via)
        if _get_running_loop() is self.loop:
            self._submit(call)
            return call
        return self._submit_threadsafe(call)

    def request_stop(self, why: StopReason) -> None:
        """Stop gracefully once every accepted call has finished.

        ``why`` is ``"shutdown"`` or ``"supervisor"`` (refuse new calls), or
        ``"released"`` (all handles are gone).
        """
        if self.state is _DEAD or self.stopping is not None:
            return
        self.stopping = why
        if why is not StopReason.RELEASED:
            self.refusing = True
            if self.spec.has_streams:
                # An open stream implies its module is loaded (it made the call):
                # a class whose generator methods were never called loads none.
                stream = sys.modules.get(_STREAM)
                if stream is not None:
                    stream.end_streams(self, why)
        # Items waiting for a batch run now, as queued calls do.
        self._flush_batches()
        self._maybe_finish_stop()

    def pending_calls(self) -> int:
        """Calls submitted and not finished (for diagnostics, not the hot path)."""
        mb = self.mailbox
        n = 0
        if mb is not None:
            n = mb.waiting + sum(lane.running - lane.idle for lane in mb.lanes)
        if self.deps_waiting:
            n += len(self.deps_waiting)
        return n

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
        host = self.host
        previous, host.inline = host.inline, self
        try:
            result = self.spec.pre_destroy(self.instance)
        except BaseException as exc:
            self._hook_raised(exc)
            return None
        finally:
            host.inline = previous
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
            task = _Task(self._logged(coro), loop=self.loop, context=self._hook_context())
            self.host.keep_task(task)

    async def _logged(self, coro: Any) -> None:
        try:
            await coro
        except BaseException as exc:
            self._hook_raised(exc)

    def _hook_raised(self, exc: BaseException) -> None:
        """Log what ``__pre_destroy__`` raised; re-raise only what must propagate.

        exit_actor() and SystemExit ask for the stop already under way.
        """
        if propagates(exc):
            raise exc
        if not isinstance(exc, _ActorExit | SystemExit):
            logger.error("__pre_destroy__ of %s raised", self.describe(), exc_info=exc)

    async def _await_pre_destroy(self, coro: Any) -> None:
        try:
            await self._logged(coro)
        finally:
            self._finish()

    def _finish(self) -> None:
        if self.state is _DEAD:
            return
        ending = self._end_tasks()
        if ending:
            # __pre_destroy__ has run: a forced stop meanwhile must not run it again.
            self.instance = None
            ctx = self.host.ctx.copy()
            self._add_worker(_Task(self._finish_after(ending), loop=self.loop, context=ctx))
            return
        self.state = _DEAD
        self.incarnation += 1
        self.refusing = True
        self.reason = STOP_REASONS[self.stopping] if self.stopping else "stopped"
        self.instance = None
        self._stopped_for_good(EventKind.STOPPED)

    async def _finish_after(self, ending: list[asyncio.Future[Any]]) -> None:
        """Stop once the actor's cancelled tasks have ended (their ``finally`` ran).

        A shutdown's timeout bounds the wait: the actor is then forced down,
        which cancels this task.
        """
        try:
            await asyncio.wait(ending)
        finally:
            # After a forced stop this is another dict: no-op.
            if self.workers is not None:
                self.workers.pop(_current_task(), None)  # type: ignore[arg-type]
        self._finish()

    # -- the tasks the actor's code started (see tasks.py) ---------------------------

    def _own_task(self, task: asyncio.Future[Any]) -> None:
        """``task`` was made while this actor's code ran: it ends with this incarnation."""
        if self.state is _DEAD:
            # Made by the code of a dead incarnation (a cancelled task's finally):
            # the system awaits it at shutdown, and cancels it after the grace.
            self.host.keep_task(task)  # type: ignore[arg-type]
            return
        owned = self.owned
        if owned is None:
            owned = self.owned = set()
        owned.add(task)
        task.add_done_callback(owned.discard)

    def _end_tasks(self) -> list[asyncio.Future[Any]]:
        """Cancel the tasks this incarnation's code started; return those not done.

        The system keeps them until they have ended: its shutdown awaits them.
        """
        owned = self.owned
        if not owned:
            return []
        self.owned = None
        ending = [task for task in owned if not task.done()]
        keep = self.host.keep_task
        for task in ending:
            task.cancel()
            keep(task)  # type: ignore[arg-type]
        return ending

    def _stopped_for_good(self, kind: EventKind) -> None:
        self._leave_supervisor()
        host = self.host
        host.unregister(self)
        with host.lock:
            # After the state is DEAD, so that no thread counts this actor again.
            engine = host.local
            if engine is not None:
                engine.foreign.pop(self, None)
        if self.config.store is not None and self.name is None:
            self._drop_checkpoint()  # an unnamed actor's key is never used again
        self.host.emit(kind, self, self.death)
        waiters, self.stop_waiters = self.stop_waiters, None
        self._settle_waiters(waiters)

    # Handles are counted without a lock on the loop's thread, the only one that
    # writes ``handles``; other threads count in the engine's ``foreign`` counts
    # (see local_state), under the host's lock. The sum is the number of handles.
    # Each side writes its own count before it reads the other's, so of a last
    # release on each side at once, one at least sees the sum at zero;
    # ``_released`` checks it again on the loop's thread.

    def handle_added(self) -> None:
        """A new ``ActorHandle`` refers to this actor (any thread)."""
        host = self.host
        if _get_ident() == host.thread_id:
            self.handles += 1
        else:
            self._count_foreign(host, 1)

    def handle_released(self) -> None:
        """An ``ActorHandle`` was garbage-collected (any thread)."""
        get_ident = _get_ident
        if get_ident is None:
            # The interpreter is clearing this module at exit (handles of modules
            # loaded before the engine outlive it): no loop is left to stop on.
            return
        host = self.host
        if get_ident() == host.thread_id:
            left = self.handles = self.handles - 1
            engine = host.local or local_state(host)
            foreign = engine.foreign
            if foreign:
                left += foreign.get(self, 0)
            on_loop = True
        else:
            left = self._count_foreign(host, -1)
            on_loop = False
        if left or self.name is not None or self.config.detached or self.state is _DEAD:
            return
        try:
            if on_loop:
                released = engine.released
                released.append(self)
                if len(released) == 1:
                    self.loop.call_soon(_release_batch, engine, context=host.ctx)
            else:
                self.loop.call_soon_threadsafe(self._released, context=host.ctx)
        except RuntimeError:  # the loop is closed: nothing left to stop
            if on_loop:
                engine.released.clear()

    def _count_foreign(self, host: Host, n: int) -> int:
        """Add ``n`` to this actor's handle count off the loop's thread; return the sum
        of both counts (1 for a DEAD actor, which counts no more)."""
        with host.lock:
            if self.state is _DEAD:
                # Its entry is gone (see _stopped_for_good): none is made again.
                return 1
            foreign = local_state(host).foreign
            count = foreign.get(self, 0) + n
            if count:
                foreign[self] = count
            else:
                foreign.pop(self, None)
            return self.handles + count

    def _released(self) -> None:
        if self.handles + local_state(self.host).foreign.get(self, 0) == 0:
            self.request_stop(StopReason.RELEASED)


def _start_batch(engine: EngineState) -> None:
    batch, engine.starting = engine.starting, []
    run_batch(batch, Dispatch._drain, engine, "starting")


def _release_batch(engine: EngineState) -> None:
    batch, engine.released = engine.released, []
    run_batch(batch, Lifecycle._released, engine, "released")


def run_batch(
    batch: list[CoreBase],
    step: Callable[[Any], None],
    engine: EngineState,
    which: Literal["starting", "released"],
) -> None:
    """Take ``step`` of each actor of ``batch``, as its own callback would.

    What one step raises does not keep the others from running: an ``Exception``
    goes to the loop's exception handler, as a callback's does; anything else
    propagates once the actors not yet stepped are scheduled again, at the head
    of the ``which`` list of ``engine``.
    """
    for i, core in enumerate(batch):
        try:
            step(core)
        except Exception as exc:
            core.loop.call_exception_handler(
                {"message": f"{step.__qualname__}() of {core.describe()} raised", "exception": exc}
            )
        except BaseException:
            rest = batch[i + 1 :]
            if rest:
                again: list[CoreBase] = getattr(engine, which)
                setattr(engine, which, rest + again)
                if not again:
                    runner = _start_batch if which == "starting" else _release_batch
                    core.loop.call_soon(runner, engine, context=core.host.ctx)
            raise
