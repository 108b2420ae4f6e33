"""One fixed workload for instruction counting (``python -m benchmarks.icount`` runs it).

``python -m benchmarks._icount_workload SCENARIO SYSTEM LOOP N`` starts ``SYSTEM``
(``floor`` or ``asyncactors``) on ``LOOP``, spawns the scenario's actors, warms
up with a fixed number of calls, then does ``N`` units of the scenario's work
through the very drivers the timing suite uses (:mod:`benchmarks._systems`).
Everything but the ``N`` units is the same whatever ``N``, so the difference
of the instructions of two runs divided by the difference of their ``N`` is
the cost of one unit: one call, or one actor created up to its first reply.

The IO-bound scenarios replace the 1 ms sleep with a future resolved in the next
loop iteration, as an IO completion is: a timer's expiry depends on how fast the
process runs (under valgrind, about 50 times slower), which would make the
number of loop iterations, and so the count, vary from run to run. Each of
their runs spawns the actors of the largest size, so that only the calls vary.

The batch scenario (``batch_io``) counts one item: its service's latency is
``asyncio.sleep(0)`` (one loop iteration), and its batchers wait 0 s for a batch
to fill (they take what is queued when they flush), for the same reason; its
closed-loop callers keep the batches full, as in the timing suite.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import _workload
from ._loops import available_loops
from ._scenarios import SCENARIOS, BatchScenario, CallScenario, IOScenario
from ._systems import Driver, core_systems, round_robin_callers

__all__ = ["MAX_N", "SCENARIO_NAMES", "io_incr", "main", "run"]

WARMUP = 100
"""Calls (or actors) of the warm-up, the same at every ``N``."""
MAX_N = 3000
"""The largest ``N``: the IO-bound scenarios spawn the actors of this size."""

SCENARIO_NAMES = (
    "seq_sync",
    "seq_async",
    "pipelined",
    "one_to_n",
    "n_to_n",
    "concurrent",
    "arg_1kb",
    "create",
    "io_c1",
    "io_c10",
    "io_c100",
    "batch_io",
)


async def _next_iteration_io() -> None:
    """What ``asyncio.sleep(delay)`` does for ``delay > 0``, with the timer replaced
    by a callback in the next loop iteration."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    loop.call_soon(_set_unless_cancelled, fut)
    await fut


def _set_unless_cancelled(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def io_incr(self: _workload.IOService, arg: object = None) -> int:
    await _next_iteration_io()
    self.n += 1
    return self.n


async def run(scenario_name: str, system_name: str, n: int, *, teardown: bool = False) -> None:
    """Do the scenario's work at size ``n``; without ``teardown``, exit the process after it."""
    system = core_systems()[system_name]
    scenario = SCENARIOS[scenario_name]
    async with system.session() as driver:
        if scenario_name == "create":
            await driver.create(WARMUP)
            replies = await driver.create(n)
            if replies != n:
                raise RuntimeError(f"create: {replies} replies, not {n}")
        elif isinstance(scenario, BatchScenario):
            service = await driver.batch_service(True, 0.0, wait_s=0.0)
            await round_robin_callers([service.submit], scenario.n_callers, WARMUP)
            await round_robin_callers([service.submit], scenario.n_callers, n)
            served = await service.served()
            if served != WARMUP + n:
                raise RuntimeError(f"{scenario_name}: {served} items served, not {WARMUP + n}")
        elif isinstance(scenario, IOScenario):
            # Held until the exit: releasing them is not timed either.
            actors = await _io(driver, scenario.concurrency, n)
        else:
            assert isinstance(scenario, CallScenario)
            actors = [
                await driver.spawn(scenario.workload, scenario.max_concurrency)
                for _ in range(scenario.n_actors)
            ]
            await scenario._calls(driver, actors, WARMUP)
            await scenario._calls(driver, actors, n)
            count = sum([await driver.count(a) for a in actors])
            if count != WARMUP + n:
                raise RuntimeError(f"{scenario_name}: {count} calls counted, not {WARMUP + n}")
        if not teardown:
            # As the timing suite times none of the teardown, count none of it: it
            # grows with the actors created (or called), and would dilute the figure.
            sys.stdout.flush()
            os._exit(0)


async def _io(driver: Driver, c: int, n: int) -> Sequence[Any]:
    # c calls per actor, as in the timing suite (10k calls over 10k/c actors).
    warm: Sequence[Any] = [
        await driver.spawn(_workload.IOService, c) for _ in range(max(1, WARMUP // c))
    ]
    await driver.io(warm, WARMUP)
    actors = [await driver.spawn(_workload.IOService, c) for _ in range(MAX_N // c)]
    # Checked by the latencies, one per call awaited: counting through the actors
    # would add a call per actor, and so per unit at c=1.
    latencies = await driver.io(actors[: max(1, n // c)], n)
    if len(latencies) != n:
        raise RuntimeError(f"io_c{c}: {len(latencies)} calls answered, not {n}")
    return actors


def main(argv: Sequence[str]) -> int:
    """``SCENARIO SYSTEM LOOP N``: run the workload once."""
    if len(argv) != 4 or argv[0] not in SCENARIO_NAMES or argv[1] not in core_systems():
        print(
            f"usage: SCENARIO({'|'.join(SCENARIO_NAMES)}) SYSTEM(floor|asyncactors) LOOP N",
            file=sys.stderr,
        )
        return 2
    scenario_name, system_name, loop_name, n = argv[0], argv[1], argv[2], int(argv[3])
    _workload.IOService.incr = io_incr  # type: ignore[method-assign]
    with asyncio.Runner(loop_factory=available_loops()[loop_name]) as runner:
        runner.run(run(scenario_name, system_name, n))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
