"""A FastAPI service whose stateful parts are actors instead of locks.

Run it with ``python examples/fastapi_service.py`` (serves http://127.0.0.1:8000;
``--port`` to change), or check it end to end with
``python examples/fastapi_service.py --self-test``.

* ``POST /counter``, ``GET /counter``: a counter actor; ``POST /counter/sync`` is
  a plain ``def`` endpoint, run in FastAPI's thread pool, that blocks on
  ``ref.result()``.
* ``GET /limited``: one token-bucket actor per client (``X-Client-Id`` header, or
  the peer address); 429 with ``Retry-After`` once the bucket is empty. Idle
  buckets are reaped by a sweeper, so memory does not grow with past clients.
* ``PUT /cache/{key}``, ``GET /cache/{key}``, ``GET /cache``: an LRU cache actor
  with hit, miss and eviction counts; a miss is the actor's ``CacheMiss``
  exception, which the handler turns into 404.
* ``POST /jobs``, ``GET /jobs/{id}``: a background worker actor runs jobs one at a
  time while the requests that submitted them have long returned. It sits under
  a one_for_one supervisor. ``POST /worker/crash`` makes it raise
  ``InjectedCrash``, which crashes it (its ``restart_on``); the supervisor
  restarts it, and the jobs queued behind the crash run on the new incarnation.
  ``GET /worker`` reports its restart count. More than 3 crashes within 5 s
  exceed the supervisor's intensity: the system's root restarts the supervisor
  with the worker after a backoff that grows with each such failure, and jobs
  submitted meanwhile wait for it.
* ``GET /actors``: every live actor with its mailbox depth.

An ``ActorDiedError`` (the system is shutting down) becomes 503.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final

import httpx
import uvicorn
from fastapi import Body, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse

import asyncactors
from asyncactors import (
    ActorDiedError,
    ActorHandle,
    ActorState,
    ActorSystem,
    ObjectRef,
    Supervisor,
)
from asyncactors.integrations.fastapi import (
    STATE_KEY,
    ActorSystemDep,
    actor_handle,
    actor_lifespan,
)

# -- actors ---------------------------------------------------------------------------


@asyncactors.remote
class Counter:
    """A counter: its calls run one at a time, so ``+= 1`` needs no lock."""

    def __init__(self) -> None:
        self.value = 0

    def incr(self) -> int:
        self.value += 1
        return self.value

    def get(self) -> int:
        return self.value


@asyncactors.remote
class TokenBucket:
    """One client's token bucket: ``capacity`` tokens, refilled at ``per_s`` a second."""

    def __init__(self, capacity: int, per_s: float, clock: Callable[[], float]) -> None:
        self.capacity = capacity
        self.per_s = per_s
        self.clock = clock
        self.tokens = float(capacity)
        self.updated = self.last_used = clock()

    def _refill(self) -> float:
        now = self.clock()
        self.tokens = min(float(self.capacity), self.tokens + (now - self.updated) * self.per_s)
        self.updated = now
        return now

    def acquire(self) -> float:
        """Take a token: 0.0 if one was taken, else the seconds until one is due."""
        self.last_used = self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.per_s if self.per_s > 0 else math.inf

    def reap_if_idle(self, idle_s: float) -> bool:
        """Stop this actor if its bucket is full and unused for ``idle_s``; else False.

        Stopping is ``exit_actor()``: the caller gets ``ActorDiedError``, and so does
        a request that raced with it, which then makes a fresh bucket (a full one,
        the same as this one).
        """
        now = self._refill()
        if self.tokens >= self.capacity and now - self.last_used >= idle_s:
            asyncactors.exit_actor()
        return False


class CacheMiss(KeyError):
    """The key is not in the cache (raised inside the actor, caught by the handler)."""


