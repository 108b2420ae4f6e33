"""The scenarios: what is timed, on which workload, with how many calls.

A scenario pairs a call pattern (a :class:`~benchmarks._systems.Driver` method)
with a workload class. :meth:`Scenario.run` measures one run of one system on a
fresh event loop and returns nanoseconds per call. To add a scenario, register
a :class:`Scenario` in :data:`SCENARIOS`; a new call pattern also needs a driver
method in every system.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ._systems import SYSTEMS, Driver
from ._workload import AsyncCounter, SyncCounter, Workload

__all__ = ["SCENARIOS", "LoopFactory", "Scenario"]

LoopFactory = Callable[[], asyncio.AbstractEventLoop]
Pattern = Callable[[Driver, int], Awaitable[None]]


def _seq(driver: Driver, n: int) -> Awaitable[None]:
    return driver.seq(n)


def _pipelined(driver: Driver, n: int) -> Awaitable[None]:
    return driver.pipelined(n)


@dataclass(frozen=True)
class Scenario:
    """One benchmark: ``pattern`` of calls to ``incr`` on an actor running ``workload``."""

    name: str
    description: str
    workload: Workload
    pattern: Pattern
    calls: int
    """Calls per timed run by default."""
    quick_calls: int
    """Calls per timed run with ``--quick``."""

    def run(self, system: str, loop_factory: LoopFactory, calls: int) -> float:
        """Time ``calls`` calls on ``system`` on a new loop from ``loop_factory``; return ns/call.

        Only the calls are timed: creating the loop, the system and the actor,
        the warm-up calls and the shutdown are not.
        """
        if calls < 1:
            raise ValueError(f"calls must be >= 1, got {calls}")
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            elapsed_ns = runner.run(self._timed(system, calls))
        return elapsed_ns / calls

    async def _timed(self, system: str, calls: int) -> int:
        # Warm-up on the same loop and actor: the first calls pay for lazily
        # created queues, futures' free lists, attribute caches and the like.
        warmup = max(1, calls // 10)
        async with SYSTEMS[system](self.workload) as driver:
            await self.pattern(driver, warmup)
            # Start every timed run with the same (empty) garbage, so a collection
            # of the warm-up's leftovers does not land in one run and not another.
            gc.collect()
            start = time.perf_counter_ns()
            await self.pattern(driver, calls)
            elapsed = time.perf_counter_ns() - start
            # A benchmark of a broken path is worthless: check every call ran once.
            count = await driver.value()
        if count != warmup + calls:
            raise RuntimeError(
                f"{self.name} on {system}: actor counted {count} calls, expected {warmup + calls}"
            )
        return elapsed


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="seq_sync",
            description="one caller awaits each call to a sync method in turn",
            workload=SyncCounter,
            pattern=_seq,
            calls=20_000,
            quick_calls=300,
        ),
        Scenario(
            name="seq_async",
            description="one caller awaits each call to an async method in turn",
            workload=AsyncCounter,
            pattern=_seq,
            calls=20_000,
            quick_calls=300,
        ),
        Scenario(
            name="pipelined",
            description="submit all calls to a sync method, then wait for all of them",
            workload=SyncCounter,
            pattern=_pipelined,
            calls=100_000,
            quick_calls=2_000,
        ),
    )
}
"""Scenarios by name, in report order."""
