"""``Sending``: how calls go to one Ray actor: the window of ``mailbox_size``
calls in flight, their order, retries sent again, and ref arguments resolved here first."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from typing import Any

from ray.exceptions import RayActorError, RayError

from ..._exceptions import MailboxFullError, PendingCallsLimitExceeded
from ..._ref import ObjectRef, logger
from ..._specs import MethodSpec
from ..._types import StopReason
from .._local.call import stop_spec
from .._local.common import died_error as _died
from .._waiters import take_ref_values, wait_admitted
from ._caller import _Caller
from ._calls import _BACKLOG, _DEPS, _NEW, _SENT, RayCall, _relay_dep, _StopCall, _travels
from ._common import CANCEL, STOP, _get_running_loop
from ._refs import Raised, first_line, on_ray_result

__all__ = ["Sending"]


class Sending(_Caller):
    """Submitting and sending calls: a mixin over ``_Caller`` of every core."""

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
        if call._pos != _SENT and not call._state:
            await wait_admitted(call, loop)
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
        exc = take_ref_values(call, _travels)
        if exc is not None:
            call._set_exception(exc)
            self._after_settle()
            return
        if self.refusing and self.stopping != "shutdown":
            call._set_exception(self._refusal())
            return
        self._enqueue(call)