@asyncactors.remote
class LRUCache:
    """A least-recently-used cache of at most ``capacity`` entries, with statistics."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[str, str] = OrderedDict()
        self.hits = self.misses = self.evictions = 0

    def get(self, key: str) -> str:
        """The value of ``key``; raises ``CacheMiss`` if it is absent."""
        try:
            value = self.entries[key]
        except KeyError:
            self.misses += 1
            raise CacheMiss(key) from None
        self.entries.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: str, value: str) -> str | None:
        """Store ``key``; return the key evicted to make room, if any."""
        self.entries[key] = value
        self.entries.move_to_end(key)
        if len(self.entries) > self.capacity:
            evicted, _ = self.entries.popitem(last=False)
            self.evictions += 1
            return evicted
        return None

    def stats(self) -> dict[str, int]:
        return {
            "size": len(self.entries),
            "capacity": self.capacity,
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
        }


class InjectedCrash(RuntimeError):
    """The crash that ``POST /worker/crash`` injects into the background worker."""


@asyncactors.remote
class JobWorker:
    """Runs jobs in the background, one at a time, in the order they were submitted."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.processed = 0

    async def run(self, job_id: int, n: int) -> int:
        await asyncio.sleep(self.delay_s)  # stands in for slow I/O
        self.processed += 1
        return sum(i * i for i in range(n))

    def crash(self) -> None:
        raise InjectedCrash("crash injected through POST /worker/crash")

    def status(self) -> dict[str, Any]:
        ctx = asyncactors.get_runtime_context()
        return {
            "actor_id": ctx.actor_id,
            "processed": self.processed,
            "restart_count": ctx.restart_count,
            "was_restarted": ctx.was_restarted,
        }


#: Options of the background worker: it runs jobs one at a time, under a name, and
#: an ``InjectedCrash`` crashes it (``restart_on``) instead of just failing the
#: call. Its supervisor then restarts it; the jobs queued behind the crash stay
#: in its mailbox and run on the new incarnation.
WORKER_OPTIONS: Final[Mapping[str, Any]] = {
    "name": "worker",
    "max_concurrency": 1,
    "restart": "permanent",
    "restart_on": (InjectedCrash,),
}


# -- the application ------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What ``create_app`` builds; the defaults are the service's."""

    namespace: str = "fastapi_service"
    rate_capacity: int = 10
    rate_per_s: float = 5.0
    limiter_idle_s: float = 60.0
    sweep_every_s: float = 10.0
    cache_capacity: int = 256
    job_delay_s: float = 0.01
    max_jobs_kept: int = 10_000
    shutdown_timeout: float | None = 10.0
    clock: Callable[[], float] = time.monotonic


async def sweep_idle_limiters(system: ActorSystem, idle_s: float, every_s: float) -> None:
    """Every ``every_s`` seconds, stop token buckets unused for ``idle_s``. Runs until cancelled."""
    while True:
        await asyncio.sleep(every_s)
        for info in system.list_actors():
            if info.state is not ActorState.ALIVE or not (info.name or "").startswith("ratelimit:"):
                continue
            assert info.name is not None
            try:
                bucket = system.get_actor(info.name)
                await bucket.reap_if_idle.remote(idle_s)
            except (ValueError, ActorDiedError):
                pass  # already gone, or reaped now


CounterDep = Annotated[ActorHandle[Counter], Depends(actor_handle("counter"))]
CacheDep = Annotated[ActorHandle[LRUCache], Depends(actor_handle("cache"))]


async def live_worker(system: ActorSystemDep) -> ActorHandle[JobWorker]:
    """The background worker, or 503 if it has stopped for good.

    Raises:
        HTTPException: 503, no live actor is named ``worker``.
    """
    try:
        return system.get_actor("worker")
    except ValueError:
        if system.closed:
            raise ActorDiedError("the worker stopped: the service is shutting down") from None
        raise HTTPException(503, "the worker has stopped") from None


