"""``RayCore``: an actor this process created on Ray and supervises. How the
caller's side of the Ray engine works (``RemoteCore``, in ``_remote``, is a
handle to a Ray actor this process does not own).

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
import functools
from collections import deque
from typing import TYPE_CHECKING, Any, Final

from ray.exceptions import ActorUnavailableError, RayActorError, RayError

from ..._exceptions import ActorAlreadyExistsError
from ..._ref import logger
from ..._specs import ActorConfig, ClassSpec
from ..._stores import checkpoint_key
from ..._types import EventKind, StopReason
from .._local.restart import retry_allowed
from .._supervised import Supervised
from .._waiters import Waiters
from ._calls import _BACKLOG, RayCall
from ._common import (
    _ALIVE,
    _DEAD,
    _PENDING,
    _RESTARTING,
    BRING_UP,
    DIE,
    REQUEST_STOP,
    TAKE_DOWN,
    _actor_key,
    _alive,
    _get_running_loop,
    _kill,
    _owners,
    _tokens,
)
from ._options import _ray_class, _specs, host_options, ray_scheduling
from ._refs import death_reason, from_ray, killed_by_ray, on_ray_result
from ._remote import Passable
from ._sending import Sending

if TYPE_CHECKING:
    from ..._protocols import Host, Parent
__all__ = ["RayCore"]

# How long a dying actor's host may run __pre_destroy__ before it is killed.
_PRE_DESTROY_GRACE_S: Final = 5.0
# How long a restart waits for Ray to free the name of the dead process.
_NAME_WAIT_S: Final = 0.1
_NAME_WAIT_TRIES: Final = 50
# How soon to ask again about an actor Ray has lost touch with.
_REWATCH_S: Final = 0.2
# How long a host that stopped may take to send its last replies before it is killed.
_RETIRE_GRACE_S: Final = 1.0


class RayCore(Waiters, Supervised, Passable, Sending):
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
        # Its own supervisor, if it was given one (see Supervised).
        self.own_supervisor: Parent | None = None
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
        setup = (
            self.actor_id,
            self.name,
            self.namespace,
            self._host_opts,
            self.init_args,
            self.init_kwargs,
            self.restarts,
            self.incarnation,
            self._exit_restarts(),
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
        waiters, self.ready_waiters = self.ready_waiters, None
        self._settle_waiters(waiters)

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
        waiters, self.ready_waiters = self.ready_waiters, None
        self._settle_waiters(waiters, self._dead_error)
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
        self._leave_supervisor()
        self.host.unregister(self)
        store = self.config.store
        if store is not None and self.name is None and self._store_key and kind != "left":
            # An unnamed actor's key is never used again.
            from .._local.checkpoint import _delete_quietly

            self.host.keep_task(self.loop.create_task(_delete_quietly(store, self._store_key)))
        if emit:
            self.host.emit(EventKind(kind), self, self.death)
        waiters, self.stop_waiters = self.stop_waiters, None
        self._settle_waiters(waiters)

    # -- the EngineCore protocol --------------------------------------------------

    def kill(self, *, no_restart: bool = True, by: str = "asyncactors.kill") -> None:
        """Stop now (``ray.kill``): running, queued and later calls fail with
        ``ActorDiedError``. With ``no_restart=False`` it is a crash inside the
        actor instead, and its supervisor may restart it; queued calls survive.
        """
        if _get_running_loop() is not self.loop:
            self.loop.call_soon_threadsafe(
                functools.partial(self.kill, no_restart=no_restart, by=by)
            )
            return
        if no_restart:
            self._die(f"was killed by {by}()", now=True)
        elif self.state is not _DEAD and self.state is not _RESTARTING:
            # A crash decided here, at once, as locally: its supervisor acts
            # (siblings too) before any later call reaches them.
            reason = f"was killed by {by}(no_restart=False)"
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
