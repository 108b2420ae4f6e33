"""The Ray actor that hosts one asyncactors actor, with the local engine.

``ActorHost`` is an async Ray actor: Ray runs its methods on one event loop
in the actor's process. It builds the user's class there as a local
``ActorCore`` of a ``WorkerSystem``, so that everything the local engine does
holds on Ray too: sync methods run inline on that loop, concurrency groups
are lanes on it (no locks needed), ``run_in_thread`` uses a thread of the
process, ``__post_create__``, ``__pre_destroy__``, checkpoints, ``exit_actor()``
and restarts in place behave as they do locally.

The owner's ``RayCore`` talks to it through three methods:

* ``call(token, seq, name, options, args, kwargs)``: calls, and the owner's
  orders (names starting with ``_``), run in ``seq`` order per ``token``;
* ``control(op, *args)``: questions answered at once (ready, checkpoint, ...);
* ``watch(seq)``: the lifecycle events after ``seq``, long-polled.

A method's exception comes back as a ``Raised`` value, not as a Ray task error.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Final

import ray

from ..._options import ACTOR_DEFAULTS
from ..._ref import OK as _OK
from ..._ref import ObjectRef
from ..._specs import ActorConfig, MethodSpec
from ..._system import ActorSystem
from ..._types import SYNC, ActorState, EventKind, StopReason
from .._local.call import Call
from .._local.core import ActorCore
from . import _remote
from ._common import BRING_UP, CANCEL, CRASH, DIE, REQUEST_STOP, STOP, TAKE_DOWN
from ._options import register_host_class, spec_for
from ._refs import Raised
from ._remote import rebuild_handle

__all__ = ["ActorHost"]

_ALIVE: Final = ActorState.ALIVE

# Events the owner stops watching after.
_FINAL: Final = ("stopped", "dead")
# How many events a host keeps for watchers that fell behind.
_LOG_KEEP: Final = 256
# How long a dying host waits for its __pre_destroy__ and cancelled calls.
_ORPHANS_GRACE_S: Final = 5.0


def _portable(exc: BaseException | None) -> BaseException | None:
    """``exc``, or a ``RuntimeError`` naming it if it cannot be pickled to the owner."""
    if exc is None:
        return None
    dumps: Any = ray.cloudpickle.dumps
    try:
        dumps(exc)
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


class RemoteParent:
    """The hosted actor's supervisor, as the local engine sees it: the owner's.

    A crash is reported to the owner, whose supervisor decides; restarts come
    back as orders (``_take_down``, ``_bring_up``, ``_die``).
    """

    is_root = False

    def __init__(self, host: ActorHost, restarts_after_exit: bool) -> None:
        self._host = host
        self._restarts_after_exit_flag = restarts_after_exit

    def _child_failed(self, child: Any, reason: str) -> None:
        self._host.push("failed", child, None, reason)

    def _restarts_after_exit(self, child: Any) -> bool:
        return self._restarts_after_exit_flag

    def _forget(self, child: Any) -> None:
        pass


class HostedCore(ActorCore):
    """The hosted actor: a local ``ActorCore`` whose handles pickle to its Ray actor."""

    __slots__ = ("ray_host",)

    ray_host: ActorHost

    def reduce_handle(self) -> Any:
        host = self.ray_host
        return (
            rebuild_handle,
            (host.ray_handle(), self.spec.cls, host.opts, self.actor_id, self.name, self.namespace),
        )

    def handle_released(self) -> None:
        # Its owner decides when it stops, not handles made inside its process.
        with self.host.lock:
            self.handles -= 1

    def run_now(self, spec: MethodSpec, args: Any, kwargs: dict[str, Any]) -> Call | None:
        """Run a call of a sync method at once if the drain would run it next
        anyway (the actor is ALIVE, its lane has room and nothing queued, no
        ref among the arguments); return it, or ``None`` to queue it instead.

        This saves the host's coroutine the loop turns of a queued call.
        """
        if (
            self.state is not _ALIVE
            or spec.kind != SYNC
            or self.refusing
            or self.stopping is not None
            or self.config.checkpoint_every
        ):
            return None
        mb = self.mailbox
        if mb is not None:
            if mb.overflow:
                return None
            lane = mb.default if spec.group is None else mb.lane(spec.group)
            if lane.head is not None or lane.retries or lane.running >= lane.limit:
                return None
        for a in args:
            if isinstance(a, ObjectRef):
                return None
        if kwargs:
            for a in kwargs.values():
                if isinstance(a, ObjectRef):
                    return None
        call = Call(self, spec, args, kwargs)
        # In the system's context, as the drain runs it (get_runtime_context()).
        self.ctx.run(self._run_marked, call)
        return call

    def _run_marked(self, call: Call) -> None:
        host = self.host
        previous, host.inline = host.inline, self
        try:
            self._run_inline(call)
        finally:
            host.inline = previous
        if self.stopping is not None:
            self._maybe_finish_stop()  # the method called exit_actor()
        elif not call._state:
            self._resume()  # queued to run again (retry_exceptions): the drain takes it


class WorkerSystem(ActorSystem):
    """The actor system of one actor's process: the hosted actor, and any actors
    it creates (Ray actors, supervised here)."""

    def __init__(self, ray_host: ActorHost, namespace: str) -> None:
        super().__init__(namespace=namespace, backend="ray")
        self._ray_host = ray_host
        self._hosted: HostedCore | None = None

    def _emit(self, kind: EventKind, core: Any, exc: BaseException | None = None) -> None:
        if core is self._hosted and core is not None:
            self._ray_host.push(kind, core, exc)
        super()._emit(kind, core, exc)


class ActorHost:
    """Hosts ``user_class`` (set on the subclass made for each actor class)."""

    user_class: ClassVar[type]

    def __init__(self, setup: tuple[Any, ...]) -> None:
        (actor_id, name, namespace, opts, args, kwargs, restarts, incarnation, after_exit, key) = (
            setup
        )
        loop = asyncio.get_running_loop()
        _remote.home[:] = [loop]
        self._loop = loop
        self.opts: dict[str, Any] = opts
        spec = spec_for(self.user_class)
        self._methods = spec.methods
        # Per caller token: the next seq to run, calls waiting for their turn,
        # and seqs Ray failed before they got here.
        self._expected: dict[int, int] = {}
        self._parked: dict[tuple[int, int], asyncio.Future[None]] = {}
        self._skips: set[tuple[int, int]] = set()
        # Calls enqueued and not finished, for cancellation.
        self._calls: dict[tuple[int, int], ObjectRef[Any]] = {}
        self._log: list[tuple[Any, ...]] = []
        self._base = 0
        self._log_waiter: asyncio.Future[None] | None = None
        self._final_kind = "dead"
        self._ray_handle: Any = None
        system = self._system = WorkerSystem(self, namespace)
        system._bind(loop)
        config = ActorConfig(spec, {**ACTOR_DEFAULTS, **opts})
        core = self._core = HostedCore(
            system._host, spec, actor_id, config, name, namespace, args, kwargs
        )
        core.ray_host = self
        core.supervisor = RemoteParent(self, after_exit)
        core.restarts = restarts
        core.incarnation = incarnation
        if key is not None:
            # The owner's key: an unnamed actor's is random, and must not change
            # when the actor restarts in a new process.
            core._cold().key = key
        system._hosted = core
        key = ray.get_runtime_context().get_actor_id()
        if key is not None:
            _remote.hosted[key] = core
        core.start()

    def ray_handle(self) -> Any:
        """This actor's own Ray handle."""
        if self._ray_handle is None:
            self._ray_handle = ray.get_runtime_context().current_actor
        return self._ray_handle

    # -- calls --------------------------------------------------------------------

    async def call(self, message: list[Any]) -> Any:
        """Run one call (``[token, seq, name, options, args, kwargs]``) of the caller
        ``token`` in its turn; return its value or ``Raised``."""
        token, seq, name, opts, args, kwargs = message
        expected = self._expected.get(token, 0)
        if seq == expected:
            self._expected[token] = seq + 1
            if self._parked or self._skips:
                self._wake(token, seq + 1)
        elif seq > expected:
            await self._turn(token, seq)
            self._expected[token] = seq + 1
            self._wake(token, seq + 1)
        # else: it arrives after its turn was skipped; no order is left to keep.
        if name[0] == "_":
            outcome = self._order(name, token, args)
            if name == DIE:
                await self._after_orphans()
            return outcome
        spec = self._methods[name]
        if opts is not None:
            spec = spec.with_options(
                {
                    "concurrency_group": opts[0],
                    "max_task_retries": opts[1],
                    "retry_exceptions": opts[2],
                }
            )
        core = self._core
        local = core.run_now(spec, args, kwargs)
        if local is not None and local._state:
            # A sync method that ran at once, as the actor's drain would have run it.
            if local._state == _OK:
                return local._value
            local._retrieved()
            assert local._exc is not None
            return Raised.of(local._exc)
        if local is None:
            local = core.call(spec, args, kwargs)
        key = (token, seq)
        calls = self._calls
        calls[key] = local
        try:
            return await local
        except Exception as exc:
            return Raised.of(exc)
        finally:
            del calls[key]

    async def _turn(self, token: int, seq: int) -> None:
        fut = self._loop.create_future()
        self._parked[(token, seq)] = fut
        await fut

    def _wake(self, token: int, seq: int) -> None:
        skips = self._skips
        while (token, seq) in skips:
            skips.discard((token, seq))
            seq += 1
            self._expected[token] = seq
        fut = self._parked.pop((token, seq), None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _skip(self, token: int, seq: int) -> None:
        """Ray failed call ``seq`` before it got here: do not wait for it."""
        expected = self._expected.get(token, 0)
        if seq == expected:
            self._expected[token] = seq + 1
            self._wake(token, seq + 1)
        elif seq > expected:
            self._skips.add((token, seq))

    def _order(self, op: str, token: int, args: tuple[Any, ...]) -> Any:
        """One of the owner's orders, in its turn among the calls."""
        core = self._core
        try:
            if op == TAKE_DOWN:
                core._take_down(args[0])
            elif op == BRING_UP:
                core._bring_up()
                core.restarts = args[0]
            elif op == DIE:
                core._die(args[0], pre_destroy=args[1])
            elif op == CRASH:
                core.kill(no_restart=False)
            elif op == REQUEST_STOP:
                core.request_stop(StopReason(args[0]))
            elif op == STOP:
                # Its caller hears when the actor is DEAD, from the owner.
                core.submit_stop(StopReason(args[0]))._retrieved()
            elif op == CANCEL:
                call = self._calls.get((token, args[0]))
                if call is not None:
                    call.cancel()
            else:
                raise ValueError(f"unknown order {op!r}")
        except Exception as exc:
            return Raised.of(exc)
        return None

    async def _after_orphans(self) -> None:
        orphans = self._system._orphans
        if orphans:
            await asyncio.wait(list(orphans), timeout=_ORPHANS_GRACE_S)

    # -- questions ----------------------------------------------------------------

    async def control(self, op: str, *args: Any) -> Any:
        """Answer the owner (or another handle's holder) at once."""
        core = self._core
        try:
            if op == "ready":
                await core.wait_ready()
            elif op == "checkpoint":
                await core.checkpoint()
            elif op == "stopped":
                await core.stopped()
                return (self._final_kind, core.reason, _portable(core.death))
            elif op == "describe":
                return (self.user_class, self.opts, core.actor_id, core.name, core.namespace)
            elif op == "skip":
                self._skip(*args)
            else:
                raise ValueError(f"unknown control {op!r}")
        except Exception as exc:
            return Raised.of(exc)
        return None

    # -- events -------------------------------------------------------------------

    def push(
        self, kind: str, core: Any, exc: BaseException | None, reason: str | None = None
    ) -> None:
        """Record a lifecycle event of the hosted actor for its watchers."""
        kind = str(kind)  # a plain str: the owner's process reads it
        if kind in _FINAL:
            self._final_kind = kind
        log = self._log
        log.append(
            (
                kind,
                core.incarnation,
                core.restarts,
                reason if reason is not None else core.reason,
                _portable(exc),
            )
        )
        if len(log) > 2 * _LOG_KEEP:
            del log[:_LOG_KEEP]
            self._base += _LOG_KEEP
        waiter = self._log_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def watch(self, seq: int) -> tuple[int, list[tuple[Any, ...]]]:
        """The events from number ``seq`` on (from now if ``seq < 0``), once there are any."""
        while True:
            end = self._base + len(self._log)
            if seq < 0:
                seq = end
            if seq < end:
                return end, self._log[max(seq - self._base, 0) :]
            waiter = self._log_waiter
            if waiter is None or waiter.done():
                waiter = self._log_waiter = self._loop.create_future()
            await waiter


register_host_class(ActorHost)