WorkerDep = Annotated[ActorHandle[JobWorker], Depends(live_worker)]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. Its actor system starts and stops with the application."""
    cfg = settings or Settings()
    jobs: OrderedDict[int, ObjectRef[int]] = OrderedDict()
    job_ids = itertools.count(1)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The application's own lifespan: the actor system is already running.
        counter = Counter.options(name="counter").remote()
        cache = LRUCache.options(name="cache").remote(cfg.cache_capacity)
        workers = Supervisor("one_for_one", max_restarts=3, within_s=5.0, name="workers")
        worker = JobWorker.options(supervisor=workers, **WORKER_OPTIONS).remote(cfg.job_delay_s)
        await asyncactors.get([counter.get.remote(), cache.stats.remote(), worker.status.remote()])
        system: ActorSystem = getattr(app.state, STATE_KEY)
        sweeper = asyncio.create_task(
            sweep_idle_limiters(system, cfg.limiter_idle_s, cfg.sweep_every_s)
        )
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    app = FastAPI(
        title="asyncactors example service",
        lifespan=actor_lifespan(
            lifespan, namespace=cfg.namespace, shutdown_timeout=cfg.shutdown_timeout
        ),
    )

    @app.exception_handler(ActorDiedError)
    async def actor_died(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": "ActorDiedError", "detail": str(exc)}, status_code=503)

    # -- counter ----------------------------------------------------------------------

    @app.post("/counter")
    async def increment(counter: CounterDep) -> dict[str, int]:
        return {"value": await counter.incr.remote()}

    @app.get("/counter")
    async def read_counter(counter: CounterDep) -> dict[str, int]:
        return {"value": await counter.get.remote()}

    @app.post("/counter/sync")
    def increment_sync(counter: CounterDep) -> dict[str, int]:
        # A plain def endpoint runs in a worker thread: block it, not the loop.
        return {"value": counter.incr.remote().result(timeout=30)}

    # -- rate limiter -----------------------------------------------------------------

    @app.get("/limited")
    async def limited(
        request: Request,
        system: ActorSystemDep,
        x_client_id: Annotated[str | None, Header()] = None,
    ) -> dict[str, str]:
        client = x_client_id or (request.client.host if request.client else "unknown")
        for _ in range(3):
            if system.closed:
                raise HTTPException(503, "shutting down")
            bucket = TokenBucket.options(name=f"ratelimit:{client}", get_if_exists=True).remote(
                cfg.rate_capacity, cfg.rate_per_s, cfg.clock
            )
            try:
                wait_s = await bucket.acquire.remote()
                break
            except ActorDiedError:
                continue  # the sweeper reaped this bucket meanwhile: make a new one
        else:
            raise HTTPException(503, "rate limiter unavailable")
        if wait_s > 0:
            retry_after = str(math.ceil(wait_s)) if math.isfinite(wait_s) else "3600"
            raise HTTPException(429, "rate limit exceeded", headers={"Retry-After": retry_after})
        return {"client": client, "status": "admitted"}

    # -- cache ------------------------------------------------------------------------

    @app.put("/cache/{key}")
    async def cache_put(
        key: str, value: Annotated[str, Body(embed=True)], cache: CacheDep
    ) -> dict[str, Any]:
        return {"key": key, "evicted": await cache.put.remote(key, value)}

    @app.get("/cache/{key}")
    async def cache_get(key: str, cache: CacheDep) -> dict[str, str]:
        try:
            return {"key": key, "value": await cache.get.remote(key)}
        except CacheMiss:
            raise HTTPException(404, f"{key!r} is not cached") from None

    @app.get("/cache")
    async def cache_stats(cache: CacheDep) -> dict[str, int]:
        return await cache.stats.remote()

    # -- background worker ------------------------------------------------------------

    @app.post("/jobs", status_code=202)
    async def submit_job(worker: WorkerDep, n: int = 1000) -> dict[str, int]:
        job_id = next(job_ids)
        jobs[job_id] = worker.run.remote(job_id, n)  # runs in the background
        while len(jobs) > cfg.max_jobs_kept:
            jobs.popitem(last=False)
        return {"job": job_id}

    @app.get("/jobs/{job_id}")
    async def job_status(job_id: int) -> dict[str, Any]:
        ref = jobs.get(job_id)
        if ref is None:
            raise HTTPException(404, f"no job {job_id}")
        if not ref.done():
            return {"job": job_id, "state": "pending"}
        try:
            return {"job": job_id, "state": "done", "result": await ref}
        except Exception as exc:
            return {"job": job_id, "state": "failed", "error": f"{type(exc).__name__}: {exc}"}

    @app.post("/worker/crash")
    async def crash_worker(worker: WorkerDep) -> dict[str, Any]:
        try:
            await worker.crash.remote()
        except InjectedCrash as exc:
            # The actor's own exception, as itself: the application picks the status.
            # The worker crashed on it; its supervisor is restarting it.
            return {"injected": f"{type(exc).__name__}: {exc}"}
        raise HTTPException(500, "the worker did not crash")  # pragma: no cover

    @app.get("/worker")
    async def worker_status(worker: WorkerDep) -> dict[str, Any]:
        return await worker.status.remote()

    # -- introspection ----------------------------------------------------------------

    @app.get("/actors")
    async def actors(system: ActorSystemDep) -> list[dict[str, Any]]:
        return [
            {
                "actor_id": info.actor_id,
                "class": info.class_name,
                "name": info.name,
                "state": info.state.value,
                "mailbox_depth": info.mailbox_depth,
                "mailbox_capacity": info.mailbox_capacity,
                "peak_depth": info.peak_depth,
                "calls_processed": info.calls_processed,
                "calls_failed": info.calls_failed,
            }
            for info in system.list_actors()
            if info.state is not ActorState.DEAD
        ]

    return app


# -- running it -----------------------------------------------------------------------


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host program."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 at a free port in this loop; yield its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            await task  # raises the startup error, if any
            raise RuntimeError("uvicorn did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def self_test() -> None:
    """Exercise every endpoint once over HTTP and print what each returned."""
    settings = Settings(rate_capacity=5, rate_per_s=0.001, job_delay_s=0.001)
    async with (
        serving(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        replies = await asyncio.gather(*(client.post("/counter") for _ in range(100)))
        assert all(r.status_code == 200 for r in replies)
        for _ in range(10):
            (await client.post("/counter/sync")).raise_for_status()
        print("counter:", (await client.get("/counter")).json()["value"])

        codes = [
            (await client.get("/limited", headers={"x-client-id": "alice"})).status_code
            for _ in range(8)
        ]
        print(f"rate limiter: admitted {codes.count(200)}, refused {codes.count(429)}")

        (await client.put("/cache/a", json={"value": "1"})).raise_for_status()
        print("cache get a:", (await client.get("/cache/a")).status_code)
        print("cache get b:", (await client.get("/cache/b")).status_code)
        print("cache stats:", (await client.get("/cache")).json())

        ids = [(await client.post("/jobs", params={"n": 10})).json()["job"] for _ in range(3)]
        states = []
        for job_id in ids:
            for _ in range(500):
                state = (await client.get(f"/jobs/{job_id}")).json()
                if state["state"] != "pending":
                    break
                await asyncio.sleep(0.01)
            states.append(state["state"])
        print("jobs:", states)

        print("crash:", (await client.post("/worker/crash")).json()["injected"])
        print("worker:", (await client.get("/worker")).json())
        names = sorted(a["name"] or a["class"] for a in (await client.get("/actors")).json())
        print("actors:", ", ".join(names))
    print("self-test ok")


def main() -> None:
    parser = argparse.ArgumentParser(description="A FastAPI service built on actors.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--self-test", action="store_true", help="run a short check and exit")
    args = parser.parse_args()
    if args.self_test:
        asyncio.run(self_test())
    else:
        uvicorn.run(create_app(), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
