"""The peers: Ray actors, asyncactors on Ray, pykka threading actors and xoscar in-process actors.

Each one registers only when its package imports here (``pip install -e '.[bench]'``
installs them all); :func:`peer_systems` says why a missing one is skipped.
Their modules are loaded with :func:`importlib.import_module` and typed as
``Any``, so the benchmarks type-check whether or not they are installed.

Ray runs on a local ``ray.init(num_cpus=2)`` that :func:`start_ray` starts and
:func:`stop_ray` stops, on the loopback interface only, without the dashboard
and without usage statistics.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import asyncactors

from ._systems import (
    AsyncActorsDriver,
    BatchService,
    Driver,
    System,
    _split,
    round_robin_callers,
)
from ._workload import Idle, ModelClient, Workload, YieldingCounter

__all__ = [
    "ASYNCACTORS_RAY",
    "PYKKA",
    "RAY",
    "RAY_ASYNC",
    "RAY_SYSTEMS",
    "XOSCAR",
    "peer_systems",
    "pykka_class",
    "ray_idle_rss",
    "start_ray",
    "stop_ray",
    "xoscar_class",
]

RAY = "ray"
RAY_ASYNC = "ray_async"
ASYNCACTORS_RAY = "asyncactors_ray"
RAY_SYSTEMS = (RAY, RAY_ASYNC, ASYNCACTORS_RAY)
"""The systems that run on the local Ray the suite starts."""
PYKKA = "pykka"
XOSCAR = "xoscar"


def _importable(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _module(name: str) -> Any:
    return importlib.import_module(name)


# ---------------------------------------------------------------------------
# Ray


_ray_classes: dict[tuple[type, int | None, bool], Any] = {}


def start_ray(num_cpus: int = 2) -> float:
    """Start a local Ray for the benchmarks; return the seconds ``ray.init`` took."""
    # Loopback only: with "clusters" disabled Ray takes 127.0.0.1 as the node's
    # address and binds every server there rather than on all interfaces. No usage
    # statistics are sent anywhere.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray = _module("ray")
    # Ray's workers import the user classes; ship the benchmark modules by value
    # so they need not be importable in the workers' environment.
    cloudpickle = _module("ray.cloudpickle")
    for name in ("benchmarks._workload",):
        cloudpickle.register_pickle_by_value(sys.modules[name])
    start = _perf()
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    return _perf() - start


def stop_ray() -> None:
    """Stop the local Ray started by :func:`start_ray` (no-op if it is not running)."""
    ray = _module("ray")
    if ray.is_initialized():
        ray.shutdown()
    _ray_classes.clear()


def _perf() -> float:
    import time

    return time.perf_counter()


def _async_variant(workload: type) -> type:
    """``workload`` as a Ray async actor: each sync method becomes a coroutine that
    calls it, so every call runs on the actor's one event loop (asyncactors' model)."""
    namespace: dict[str, Any] = {"__module__": workload.__module__}
    for name, attr in vars(workload).items():
        if name.startswith("_") or not callable(attr) or asyncio.iscoroutinefunction(attr):
            continue

        async def method(self: Any, *args: Any, __f: Any = attr) -> Any:
            return __f(self, *args)

        namespace[name] = method
    return type(f"Async{workload.__name__}", (workload,), namespace)


def _ray_class(workload: type, max_concurrency: int | None, on_loop: bool = False) -> Any:
    key = (workload, max_concurrency, on_loop)
    cls = _ray_classes.get(key)
    if cls is None:
        ray = _module("ray")
        opts: dict[str, Any] = {}
        if max_concurrency is not None:
            opts["max_concurrency"] = max_concurrency
        target = _async_variant(workload) if on_loop else workload
        cls = ray.remote(**opts)(target) if opts else ray.remote(target)
        _ray_classes[key] = cls
    return cls


class _CoreOnlyScenarios:
    """The scenarios only the floor and asyncactors run (``core_only``)."""

    async def io(self, actors: Sequence[Any], n: int) -> list[int]:
        raise NotImplementedError

    async def wait_loop(self, actor: Any, n: int) -> None:
        raise NotImplementedError

    async def restart(self, n: int) -> int:
        raise NotImplementedError  # peers have no supervision to compare

    async def batch_service(
        self,
        batched: bool,
        latency_s: float,
        wait_s: float = 0.0,
        *,
        client: ModelClient | None = None,
    ) -> BatchService:
        raise NotImplementedError


class _RayDriver(_CoreOnlyScenarios):
    def __init__(self, on_loop: bool = False) -> None:
        self.handles: list[Any] = []
        self.on_loop = on_loop

    async def spawn(self, workload: Workload, max_concurrency: int | None = None) -> Any:
        h = _ray_class(workload, max_concurrency, self.on_loop).remote()
        self.handles.append(h)
        await h.value.remote()
        return h

    async def seq(self, actor: Any, n: int, arg: object) -> None:
        h = actor
        for _ in range(n):
            await h.incr.remote(arg)

    async def pipelined(self, actors: Sequence[Any], n: int) -> None:
        hs = list(actors)
        k = len(hs)
        refs = [hs[i % k].incr.remote(1) for i in range(n)]
        await asyncio.gather(*refs)

    async def callers(self, actors: Sequence[Any], n_callers: int, n: int) -> None:
        await round_robin_callers([h.incr.remote for h in actors], n_callers, n)

    async def count(self, actor: Any) -> int:
        result: int = await actor.value.remote()
        return result

    async def create(self, n: int) -> int:
        cls = _ray_class(Idle, None, self.on_loop)
        handles = [cls.remote() for _ in range(n)]
        self.handles.extend(handles)
        replies = await asyncio.gather(*(h.ping.remote() for h in handles))
        return sum(replies)


@asynccontextmanager
async def _ray_session(on_loop: bool = False) -> AsyncIterator[Driver]:
    driver = _RayDriver(on_loop)
    try:
        yield driver
    finally:
        ray = _module("ray")
        for h in driver.handles:
            ray.kill(h)


@asynccontextmanager
async def _ray_async_session() -> AsyncIterator[Driver]:
    async with _ray_session(on_loop=True) as driver:
        yield driver


@asynccontextmanager
async def _asyncactors_ray_session() -> AsyncIterator[Driver]:
    # The same driver as asyncactors in process; the system joins the suite's Ray.
    async with asyncactors.ActorSystem(backend="ray"):
        yield AsyncActorsDriver()


def ray_idle_rss(n: int) -> float:
    """Create ``n`` idle Ray actors; return the mean RSS (bytes) of their processes."""
    psutil = _module("psutil")
    ray = _module("ray")

    async def run() -> float:
        cls = _ray_class(Idle, None)
        handles = [cls.remote() for _ in range(n)]
        try:
            await asyncio.gather(*(h.ping.remote() for h in handles))
            total = 0
            found = 0
            for proc in psutil.process_iter(["cmdline"]):
                cmdline = proc.info["cmdline"] or [""]
                # Ray titles an actor's worker process "ray::<ClassName>".
                if cmdline[0].split(".")[0] == "ray::Idle":
                    total += proc.memory_info().rss
                    found += 1
            if found != n:
                raise RuntimeError(f"found {found} Ray actor processes, expected {n}")
            return total / n
        finally:
            for h in handles:
                ray.kill(h)

    return asyncio.run(run())


# ---------------------------------------------------------------------------
# pykka: one thread per actor; callers block on futures, as pykka users do.


def pykka_class(workload: type) -> Any:
    pykka = _module("pykka")

    def __init__(self: Any) -> None:
        pykka.ThreadingActor.__init__(self)
        base: Any = workload
        base.__init__(self)

    return type(
        f"Pykka{workload.__name__}", (workload, pykka.ThreadingActor), {"__init__": __init__}
    )


class _PykkaDriver(_CoreOnlyScenarios):
    def __init__(self) -> None:
        self.pykka = _module("pykka")
        self.refs: list[Any] = []
        self.classes: dict[type, Any] = {}

    def _class(self, workload: type) -> Any:
        cls = self.classes.get(workload)
        if cls is None:
            cls = self.classes[workload] = pykka_class(workload)
        return cls

    async def spawn(self, workload: Workload, max_concurrency: int | None = None) -> Any:
        ref = self._class(workload).start()
        self.refs.append(ref)
        return ref.proxy()

    async def seq(self, actor: Any, n: int, arg: object) -> None:
        proxy = actor
        for _ in range(n):
            proxy.incr(arg).get()

    async def pipelined(self, actors: Sequence[Any], n: int) -> None:
        ps = list(actors)
        k = len(ps)
        futures = [ps[i % k].incr(1) for i in range(n)]
        self.pykka.get_all(futures)

    async def callers(self, actors: Sequence[Any], n_callers: int, n: int) -> None:
        ps = list(actors)
        k = len(ps)

        def caller(c: int, calls: int) -> None:
            for j in range(calls):
                ps[(c + j) % k].incr(1).get()

        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=n_callers) as pool:
            await asyncio.gather(
                *(
                    loop.run_in_executor(pool, caller, c, m)
                    for c, m in enumerate(_split(n, n_callers))
                )
            )

    async def count(self, actor: Any) -> int:
        result: int = actor.value().get()
        return result

    async def create(self, n: int) -> int:
        cls = self._class(Idle)
        refs = [cls.start() for _ in range(n)]
        self.refs.extend(refs)
        replies: list[int] = list(self.pykka.get_all([r.proxy().ping() for r in refs]))
        return sum(replies)


@asynccontextmanager
async def _pykka_session() -> AsyncIterator[Driver]:
    driver = _PykkaDriver()
    try:
        yield driver
    finally:
        for ref in driver.refs:
            ref.stop(block=False)
        for ref in driver.refs:
            ref.actor_stopped.wait()


# ---------------------------------------------------------------------------
# xoscar: actors in an in-process pool (n_process=0) on the running loop.


def xoscar_class(workload: type) -> Any:
    xo = _module("xoscar")
    namespace: dict[str, Any] = {}
    if workload is YieldingCounter:
        # xoscar runs one message at a time per actor unless the method is marked
        # no_lock; there is no bound like max_concurrency, so the callers bound it.
        async def incr(self: Any, arg: object = None) -> int:
            return await YieldingCounter.incr(self, arg)

        namespace["incr"] = xo.no_lock(incr)
    return type(f"Xoscar{workload.__name__}", (workload, xo.Actor), namespace)


class _XoscarDriver(_CoreOnlyScenarios):
    def __init__(self, address: str) -> None:
        self.xo = _module("xoscar")
        self.address = address
        self.classes: dict[type, Any] = {}

    def _class(self, workload: type) -> Any:
        cls = self.classes.get(workload)
        if cls is None:
            cls = self.classes[workload] = xoscar_class(workload)
        return cls

    async def spawn(self, workload: Workload, max_concurrency: int | None = None) -> Any:
        return await self.xo.create_actor(self._class(workload), address=self.address)

    async def seq(self, actor: Any, n: int, arg: object) -> None:
        ref = actor
        for _ in range(n):
            await ref.incr(arg)

    async def pipelined(self, actors: Sequence[Any], n: int) -> None:
        refs = list(actors)
        k = len(refs)
        await asyncio.gather(*(refs[i % k].incr(1) for i in range(n)))

    async def callers(self, actors: Sequence[Any], n_callers: int, n: int) -> None:
        await round_robin_callers([r.incr for r in actors], n_callers, n)

    async def count(self, actor: Any) -> int:
        result: int = await actor.value()
        return result

    async def create(self, n: int) -> int:
        cls = self._class(Idle)
        refs = [await self.xo.create_actor(cls, address=self.address) for _ in range(n)]
        replies = await asyncio.gather(*(r.ping() for r in refs))
        return sum(replies)


@asynccontextmanager
async def _xoscar_session() -> AsyncIterator[Driver]:
    xo = _module("xoscar")
    # n_process=0: the pool lives in this process, on this loop. It listens on the
    # loopback interface only.
    pool = await xo.create_actor_pool("127.0.0.1", n_process=0, use_uvloop=False)
    async with pool:
        yield _XoscarDriver(pool.external_address)


# ---------------------------------------------------------------------------


def peer_systems() -> tuple[dict[str, System], dict[str, str]]:
    """Return the peers importable here by name, and the missing ones with the reason."""
    systems: dict[str, System] = {}
    missing: dict[str, str] = {}
    if _importable("ray"):
        on_ray = {"mem_10k": "each actor is a Ray process: see ray", "mem_1m": "idem"}
        systems[RAY_ASYNC] = System(
            name=RAY_ASYNC,
            description="Ray async actors for every class (a sync method becomes a "
            "coroutine calling it): one event loop per actor, as asyncactors on Ray",
            session=_ray_async_session,
            all_loops=False,
            scale=0.02,
            min_calls=20,
            create_n=8,
            unsupported=on_ray,
        )
        systems[ASYNCACTORS_RAY] = System(
            name=ASYNCACTORS_RAY,
            description="asyncactors with default options on ActorSystem(backend='ray')",
            session=_asyncactors_ray_session,
            all_loops=False,
            scale=0.02,
            min_calls=20,
            create_n=8,
            unsupported=on_ray,
        )
    else:
        missing[RAY_ASYNC] = missing[ASYNCACTORS_RAY] = "ray is not importable"
    if _importable("ray") and _importable("psutil"):
        systems[RAY] = System(
            name=RAY,
            description="Ray async actors on a local ray.init(num_cpus=2) (sync classes: "
            "Ray's threaded actors); callers await ObjectRefs on the event loop",
            session=_ray_session,
            all_loops=False,
            scale=0.02,
            min_calls=20,
            create_n=8,
            memory_n=4,
            unsupported={"mem_1m": "each Ray actor is a process"},
        )
    else:
        missing[RAY] = "ray (with psutil) is not importable"
    if _importable("pykka"):
        no_async = "pykka actors run no coroutines"
        systems[PYKKA] = System(
            name=PYKKA,
            description="pykka ThreadingActor, one thread per actor; callers block on "
            "its futures (n_to_n: one thread per caller)",
            session=_pykka_session,
            all_loops=False,
            scale=0.2,
            min_calls=20,
            create_n=500,
            memory_n=1000,
            unsupported={
                "seq_async": no_async,
                "concurrent": "a pykka actor runs one message at a time",
                "mem_1m": "each pykka actor is a thread",
            },
        )
    else:
        missing[PYKKA] = "pykka is not importable"
    if _importable("xoscar"):
        systems[XOSCAR] = System(
            name=XOSCAR,
            description="xoscar actors in an in-process pool (n_process=0); the concurrent "
            "scenario marks the method no_lock",
            session=_xoscar_session,
            all_loops=False,
            scale=0.2,
            min_calls=20,
            create_n=1000,
            memory_n=10_000,
            unsupported={"mem_1m": "creating 1M xoscar actors takes minutes"},
        )
    else:
        missing[XOSCAR] = "xoscar is not importable"
    return systems, missing
