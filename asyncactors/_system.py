"""``ActorSystem``: owns actors, names and shutdown; finding the current system."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from ._backends import get_backend
from ._context import RunningActor, current_system
from ._exceptions import ActorAlreadyExistsError
from ._options import check_block_warning, check_capacity, check_timeout
from ._ref import logger
from ._specs import EAGER_BUDGET, ActorConfig, ClassSpec
from ._types import ActorState, EventKind, StopReason

if TYPE_CHECKING:
    from ._events import EventStream
    from ._handle import ActorHandle
    from ._info import ActorInfo
    from ._metrics import ActorStatistics
    from ._protocols import Backend, EngineCore
    from ._resources import ResourcePool
    from ._retired import Retired
    from ._statistics import SystemStatistics
    from ._stuck import StuckCall
    from ._supervisor import Supervisor
    from ._watchdog import Watchdog

__all__ = [
    "ActorSystem",
    "check_actor_lookup",
    "check_namespace",
    "default_system",
    "init",
    "shutdown",
]

_ids = itertools.count(1)
_new = object.__new__
_defaults: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ActorSystem] = (
    weakref.WeakKeyDictionary()
)
_global_default: ActorSystem | None = None
# The system start_background() runs on its own loop thread: the default of
# threads without a loop, and of running loops that have no default of their own.
_background: ActorSystem | None = None
_live_systems: weakref.WeakSet[ActorSystem] = weakref.WeakSet()

# How many dead actors list_actors() still reports.
_GRAVEYARD_SIZE = 1000


def _marking_loop(loop: asyncio.AbstractEventLoop) -> Any:
    """``loop`` if its ``_thread_id`` names the thread running it (``None`` when it is not
    running), as asyncio's own loops' does; else ``None`` (uvloop's has no such field)."""
    base = asyncio.BaseEventLoop
    if isinstance(loop, base) and type(loop).is_running is base.is_running:
        return loop
    return None


def check_namespace(namespace: object) -> None:
    """Refuse a namespace that is not a non-empty str, with Ray's exception types.

    Raises:
        TypeError: not a str.
        ValueError: the empty string.
    """
    if not isinstance(namespace, str):
        raise TypeError(f"namespace must be a str, got {type(namespace).__name__}")
    if not namespace:
        raise ValueError("'' is not a valid namespace; pass None for the system's namespace")


def check_actor_lookup(name: object, namespace: object) -> None:
    """Check ``get_actor()``'s arguments, with Ray's exception types.

    Raises:
        ValueError: ``name`` is empty or None, or ``namespace`` is empty.
        TypeError: ``name`` or ``namespace`` is not a str.
    """
    if not name:
        raise ValueError(f"get_actor() needs a non-empty actor name, got {name!r}")
    if not isinstance(name, str):
        raise TypeError(f"actor name must be a str, got {type(name).__name__}")
    if namespace is not None:
        check_namespace(namespace)


class ActorSystem:
    """A set of actors sharing an event loop, a name registry and a shutdown.

    Use ``async with ActorSystem() as system:``; inside the block
    ``Cls.remote()`` creates actors in it. Leaving the block shuts it down,
    giving calls ``shutdown_timeout`` seconds to finish (``None``: no limit).
    Leaving it by an exception cancels running calls at once instead, as a
    task group would.

    ``resources`` declares the logical capacity that actors' ``num_cpus``,
    ``num_gpus``, ``memory`` and ``resources`` options reserve:
    ``{"CPU": 8, "GPU": 2, "memory": bytes, "custom": 4}``. ``CPU`` defaults to
    ``os.cpu_count()``, ``memory`` to the machine's memory, and there is no GPU
    and no custom resource unless given. ``"GPU"`` takes a count (ids 0..n-1)
    or a list of GPU ids (``[3, 5]``).

    ``backend="ray"`` runs each actor as a Ray actor: the system uses the Ray
    this process has already initialised, or calls ``ray.init(address=address,
    namespace=namespace, **ray_init_options)`` when it starts and
    ``ray.shutdown()`` once it has shut down. Ray's scheduler then places
    actors by their resource options (``resources`` is the local engine's).

    ``metrics=True`` times every call, for the latency in ``statistics()``
    (off by default: it costs each call two clock reads). ``block_warning_s``
    is how long an actor's method may hold the event loop before the watchdog
    logs it (once per method); ``None`` turns the watchdog off, and with it
    ``stuck_calls()``.

    Raises:
        TypeError, ValueError: a bad namespace, timeout or resources (the
            message names it); an unknown backend (the message lists the
            valid ones); ``address`` or ``ray_init_options`` with
            ``backend="local"``; ``metrics`` not a bool, or ``block_warning_s``
            neither None nor a number > 0.
        ImportError: ``backend="ray"`` without Ray installed (the message says
            ``pip install 'asyncactors[ray]'``).
    """

    def __init__(
        self,
        *,
        namespace: str = "default",
        shutdown_timeout: float | None = None,
        resources: Mapping[str, float | list[int] | list[str]] | None = None,
        backend: str = "local",
        address: str | None = None,
        ray_init_options: Mapping[str, Any] | None = None,
        metrics: bool = False,
        block_warning_s: float | None = 0.1,
    ) -> None:
        check_namespace(namespace)
        check_timeout(shutdown_timeout, "shutdown_timeout")
        if not isinstance(metrics, bool):
            raise TypeError(f"metrics must be True or False, got {metrics!r}")
        check_block_warning(block_warning_s)
        self._metrics = metrics
        self._block_warning_s = block_warning_s
        self._watchdog: Watchdog | None = None
        # The counters of actors stopped for good, so that totals never go down
        # (made by the first such actor; the records of statistics load only when asked for).
        self._retired: Retired | None = None
        self._namespace = namespace
        self._shutdown_timeout = shutdown_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread_id: int | None = None
        self._actors: dict[int, EngineCore] = {}
        self._names: dict[tuple[str, str], EngineCore] = {}
        self._graveyard: deque[EngineCore] = deque(maxlen=_GRAVEYARD_SIZE)
        self._orphans: set[asyncio.Task[Any]] = set()
        # The actors shutdown() forced down when its timeout expired.
        self._forced_down: list[EngineCore] = []
        self._lock = threading.RLock()
        # The ledger of resources, made by the first actor with resource options or
        # the first question about resources: most systems never need one.
        self._capacity = check_capacity(resources)
        self._resources: ResourcePool | None = None
        self._resources_closed = False
        self._closing = False
        self._closed = False
        self._done: asyncio.Future[None] | None = None
        self._previous: list[ActorSystem | None] = []
        # The root supervisor of the actors given none: made when first needed (a
        # crash of one of them to decide on, a supervisor without a parent that
        # fails, the dashboard's tree), not to start, stop or compare supervisors,
        # so a system whose actors never crash never loads supervision.
        self._root_supervisor: Supervisor | None = None
        # Weak: a stream its reader dropped must not keep collecting events.
        self._streams: list[weakref.ref[EventStream]] = []
        # Actors' code runs in this context, not in whichever caller woke them.
        self._ctx = contextvars.Context()
        self._ctx.run(current_system.set, self)
        self._backend: Backend = get_backend(backend)
        # What the engine sees of this system; it gets its loop in _bind.
        self._host = _Host(self)
        self._backend.open(
            self._host, namespace=namespace, address=address, ray_init_options=ray_init_options
        )
        _live_systems.add(self)

    # -- properties ---------------------------------------------------------------

    @property
    def namespace(self) -> str:
        """The namespace of names given without one."""
        return self._namespace

    @property
    def shutdown_timeout(self) -> float | None:
        """Seconds leaving ``async with`` gives calls to finish (``None``: no limit)."""
        return self._shutdown_timeout

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the actors run on.

        Raises:
            RuntimeError: the system has not been started yet.
        """
        if self._loop is None:
            raise RuntimeError("this ActorSystem has not started; use 'async with ActorSystem()'")
        return self._loop

    @property
    def backend(self) -> str:
        """The engine's name: ``"local"`` or ``"ray"``."""
        return self._backend.name

    @property
    def closed(self) -> bool:
        """Whether ``shutdown()`` has begun."""
        return self._closing

    @property
    def _root(self) -> Supervisor:
        """The root supervisor, made on first use (from any thread: there is one)."""
        root = self._root_supervisor
        if root is None:
            from ._supervisor import Supervisor

            with self._lock:
                # Made under the lock, checked again: a root lost to another
                # thread's would keep the restarts it schedules out of shutdown's reach.
                root = self._root_supervisor
                if root is None:
                    root = Supervisor(strategy="one_for_one")
                    root.is_root = True
                    root._bind(self._host)
                    self._root_supervisor = root
        return root

    def _bind(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if loop is None:
            loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = self._host.loop = loop
            self._thread_id = self._host.thread_id = threading.get_ident()
            self._host.thread_loop = _marking_loop(loop)
            self._backend.start(self._host)
            if self._block_warning_s is not None and not self._closing:
                from ._watchdog import Watchdog  # here: not every system runs one

                self._watchdog = Watchdog(
                    loop,
                    self._thread_id,
                    self._actors,
                    self._host,
                    self._backend.runner_codes,
                    self._block_warning_s,
                )
                self._watchdog.start()
        elif self._loop is not loop:
            raise RuntimeError("this ActorSystem runs on another event loop")

    # -- context manager ----------------------------------------------------------

    async def __aenter__(self) -> ActorSystem:
        self._bind()
        if self._closing:
            raise RuntimeError("this ActorSystem has been shut down; create a new one")
        self._previous.append(current_system.get())
        current_system.set(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.shutdown(0 if exc is not None else self._shutdown_timeout)
        finally:
            # Not a Token reset: the exit may run in another task than the
            # entry (pytest-asyncio fixtures), where a token is invalid.
            current_system.set(self._previous.pop() if self._previous else None)

    # -- actors -------------------------------------------------------------------

    def _create(
        self,
        spec: ClassSpec,
        config: ActorConfig,
        opts: Mapping[str, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> ActorHandle[Any]:
        if self._closing:
            raise RuntimeError(
                f"cannot create a {spec.name} actor: its ActorSystem has been shut down"
            )
        if self._loop is None:
            self._bind()
        if config.plain:
            # Most actors: no name to claim, no supervisor, nothing to reserve.
            core = self._backend.create_core(
                self._host,
                spec,
                next(_ids),
                config,
                None,
                opts["namespace"] or self._namespace,
                args,
                kwargs,
            )
            actors = self._actors
            actors[core.actor_id] = core
            # spec.handle_type(core), its __init__ called from here rather than from C.
            handle_type = spec.handle_type
            plain: ActorHandle[Any] = _new(handle_type)
            handle_type.__init__(plain, core)
            try:
                core.start()
            except BaseException:
                actors.pop(core.actor_id, None)
                raise
            return plain
        supervisor: Supervisor | None = opts["supervisor"]
        if supervisor is not None:
            supervisor._bind(self._host)
            supervisor._check_open()
        # Ray's scheduler reserves what a Ray actor asks for; the system's pool
        # is the local engine's.
        demand = config.resources if self._backend.reserves_resources else None
        if demand is not None:
            self._resource_pool().check(f"cannot create a {spec.name} actor: it", demand)
        name = opts["name"]
        namespace = opts["namespace"] or self._namespace
        create = self._backend.create_core
        host = self._host
        if name is None:
            core = create(host, spec, next(_ids), config, None, namespace, args, kwargs)
            self._actors[core.actor_id] = core
        else:
            key = (namespace, name)
            # Outside this system: a name its engine knows (a Ray actor of another driver).
            elsewhere = (
                None if key in self._names else self._backend.find_actor(host, name, namespace)
            )
            with self._lock:
                existing = self._names.get(key) or elsewhere
                if existing is not None:
                    if opts["get_if_exists"]:
                        return _handle(spec, existing)
                    raise ActorAlreadyExistsError(
                        f"an actor named {name!r} already exists in namespace {key[0]!r} "
                        f"({existing.describe()}); pass get_if_exists=True to reuse it"
                    )
                core = create(host, spec, next(_ids), config, name, namespace, args, kwargs)
                self._names[key] = core
                self._actors[core.actor_id] = core
        handle: ActorHandle[Any] = spec.handle_type(core)
        if demand is not None:
            # Parked first: a grant may come from the loop's thread at once.
            core.park()
            pool = self._resource_pool()
            if not pool.request(core, demand, lambda: self._launch(core, supervisor)):
                return handle  # PENDING_CREATION until its turn comes
        try:
            self._launch(core, supervisor)
        except BaseException:
            # Nothing started (a Ray name taken meanwhile): the name stays free.
            with self._lock:
                self._actors.pop(core.actor_id, None)
                if name is not None and self._names.get((namespace, name)) is core:
                    del self._names[(namespace, name)]
            if supervisor is not None:
                supervisor._forget(core)
            raise
        return handle

    def _launch(self, core: EngineCore, supervisor: Supervisor | None) -> None:
        """Start a new actor, under its supervisor if it has one."""
        if supervisor is not None:
            core.supervisor = supervisor
            try:
                up = supervisor._add_child(core)
            except RuntimeError as exc:
                # Only after waiting for resources: .remote() checked it was open.
                core._die(f"could not start: {exc}")
                return
            if not up:
                core._hold()  # it starts when its supervisor comes back up
                return
        core.start()

    def _unregister(self, core: EngineCore) -> None:
        with self._lock:
            self._actors.pop(core.actor_id, None)
            if core.name is not None:
                key = (core.namespace, core.name)
                if self._names.get(key) is core:
                    del self._names[key]
        self._graveyard.append(core)
        retired = self._retired
        if retired is None:
            from ._retired import Retired

            retired = self._retired = Retired()
        retired.add(core)
        pool = self._resources
        if pool is not None and pool.members:
            pool.release(core)

    def _resource_pool(self) -> ResourcePool:
        """The system's ledger of resources, made on first use."""
        pool = self._resources
        if pool is None:
            from ._resources import ResourcePool  # here: most systems reserve nothing

            with self._lock:
                pool = self._resources
                if pool is None:
                    pool = self._resources = ResourcePool(self._capacity, self._lock)
                    if self._resources_closed:
                        pool.close()
        return pool

    def _emit(self, kind: EventKind, core: EngineCore, exc: BaseException | None = None) -> None:
        """Publish a lifecycle event to every open ``events()`` stream."""
        if not self._streams:
            return
        from ._events import ActorEvent  # only once events() has a reader

        event = ActorEvent(
            kind=kind,
            actor_id=core.actor_id,
            class_name=core.spec.name,
            name=core.name,
            restart_count=core.restarts,
            exception=exc,
            timestamp=time.time(),
        )
        live = []
        for ref in self._streams:
            stream = ref()
            if stream is not None and not stream._closed:
                stream._push(event)
                live.append(ref)
        self._streams = live
        self._host.watched = bool(live) or self._emits_elsewhere()

    def _emits_elsewhere(self) -> bool:
        """Whether ``_emit`` tells more than ``events()`` streams: a subclass overriding
        it (a Ray worker's system tells the actor's owner) wants every event."""
        return type(self)._emit is not ActorSystem._emit

    def events(self) -> EventStream:
        """An async iterator over actor lifecycle events, from now on.

        Kinds: ``started``, ``crashed``, ``restarting``, ``restarted``, ``stopped``
        (a graceful stop) and ``dead`` (killed, failed for good). The stream ends
        when the system has shut down; ``aclose()`` ends it earlier.
        """
        from ._events import EventStream

        stream = EventStream()
        if self._closed:
            stream._close()
        else:
            self._streams.append(weakref.ref(stream))
            self._host.watched = True
        return stream

    def _keep_task(self, task: asyncio.Task[Any]) -> None:
        """Keep a cancelled task of a dead actor until it has finished."""
        if not task.done():
            self._orphans.add(task)
            task.add_done_callback(self._orphans.discard)

    def get_actor(self, name: str, namespace: str | None = None) -> ActorHandle[Any]:
        """A handle to the live actor named ``name``.

        Raises:
            ValueError: no live actor has that name in that namespace, or
                ``name`` or ``namespace`` is empty (as in Ray).
            TypeError: ``name`` or ``namespace`` is not a str.
        """
        check_actor_lookup(name, namespace)
        ns = namespace if namespace is not None else self._namespace
        with self._lock:
            core = self._names.get((ns, name))
            # The names are for the error only: not worked out on every lookup.
            names = sorted(n for (n_ns, n) in self._names if n_ns == ns) if core is None else []
        if core is None and not self._closing:
            core = self._backend.find_actor(self._host, name, ns)
        if core is None:
            hint = f"; named actors there: {', '.join(map(repr, names))}" if names else ""
            raise ValueError(f"no actor named {name!r} in namespace {ns!r}{hint}")
        return _handle(core.spec, core)

    def list_actors(self) -> list[ActorInfo]:
        """Every live actor, then up to the last 1000 dead ones, oldest first."""
        import dataclasses  # here: a program that never lists its actors need not load it

        with self._lock:
            live = list(self._actors.values())
        dead = [c for c in self._graveyard if c.actor_id not in self._actors]
        pool = self._resources
        if pool is None:  # nothing was ever reserved
            return [core.info() for core in (*live, *dead)]
        return [
            dataclasses.replace(
                core.info(),
                resources=MappingProxyType(pool.assigned(core)),
                pending_resources=MappingProxyType(pool.pending(core)),
            )
            if core in pool.members
            else core.info()
            for core in (*live, *dead)
        ]

    def cluster_resources(self) -> dict[str, float]:
        """The system's capacity of each resource it has, as Ray's ``cluster_resources()``."""
        return self._resource_pool().cluster()

    def available_resources(self) -> dict[str, float]:
        """What actors have not reserved, as Ray's ``available_resources()``: resources
        with nothing left are omitted."""
        return self._resource_pool().available()

    def statistics(self) -> SystemStatistics:
        """The system's counters, added up per class and per named actor.

        Costs O(live actors), nothing per call; latency is there under
        ``metrics=True``. Safe from any thread.
        """
        with self._lock:
            live = list(self._actors.values())
        from ._retired import Retired
        from ._statistics import system_statistics

        blocks = self._watchdog.blocks if self._watchdog is not None else 0
        retired = self._retired if self._retired is not None else Retired()
        return system_statistics(self._namespace, self._metrics, live, retired, blocks)

    def actor_statistics(self) -> list[ActorStatistics]:
        """``handle.statistics()`` of every live actor, oldest first (any thread)."""
        with self._lock:
            live = list(self._actors.values())
        return [core.statistics() for core in live]

    def stuck_calls(self, older_than_s: float = 1.0) -> list[StuckCall]:
        """The calls running for at least ``older_than_s`` seconds, oldest first,
        each with its age and stack.

        Calls in worker tasks (async and ``run_in_thread`` methods) are sampled
        by the watchdog, so an age is exact to within ``block_warning_s / 2``
        (more with very many actors). A sync method holds the event loop while it
        runs: it is listed when asked from another thread, as the watchdog saw it.

        Raises:
            RuntimeError: the watchdog is off (``block_warning_s=None``) or the
                system has not started.
            ValueError: ``older_than_s`` is negative.
        """
        if older_than_s < 0:
            raise ValueError(f"older_than_s must be >= 0, got {older_than_s}")
        if self._watchdog is None:
            why = (
                "its watchdog is off (block_warning_s=None)"
                if self._block_warning_s is None
                else "it has not started"
            )
            raise RuntimeError(f"stuck_calls() needs the actor system's watchdog: {why}")
        return self._watchdog.stuck_calls(older_than_s)

    # -- shutdown -----------------------------------------------------------------

    async def shutdown(self, timeout: float | None = None) -> None:
        """Stop every actor and wait until nothing of theirs is running.

        New calls are refused with ``ActorDiedError`` at once. Running and queued
        calls may finish for up to ``timeout`` seconds (``None``: as long as they
        take); then they are cancelled and their callers get ``ActorDiedError``.
        ``__pre_destroy__`` runs for each actor. Idempotent.

        Raises:
            RuntimeError: called from another event loop than the system's.
        """
        check_timeout(timeout)
        if self._loop is None:
            self._closing = self._closed = True
            await self._backend.close(self._host)
            return
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("ActorSystem.shutdown() must run on the system's own event loop")
        if self._closing:
            if self._done is not None:
                await asyncio.shield(self._done)
            return
        self._closing = True
        self._done = self._loop.create_future()
        try:
            await self._stop_all(timeout)
            await self._backend.close(self._host)
        finally:
            self._closed = True
            for ref in self._streams:
                stream = ref()
                if stream is not None:
                    stream._close()
            self._streams = []
            self._host.watched = self._emits_elsewhere()
            # The loop's default system stays registered once shut down, so
            # that default_system() refuses instead of starting another.
            global _global_default
            if _global_default is self:
                _global_default = None
            if self._watchdog is not None:
                self._watchdog.stop()
            self._done.set_result(None)

    async def _stop_all(self, timeout: float | None) -> None:
        # A backoff may be long, and a crash-looping tree would crash again:
        # restarts not yet due are dropped, and their actors' callers told.
        if self._root_supervisor is not None:
            self._root_supervisor._abandon_restarts()
        with self._lock:
            self._resources_closed = True
            pool = self._resources
        if pool is not None:
            from ._resources import describe_amounts  # loaded with the pool already

            for core, demand in pool.close():
                core._die(
                    "was shut down with its actor system before it was created: it was "
                    f"still waiting for resources ({describe_amounts(demand)})"
                )
        cores = list(self._actors.values())
        for core in cores:
            core.request_stop(StopReason.SHUTDOWN)
        stops = [core.stopped() for core in cores]
        if stops:
            _, late = await asyncio.wait(stops, timeout=timeout)
            if late:
                cut_off = 0
                for core in cores:
                    if core.state is not ActorState.DEAD:
                        self._forced_down.append(core)
                        cut_off += core.pending_calls()
                        core._die(
                            "was shut down with its actor system: the shutdown timeout "
                            f"({timeout} s) expired before its calls finished",
                            pre_destroy=True,
                        )
                for fut in late:
                    fut.cancel()
                _log_cut_off(timeout, cut_off, self._forced_down)
        if self._orphans:
            # Cancelled calls and the __pre_destroy__ hooks of actors forced down
            # get the same grace again; then they are cancelled and awaited.
            _, late_tasks = await asyncio.wait(list(self._orphans), timeout=timeout)
            for task in late_tasks:
                task.cancel()
        while self._orphans:
            await asyncio.wait(list(self._orphans))

    def __repr__(self) -> str:
        state = "closed" if self._closed else "closing" if self._closing else "open"
        name = type(self).__name__
        engine = "" if self._backend.name == "local" else f" backend={self._backend.name!r}"
        return f"<{name} namespace={self._namespace!r}{engine} {state} actors={len(self._actors)}>"


def _log_cut_off(timeout: float | None, calls: int, cores: list[EngineCore]) -> None:
    """Say once what a shutdown's timeout cut off. Each of those calls fails with
    ``ActorDiedError(by_shutdown=True)``, logged only at DEBUG if nobody awaits it:
    this line stands for them all. A warning if calls outlasted the grace given,
    only news with ``timeout=0`` (shutting down at once is what was asked for)."""
    level = logging.WARNING if timeout else logging.INFO
    actors = ", ".join(core.describe() for core in cores[:5])
    if len(cores) > 5:
        actors += f" and {len(cores) - 5} more"
    logger.log(
        level,
        "actor system shutdown: the shutdown timeout (%s s) expired with %d call(s) "
        "unfinished in %s; they were cut off (their callers get ActorDiedError)",
        timeout,
        calls,
        actors,
    )


def default_system() -> ActorSystem:
    """The system ``Cls.remote()`` uses here, creating the loop's default if needed.

    The system of the enclosing ``async with ActorSystem()`` comes first. In a
    running loop: the loop's default system, else the background system of
    ``start_background()``, else a new default system for the loop. Without a
    running loop: the background system, else the system of the last ``init()``.

    Raises:
        RuntimeError: there is no running loop and no system to use, or the
            loop's default system has been shut down and ``init()`` not called
            again.
    """
    system: ActorSystem | None = current_system.get()
    if system is not None:
        return system
    loop = asyncio._get_running_loop()
    if loop is not None:
        system = _defaults.get(loop)
        if system is not None and system._closing:
            # Refuse rather than start a stray system nobody will shut down,
            # e.g. a web handler creating an actor while its app stops.
            raise RuntimeError(
                "the event loop's default actor system has been shut down; call "
                "asyncactors.init() again to create actors on this loop, or use "
                "'async with asyncactors.ActorSystem()'"
            )
        if system is None:
            background = _background
            if background is not None and not background._closing:
                return background
            system = ActorSystem()
            system._bind(loop)
            _defaults[loop] = system
        return system
    background = _background
    if background is not None and not background._closing:
        return background
    if _global_default is not None and not _global_default._closing:
        return _global_default
    raise RuntimeError(
        "no running event loop and no actor system: create actors inside async code "
        "(for example under asyncio.run(main())), inside 'async with asyncactors.ActorSystem():', "
        "after asyncactors.init(), or after asyncactors.start_background()"
    )


def init(
    *,
    namespace: str = "default",
    ignore_reinit_error: bool = False,
    resources: Mapping[str, float | list[int] | list[str]] | None = None,
) -> ActorSystem:
    """Create the running loop's default actor system and return it.

    Threads without a loop then use it too. Pair with ``await asyncactors.shutdown()``.
    ``resources`` is the system's capacity, as for ``ActorSystem``.

    Raises:
        RuntimeError: no running event loop, or a default system already exists
            (unless ``ignore_reinit_error``).
        TypeError: ``namespace`` is not a str.
        ValueError: ``namespace`` is empty (as in Ray).
    """
    global _global_default
    check_namespace(namespace)
    loop = asyncio._get_running_loop()
    if loop is None:
        raise RuntimeError(
            "asyncactors.init() must be called inside a running event loop "
            "(for example in 'async def main()' under asyncio.run(main()))"
        )
    existing = _defaults.get(loop)
    if existing is not None and not existing._closing:
        if ignore_reinit_error:
            return existing
        raise RuntimeError(
            "asyncactors.init() was already called on this event loop; "
            "call 'await asyncactors.shutdown()' first or pass ignore_reinit_error=True"
        )
    system = ActorSystem(namespace=namespace, resources=resources)
    system._bind(loop)
    _defaults[loop] = system
    _global_default = system
    return system


async def shutdown(timeout: float | None = None) -> None:
    """Shut down the running loop's default actor system, if there is one."""
    loop = asyncio.get_running_loop()
    system = _defaults.get(loop)
    if system is None and _global_default is not None and _global_default._loop is loop:
        system = _global_default
    if system is not None:
        await system.shutdown(timeout)


def live_systems() -> list[ActorSystem]:
    """Systems not yet garbage-collected (for the test suite's leak check)."""
    return list(_live_systems)


class _Host:
    """What the engine sees of its ``ActorSystem`` (``_protocols.Host``)."""

    __slots__ = (
        "ctx",
        "eager_left",
        "engine",
        "inline",
        "local",
        "lock",
        "loop",
        "metrics",
        "system",
        "thread_id",
        "thread_loop",
        "watched",
    )

    loop: asyncio.AbstractEventLoop
    thread_id: int | None
    thread_loop: Any

    def __init__(self, system: ActorSystem) -> None:
        self.system = system
        self.ctx = system._ctx
        self.lock = system._lock
        self.inline: RunningActor | None = None
        self.thread_id = None
        self.thread_loop = None
        # What the engine keeps for this system (Ray's: the Ray it uses).
        self.engine: Any = None
        # What the in-process engine keeps for this system: made on first use.
        self.local: Any = None
        self.metrics = system._metrics
        # Calls the engine may still run at once (eager=True) before the loop turns.
        self.eager_left = EAGER_BUDGET
        # Whether emit() has anyone to tell: the engine builds no event otherwise.
        self.watched = system._emits_elsewhere()

    @property
    def closing(self) -> bool:
        """Whether the system is shutting down."""
        return self.system._closing

    @property
    def root(self) -> Supervisor:
        """The system's root supervisor, made on first use."""
        return self.system._root

    def on_loop_thread(self) -> bool:
        """Whether the calling thread is the loop's."""
        return threading.get_ident() == self.thread_id

    def emit(self, kind: EventKind, core: Any, exc: BaseException | None = None) -> None:
        """Publish a lifecycle event to the system's open ``events()`` streams."""
        self.system._emit(kind, core, exc)

    def keep_task(self, task: asyncio.Task[Any]) -> None:
        """Keep a task of a dead actor until it has finished; shutdown awaits it."""
        self.system._keep_task(task)

    def unregister(self, core: Any) -> None:
        """``core`` is DEAD: free its id and name."""
        self.system._unregister(core)


def _handle(spec: ClassSpec, core: EngineCore) -> ActorHandle[Any]:
    handle: ActorHandle[Any] = spec.handle_type(core)
    return handle
