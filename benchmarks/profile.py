"""Profile asyncactors' hot path with cProfile: where does a call's time go?

``python -m benchmarks.profile [--only seq_sync,seq_async] [--loops asyncio,uvloop]
[--calls N] [--top N]`` runs a call scenario on asyncactors under cProfile (the
timed calls only, not the setup) and prints, per scenario and loop, the
functions with the most own time, in µs per benchmark call, with the share of
the total spent in asyncactors, in asyncio and elsewhere. cProfile inflates
every Python function call, so read the ranking and the call counts, not the
absolute figures; compare with the plain timings of ``python -m benchmarks``.
uvloop's own work is in C and shows as the callers that enter it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncactors

from ._loops import KNOWN_LOOPS, available_loops
from ._scenarios import SCENARIOS, CallScenario
from ._systems import ASYNCACTORS, core_systems

__all__ = ["main", "profile_scenario"]

_PACKAGE = str(Path(asyncactors.__file__ or ".").resolve().parent)


def _where(filename: str) -> str:
    if filename.startswith(_PACKAGE):
        return "asyncactors"
    if "asyncio" in filename or filename.startswith("<frozen"):
        return "asyncio"
    if filename == "~":
        return "builtins"
    return "other"


def _short(filename: str) -> str:
    for marker in ("asyncactors/", "asyncio/", "benchmarks/"):
        i = filename.rfind(marker)
        if i >= 0:
            return filename[i:]
    return Path(filename).name


async def _profiled(scenario: CallScenario, calls: int, profiler: cProfile.Profile) -> None:
    system = core_systems()[ASYNCACTORS]
    async with system.session() as driver:
        actors = [
            await driver.spawn(scenario.workload, scenario.max_concurrency)
            for _ in range(scenario.n_actors)
        ]
        await scenario._calls(driver, actors, max(1, calls // 10))
        gc.collect()
        profiler.enable()
        await scenario._calls(driver, actors, calls)
        profiler.disable()


def profile_scenario(name: str, loop: str, calls: int) -> pstats.Stats:
    """Profile ``calls`` calls of scenario ``name`` on asyncactors on ``loop``."""
    scenario = SCENARIOS[name]
    if not isinstance(scenario, CallScenario):
        raise ValueError(f"{name} is not a call scenario")
    profiler = cProfile.Profile()
    with asyncio.Runner(loop_factory=available_loops()[loop]) as runner:
        runner.run(_profiled(scenario, calls, profiler))
    return pstats.Stats(profiler)


def format_profile(stats: pstats.Stats, calls: int, top: int) -> str:
    """The top functions by own time, in µs per benchmark call, and the shares."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    by_place: dict[str, float] = {}
    total = 0.0
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in raw.items():
        place = _where(filename)
        by_place[place] = by_place.get(place, 0.0) + tottime
        total += tottime
        rows.append((tottime, ncalls, cumtime, place, f"{_short(filename)}:{line}({func})"))
    rows.sort(reverse=True)
    lines = [
        f"total own time {total / calls * 1e6:.2f} µs per call under cProfile; shares: "
        + ", ".join(
            f"{k} {v / total:.0%}" for k, v in sorted(by_place.items(), key=lambda kv: -kv[1])
        )
    ]
    lines.append(f"{'own µs/call':>11}  {'cum µs/call':>11}  {'calls/call':>10}  function")
    for tottime, ncalls, cumtime, _place, label in rows[:top]:
        lines.append(
            f"{tottime / calls * 1e6:11.3f}  {cumtime / calls * 1e6:11.3f}  "
            f"{ncalls / calls:10.2f}  {label}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Profile the selected scenarios on the selected loops; print the summaries."""
    calls_scenarios = [n for n, s in SCENARIOS.items() if isinstance(s, CallScenario)]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--only", default="seq_sync,seq_async", metavar="NAME[,NAME]")
    parser.add_argument("--loops", default=",".join(available_loops()), metavar="LOOP[,LOOP]")
    parser.add_argument("--calls", type=int, default=20_000, metavar="N")
    parser.add_argument("--top", type=int, default=15, metavar="N")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    loops = [n.strip() for n in args.loops.split(",") if n.strip()]
    for n in names:
        if n not in calls_scenarios:
            parser.error(f"unknown call scenario {n!r} (choose from {', '.join(calls_scenarios)})")
    for loop in loops:
        if loop not in available_loops():
            parser.error(f"loop {loop!r} not importable (known: {', '.join(KNOWN_LOOPS)})")
    for name in names:
        for loop in loops:
            stats = profile_scenario(name, loop, args.calls)
            print(f"== {name} on {loop}, {args.calls} calls")
            print(format_profile(stats, args.calls, args.top))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
