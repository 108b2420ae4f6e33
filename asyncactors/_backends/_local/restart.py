"""Crashes and restarts: taking an incarnation down, retrying its calls, bringing up the next.

A crash takes the actor down (RESTARTING) and asks its supervisor, which
brings it up again after a backoff, or lets it die. The mailbox is kept: calls
queued survive in order, and the calls the crash interrupted run again first
within ``max_task_retries``, as Ray retries a call whose worker process died.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any, Final

from ..._ref import call_soon_from_afar
from ..._types import STREAMS, ActorState, EventKind
from .base import CoreBase
from .call import QUEUED, Call

if TYPE_CHECKING:
    from ..._specs import ActorConfig

__all__ = ["Restarts", "retry_allowed"]

_get_running_loop = asyncio._get_running_loop
_current_task = asyncio.current_task

_PENDING: Final = ActorState.PENDING_CREATION
_RESTARTING: Final = ActorState.RESTARTING
_DEAD: Final = ActorState.DEAD


class Restarts(CoreBase):
    """Kill, crash, retry, take down and bring up."""

    __slots__ = ()

    def kill(self, *, no_restart: bool = True, by: str = "asyncactors.kill") -> None:
        """Stop now: running, queued and later calls fail with ``ActorDiedError``.

        With ``no_restart=False`` this is a crash instead, and the supervisor
        may restart the actor; queued calls then survive. Nothing happens if the
        actor's event loop is closed: nothing runs there any more.
        """
        if _get_running_loop() is not self.loop:
            call_soon_from_afar(
                self.loop,
                functools.partial(self.kill, no_restart=no_restart, by=by),
                context=self.host.ctx,
            )
            return
        if no_restart:
            self._die(f"was killed by {by}()")
        elif self.state is not _DEAD:
            self.death = None
            self._crash(None, f"was killed by {by}(no_restart=False)")

    def _crash(self, exc: BaseException | None, reason: str, crashed: Call | None = None) -> None:
        """The actor failed: take it down, then let its supervisor decide."""
        if self.state is _DEAD or self.state is _RESTARTING:
            return
        if exc is not None:
            self.death = exc
        self.host.emit(EventKind.CRASHED, self, exc)
        self._take_down(reason, crashed, exc)
        self._ask_supervisor(reason)

    def _retry(self, call: Call, exc: BaseException | None) -> bool:
        """Whether ``call`` may run again (Ray's rules); counts the attempt if so.

        ``exc`` is what its method raised, checked against ``retry_exceptions``;
        ``None`` for a call a crash interrupted, retried within ``max_task_retries``
        alone.
        """
        return retry_allowed(call, self.config, exc)

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
            # A crash is a system failure, as a dead worker process is for Ray:
            # retried under max_task_retries whatever retry_exceptions says.
            if self._retry(crashed, None):
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
                    self.host.keep_task(task)
        self._end_tasks()
        mb = self.mailbox
        if mb is not None:
            for lane in mb.lanes:
                lane.running = lane.idle = 0
            for call in reversed(again):
                mb.retry(call, mb.lane(call._spec.group))
                call._pos = QUEUED
        self.instance = None
        self.host.emit(EventKind.RESTARTING, self, exc)

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
        self._schedule_drain()

    def _hold(self) -> None:
        """Wait, never started, for a supervisor that is down; ``_bring_up`` starts it.

        It is RESTARTING meanwhile, like its siblings: calls queue, nothing runs.
        """
        self.state = _RESTARTING
        self.scheduled = False


def retry_allowed(call: Any, config: ActorConfig, exc: BaseException | None) -> bool:
    """Whether ``call`` may run again (Ray's rules: the call's, then the method's,
    then the actor's ``max_task_retries``; for what its method raised,
    ``retry_exceptions``); counts the attempt if so. Shared with the Ray engine."""
    spec = call._spec
    if spec.kind in STREAMS:
        return False  # its consumer may have items already: a rerun would repeat them
    limit = spec.max_task_retries
    if limit is None:
        limit = config.max_task_retries
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
