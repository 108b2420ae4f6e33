"""The scenarios: what is timed or measured, on which workload, at which size.

A scenario's :meth:`~Scenario.run` measures one run of one system (on a fresh
event loop from the given factory) and returns its metrics, each a cost where
lower is better. Only the measured part is timed: starting the system, spawning
the actors, warming up and shutting down are not. Every run also checks that
every call ran exactly once, since a benchmark of a broken path is worthless.

To add a scenario, register it in :data:`SCENARIOS`; a new call pattern also
needs a driver method in every system (:mod:`benchmarks._systems`).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._memory import measure_idle
from ._modelserver import model_server
from ._systems import Driver, System, round_robin_callers
from ._workload import (
    BATCH_CONCURRENCY,
    BATCH_SIZE,
    BATCH_WAIT_S,
    IO_SECONDS,
    AsyncCounter,
    IOService,
    ModelClient,
    SyncCounter,
    Workload,
    YieldingCounter,
)

__all__ = ["GROUPS", "SCENARIOS", "LoopFactory", "Metric", "Scenario"]

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


@dataclass(frozen=True)
class Metric:
    """One figure a scenario reports per run; lower is better."""

    key: str
    label: str
    digits: int = 2
    rate: bool = False
    """Shown as its inverse, per second (a µs/call cost shown as calls/s)."""


US_PER_CALL = Metric("us_per_call", "µs/call", 3)
US_PER_ACTOR = Metric("us_per_actor", "µs/actor", 3)
US_PER_RESTART = Metric("us_per_restart", "µs/restart", 3)
TRACEMALLOC = Metric("tracemalloc_bytes", "B/actor (tracemalloc)", 0)
RSS = Metric("rss_bytes", "B/actor (RSS)", 0)
IO_RATE = Metric("us_per_call", "calls/s", 0, rate=True)
UNBATCHED_RATE = Metric("unbatched_us_per_call", "calls/s unbatched", 0, rate=True)
P50 = Metric("p50_ms", "p50 ms", 3)
P99 = Metric("p99_ms", "p99 ms", 3)

N_ACTORS = 8
"""Actors (and callers) in the 1:n and n:n scenarios."""
CONCURRENCY = 16
"""``max_concurrency`` (and callers) of the concurrent-actor scenario."""
PAYLOAD = bytes(1024)


@dataclass(frozen=True)
class Scenario:
    """A benchmark. Subclasses say what one run measures."""

    name: str
    group: str
    description: str
    size: int
    """Calls (or actors) per run for the floor and asyncactors."""
    quick_size: int
    metrics: tuple[Metric, ...]
    all_loops: bool = True
    """``False``: measured on the asyncio loop only (memory does not depend on the loop)."""
    runs: int | None = None
    """Runs per system, overriding ``--runs`` (for measurements too slow to repeat)."""
    in_quick: bool = True
    """Whether ``--quick`` runs it."""
    core_only: bool = False
    """Only the floor and asyncactors run it."""

    def size_for(self, system: System, quick: bool) -> int:
        """Calls or actors per run for ``system``."""
        base = self.quick_size if quick else self.size
        return system.calls(base)

    def warmup_size(self, size: int) -> int:
        """Size of the unrecorded warm-up run (0: none)."""
        return max(1, size // 10)

    def run(self, system: System, loop_factory: LoopFactory, size: int) -> dict[str, float]:
        """Measure one run of ``system``; return metric key -> value."""
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(self._run(system, size))

    async def _run(self, system: System, size: int) -> dict[str, float]:
        raise NotImplementedError


Pattern = Callable[[Driver, Sequence[Any], int], Awaitable[None]]


@dataclass(frozen=True)
class CallScenario(Scenario):
    """Calls to ``incr`` on ``n_actors`` actors running ``workload``, in a pattern."""

    workload: Workload = SyncCounter
    pattern: str = "seq"
    """``seq`` (one caller, awaited in turn), ``pipelined`` (all submitted, then
    gathered), ``callers`` (``n_callers`` concurrent sequential callers) or
    ``wait_loop`` (all submitted, then waited for one at a time)."""
    n_actors: int = 1
    n_callers: int = 1
    max_concurrency: int | None = None
    arg: object = 1
    metrics: tuple[Metric, ...] = (US_PER_CALL,)

    async def _calls(self, driver: Driver, actors: Sequence[Any], n: int) -> None:
        if self.pattern == "seq":
            await driver.seq(actors[0], n, self.arg)
        elif self.pattern == "pipelined":
            await driver.pipelined(actors, n)
        elif self.pattern == "callers":
            await driver.callers(actors, self.n_callers, n)
        elif self.pattern == "wait_loop":
            await driver.wait_loop(actors[0], n)
        else:
            raise ValueError(f"unknown pattern {self.pattern!r}")

    async def _run(self, system: System, size: int) -> dict[str, float]:
        warmup = self.warmup_size(size)
        async with system.session() as driver:
            actors = [
                await driver.spawn(self.workload, self.max_concurrency)
                for _ in range(self.n_actors)
            ]
            # Warm-up on the same loop and actors: the first calls pay for lazily
            # created queues, futures' free lists, attribute caches and the like.
            await self._calls(driver, actors, warmup)
            # Start every timed run with the same (empty) garbage, so a collection
            # of the warm-up's leftovers does not land in one run and not another.
            gc.collect()
            start = time.perf_counter_ns()
            await self._calls(driver, actors, size)
            elapsed = time.perf_counter_ns() - start
            count = sum([await driver.count(a) for a in actors])
        if count != warmup + size:
            raise RuntimeError(
                f"{self.name} on {system.name}: actors counted {count} calls, "
                f"expected {warmup + size}"
            )
        return {US_PER_CALL.key: elapsed / size / 1000}


@dataclass(frozen=True)
class CreateScenario(Scenario):
    """Create actors of a trivial class and await a first reply from each."""

    metrics: tuple[Metric, ...] = (US_PER_ACTOR,)

    def size_for(self, system: System, quick: bool) -> int:
        base = self.quick_size if quick else self.size
        if system.create_n is None:
            return base
        return min(system.create_n, base) if quick else system.create_n

    def warmup_size(self, size: int) -> int:
        return max(1, min(size // 10, 100))

    def _step(self, driver: Driver, n: int) -> Awaitable[int]:
        """Do ``n`` units of the work; the result is the sum of ``n`` replies of 1."""
        return driver.create(n)

    async def _run(self, system: System, size: int) -> dict[str, float]:
        async with system.session() as driver:
            await self._step(driver, self.warmup_size(size))
            gc.collect()
            start = time.perf_counter_ns()
            replies = await self._step(driver, size)
            elapsed = time.perf_counter_ns() - start
        if replies != size:
            raise RuntimeError(f"{self.name} on {system.name}: {replies} replies, expected {size}")
        return {self.metrics[0].key: elapsed / size / 1000}


@dataclass(frozen=True)
class RestartScenario(CreateScenario):
    """Crash one actor again and again; each time await a reply from its next incarnation."""

    metrics: tuple[Metric, ...] = (US_PER_RESTART,)
    core_only: bool = True

    def _step(self, driver: Driver, n: int) -> Awaitable[int]:
        return driver.restart(n)


@dataclass(frozen=True)
class MemoryScenario(Scenario):
    """Memory per idle actor, by tracemalloc and by RSS, each in a fresh subprocess."""

    metrics: tuple[Metric, ...] = (TRACEMALLOC, RSS)
    all_loops: bool = False
    called: bool = False
    """Each actor answers one call before it is measured (then idle, its mailbox empty)."""

    def size_for(self, system: System, quick: bool) -> int:
        base = self.quick_size if quick else self.size
        if system.memory_n is None:
            return base
        return min(system.memory_n, base)

    def warmup_size(self, size: int) -> int:
        return 0

    def run(self, system: System, loop_factory: LoopFactory, size: int) -> dict[str, float]:
        return measure_idle(system.name, size, self.called)


@dataclass(frozen=True)
class IOScenario(Scenario):
    """Concurrent calls each awaiting 1 ms of simulated IO, over ``size // c`` actors.

    Each actor has ``max_concurrency=c``, so all calls can be in flight at once,
    as they are with the floor, plain ``asyncio.gather`` over the same coroutine.
    """

    concurrency: int = 1
    metrics: tuple[Metric, ...] = (IO_RATE, P50, P99)
    core_only: bool = True

    def warmup_size(self, size: int) -> int:
        return max(1, min(size // 10, 500))

    async def _run(self, system: System, size: int) -> dict[str, float]:
        n_actors = max(1, size // self.concurrency)
        warmup = self.warmup_size(size)
        async with system.session() as driver:
            actors = [await driver.spawn(IOService, self.concurrency) for _ in range(n_actors)]
            await driver.io(actors, warmup)
            gc.collect()
            start = time.perf_counter_ns()
            latencies = await driver.io(actors, size)
            elapsed = time.perf_counter_ns() - start
            count = sum([await driver.count(a) for a in actors])
        if count != warmup + size or len(latencies) != size:
            raise RuntimeError(
                f"{self.name} on {system.name}: {count} calls counted and "
                f"{len(latencies)} latencies, expected {warmup + size} and {size}"
            )
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        return {
            US_PER_CALL.key: elapsed / size / 1000,
            P50.key: cuts[49] / 1e6,
            P99.key: cuts[98] / 1e6,
        }


@dataclass(frozen=True)
class BatchScenario(Scenario):
    """Closed-loop callers of a service whose every request, of one item or a batch, takes
    a fixed latency, with a few requests at once: batched, and one item per request.

    The batched figure is the throughput of ``size`` items; the unbatched one of
    ``size // unbatched_share`` items (unbatched, the latency caps it far lower).
    The floor batches by hand (:class:`~benchmarks._floor.FloorBatcher`).
    """

    latency_s: float = IO_SECONDS
    n_callers: int = 256
    unbatched_share: int = 50
    network: bool = False
    """The latency is a model server's in another process, answering over UDP
    (:mod:`benchmarks._modelserver`), rather than an ``asyncio.sleep``."""
    metrics: tuple[Metric, ...] = (IO_RATE, UNBATCHED_RATE)
    core_only: bool = True

    def warmup_size(self, size: int) -> int:
        return max(self.unbatched_share, min(size // 10, 1000))

    def run(self, system: System, loop_factory: LoopFactory, size: int) -> dict[str, float]:
        if not self.network:
            return super().run(system, loop_factory, size)
        # A fresh server per run, started and stopped outside the timed part.
        with model_server(self.latency_s) as addr, asyncio.Runner(loop_factory=loop_factory) as r:
            return r.run(self._run(system, size, addr))

    async def _timed(
        self, driver: Driver, batched: bool, n: int, client: ModelClient | None
    ) -> float:
        service = await driver.batch_service(batched, self.latency_s, client=client)
        gc.collect()
        start = time.perf_counter_ns()
        await round_robin_callers([service.submit], self.n_callers, n)
        elapsed = time.perf_counter_ns() - start
        served = await service.served()
        if served != n:
            raise RuntimeError(f"{self.name}: the service served {served} items, expected {n}")
        return elapsed / n / 1000

    async def _run(
        self, system: System, size: int, addr: tuple[str, int] | None = None
    ) -> dict[str, float]:
        client = None if addr is None else await ModelClient.connect(addr)
        try:
            async with system.session() as driver:
                batched = await self._timed(driver, True, size, client)
                unbatched_n = max(1, size // self.unbatched_share)
                unbatched = await self._timed(driver, False, unbatched_n, client)
        finally:
            if client is not None:
                client.close()
        return {IO_RATE.key: batched, UNBATCHED_RATE.key: unbatched}


_SCENARIOS: tuple[Scenario, ...] = (
    CallScenario(
        name="seq_sync",
        group="calls",
        description="1:1, one caller awaits each call to a sync method in turn",
        size=20_000,
        quick_size=300,
        workload=SyncCounter,
        pattern="seq",
    ),
    CallScenario(
        name="seq_async",
        group="calls",
        description="1:1, one caller awaits each call to an async method in turn",
        size=20_000,
        quick_size=300,
        workload=AsyncCounter,
        pattern="seq",
    ),
    CallScenario(
        name="pipelined",
        group="calls",
        description="1:1, submit all calls to a sync method, then wait for all of them",
        size=100_000,
        quick_size=2_000,
        workload=SyncCounter,
        pattern="pipelined",
    ),
    CallScenario(
        name="one_to_n",
        group="calls",
        description=f"1:n, one caller submits calls round-robin to {N_ACTORS} sync actors, "
        "then waits for all",
        size=50_000,
        quick_size=1_000,
        workload=SyncCounter,
        pattern="pipelined",
        n_actors=N_ACTORS,
    ),
    CallScenario(
        name="n_to_n",
        group="calls",
        description=f"n:n, {N_ACTORS} concurrent callers each await calls round-robin "
        f"over {N_ACTORS} sync actors",
        size=50_000,
        quick_size=1_000,
        workload=SyncCounter,
        pattern="callers",
        n_actors=N_ACTORS,
        n_callers=N_ACTORS,
    ),
    CallScenario(
        name="concurrent",
        group="calls",
        description=f"one actor with max_concurrency={CONCURRENCY}, {CONCURRENCY} "
        "concurrent callers, an async method that yields once",
        size=20_000,
        quick_size=320,
        workload=YieldingCounter,
        pattern="callers",
        n_callers=CONCURRENCY,
        max_concurrency=CONCURRENCY,
    ),
    CallScenario(
        name="arg_1kb",
        group="calls",
        description="1:1 sequential calls to a sync method with a 1 KB bytes argument",
        size=20_000,
        quick_size=300,
        workload=SyncCounter,
        pattern="seq",
        arg=PAYLOAD,
    ),
    CallScenario(
        name="wait_loop",
        group="calls",
        description="submit 2k calls to an async method that yields once, then wait for "
        "them one at a time as a crawler does (floor: asyncio.wait, FIRST_COMPLETED)",
        size=2_000,
        quick_size=200,
        workload=YieldingCounter,
        pattern="wait_loop",
        max_concurrency=1,
        core_only=True,
    ),
    CreateScenario(
        name="create",
        group="create",
        description="create actors of a trivial class, up to a first reply from each",
        size=10_000,
        quick_size=200,
    ),
    RestartScenario(
        name="restart",
        group="create",
        description="restart rate of a crashing supervised actor (floor: a new task and instance)",
        size=5_000,
        quick_size=100,
    ),
    MemoryScenario(
        name="mem_10k",
        group="memory",
        description="memory per idle actor of a trivial class, 10k actors, each run "
        "in a fresh subprocess",
        size=10_000,
        # RSS moves by whole pages, and the heap's free slack after warm-up (a few
        # hundred KB) absorbs the first actors: on Python 3.13, 500 idle actors read
        # as 0 bytes each.
        quick_size=5_000,
    ),
    MemoryScenario(
        name="mem_after_call",
        group="memory",
        description="memory per actor of a trivial class that has answered one call and "
        "has an empty mailbox, 10k actors, each run in a fresh subprocess",
        size=10_000,
        quick_size=5_000,  # as mem_10k's
        called=True,
        core_only=True,
    ),
    MemoryScenario(
        name="mem_1m",
        group="memory",
        description="memory per idle actor of a trivial class, 1M actors, one run "
        "(skipped with --quick)",
        size=1_000_000,
        quick_size=1_000_000,
        runs=1,
        in_quick=False,
    ),
    *(
        IOScenario(
            name=f"io_c{c}",
            group="io",
            description=f"10k calls each awaiting 1 ms of IO, over 10k/{c} actors with "
            f"max_concurrency={c}, against asyncio.gather",
            size=10_000,
            quick_size=400,
            concurrency=c,
        )
        for c in (1, 10, 100)
    ),
    *(
        BatchScenario(
            name=name,
            group="batch",
            description=f"256 closed-loop callers, one item per call, of a service taking "
            f"{latency * 1000:g} ms per request, {BATCH_CONCURRENCY} requests at once"
            f"{note}: @asyncactors.batch against a hand-written asyncio batcher "
            f"(max_batch_size={BATCH_SIZE}, batch_wait_timeout_s={BATCH_WAIT_S}); "
            "calls/s unbatched: one item per request, 1/50 of the items",
            size=20_000,
            quick_size=1_000,
            latency_s=latency,
        )
        for name, latency, note in (
            ("batch_io", 5 * IO_SECONDS, " (IO-bound)"),
            ("batch_io_1ms", IO_SECONDS, " (the callers' CPU bounds the batched rate)"),
        )
    ),
    *(
        BatchScenario(
            name=name,
            group="batch",
            description=f"as batch_io{suffix}, the service a model server stand-in in "
            f"another process answering over UDP on 127.0.0.1 after {latency * 1000:g} ms "
            "(real network IO: the loop wakes when the reply arrives)",
            size=20_000,
            quick_size=1_000,
            latency_s=latency,
            network=True,
        )
        for name, latency, suffix in (
            ("batch_net", 5 * IO_SECONDS, ""),
            ("batch_net_1ms", IO_SECONDS, "_1ms"),
        )
    ),
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in _SCENARIOS}
"""Scenarios by name, in report order."""

GROUPS: dict[str, list[str]] = {}
"""Scenario names by group (``calls``, ``create``, ``memory``, ``io``), for ``--only``."""
for _s in _SCENARIOS:
    GROUPS.setdefault(_s.group, []).append(_s.name)
