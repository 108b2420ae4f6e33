"""Command line: ``python -m benchmarks [--only NAME[,NAME]] [--quick] [--runs N] ...``.

Progress goes to stderr (a live status line on a terminal); the results go to
stdout. ``python -m benchmarks --list`` shows the scenarios and systems.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._loops import KNOWN_LOOPS, available_loops
from ._machine import describe, machine_info
from ._peers import ASYNCACTORS_RAY, RAY, RAY_ASYNC, RAY_SYSTEMS, peer_systems, start_ray, stop_ray
from ._plot import matplotlib_missing, plot_rows
from ._progress import ProgressDisplay, format_duration
from ._report import format_markdown, format_tables, write_json
from ._runner import Row, measure
from ._scenarios import GROUPS, SCENARIOS, Scenario
from ._systems import ASYNCACTORS, BASELINE, System, core_systems
from ._targets import check_targets

__all__ = ["main"]


def _parse_list(
    value: str, known: Sequence[str], what: str, groups: dict[str, list[str]]
) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no {what} given")
    expanded: set[str] = set()
    unknown = []
    for name in names:
        if name in known:
            expanded.add(name)
        elif name in groups:
            expanded.update(groups[name])
        else:
            unknown.append(name)
    if unknown:
        # A group named as a scenario (create) is listed once: the name is the scenario's.
        choices = [*known, *(group for group in groups if group not in known)]
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown)} (choose from {', '.join(choices)})"
        )
    # Keep the registry's order, so the report reads the same whatever the command line.
    return [name for name in known if name in expanded]


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


_SYSTEM_NAMES = (BASELINE, "asyncactors", "xoscar", "pykka", RAY, RAY_ASYNC, ASYNCACTORS_RAY)


def _parser() -> argparse.ArgumentParser:
    scenarios = list(SCENARIOS)
    groups = [group for group in GROUPS if group not in SCENARIOS]
    shadowed = [group for group in GROUPS if group in SCENARIOS]
    only_help = f"scenarios (see --list) or groups ({', '.join(groups)}) to run (default: all)"
    if shadowed:
        only_help += f"; {', '.join(shadowed)} names the scenario, not its group"
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Compare asyncactors with a plain asyncio actor (the floor) and, when "
            "installed, Ray, pykka and xoscar, in interleaved runs. Every figure is "
            "the median of the runs, with the fastest and slowest, and its ratio to "
            "the floor measured in the same run. --list shows the scenarios."
        ),
    )
    parser.add_argument(
        "--only",
        metavar="NAME[,NAME]",
        type=lambda v: _parse_list(v, scenarios, "scenario", GROUPS),
        default=scenarios,
        help=only_help,
    )
    parser.add_argument(
        "--systems",
        metavar="NAME[,NAME]",
        type=lambda v: _parse_list(v, _SYSTEM_NAMES, "system", {}),
        default=None,
        help="systems to compare (default: every one installed; the floor always runs)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes and no 1M-actor run (a smoke run)"
    )
    parser.add_argument(
        "--runs",
        type=_positive_int,
        metavar="N",
        default=5,
        help="measured runs per system; figures are their median (default: 5)",
    )
    parser.add_argument(
        "--loops",
        metavar="LOOP[,LOOP]",
        type=lambda v: _parse_list(v, KNOWN_LOOPS, "loop", {}),
        default=None,
        help="event loops for the floor and asyncactors (default: asyncio, and uvloop "
        "if importable); peers run on asyncio only",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--markdown", type=Path, metavar="FILE", help="also write the tables as Markdown"
    )
    parser.add_argument(
        "--plot", type=Path, metavar="FILE.png", help="also draw the results (needs matplotlib)"
    )
    parser.add_argument(
        "--list", action="store_true", help="list the scenarios and systems, then exit"
    )
    return parser


@dataclass
class _Planned:
    scenario: Scenario
    loop: str
    systems: list[System]
    runs: int
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return len(self.systems) * (self.runs + 1)

    @property
    def uses_ray(self) -> bool:
        return any(s.name in RAY_SYSTEMS for s in self.systems)


def _list(systems: dict[str, System], missing: dict[str, str]) -> None:
    print("Scenarios (group: name - what):")
    for s in SCENARIOS.values():
        print(f"  {s.group:<7} {s.name:<15} {s.description}")
    print("\nSystems:")
    for system in systems.values():
        print(f"  {system.name:<15} {system.description}")
    for name, reason in missing.items():
        print(f"  {name:<15} not available: {reason}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks selected by ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)

    peers, missing = peer_systems()
    known = {**core_systems(), **peers}
    if args.list:
        _list(known, missing)
        return 0
    if args.plot is not None and (why := matplotlib_missing()):
        parser.error(f"--plot: {why}")

    def early_note(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    available = available_loops()
    if args.loops is None:
        loops = list(available)
        for name in KNOWN_LOOPS:
            if name not in available:
                early_note(f"note: {name} is not importable, skipping it")
    else:
        absent = [name for name in args.loops if name not in available]
        if absent:
            parser.error(f"loop not importable here: {', '.join(absent)}")
        loops = args.loops

    if args.systems is None:
        selected = list(known.values())
        for name, reason in missing.items():
            early_note(f"note: skipping {name}: {reason}")
    else:
        names = [BASELINE, *(n for n in args.systems if n != BASELINE)]
        absent = [n for n in names if n not in known]
        if absent:
            parser.error(
                "not installed here: "
                + ", ".join(f"{n} ({missing.get(n, 'unknown')})" for n in absent)
            )
        selected = [known[n] for n in names]
    if args.runs < 5:
        early_note(f"note: {args.runs} run(s) per system; use 5 or more for figures to quote")

    plan: list[_Planned] = []
    for name in args.only:
        scenario = SCENARIOS[name]
        if args.quick and not scenario.in_quick:
            early_note(f"note: --quick skips {name}")
            continue
        row_loops = loops if scenario.all_loops else [loops[0]]
        for loop in row_loops:
            systems: list[System] = []
            skipped: dict[str, str] = {}
            for system in selected:
                if not system.all_loops and loop != "asyncio":
                    continue
                if scenario.core_only and system.name not in (BASELINE, ASYNCACTORS):
                    continue
                if name in system.unsupported:
                    skipped[system.name] = system.unsupported[name]
                    continue
                systems.append(system)
            runs = scenario.runs or args.runs
            plan.append(_Planned(scenario, loop, systems, runs, skipped))

    display = ProgressDisplay(sum(p.steps for p in plan))
    results: dict[int, Row] = {}
    info = machine_info()
    started = time.monotonic()

    def run_row(index: int) -> None:
        p = plan[index]
        results[index] = measure(
            p.scenario,
            p.loop,
            available[p.loop],
            p.systems,
            runs=p.runs,
            quick=args.quick,
            progress=display,
            skipped=p.skipped,
        )

    # Rows without Ray first, so Ray's idle daemons only run while Ray is measured.
    for i, p in enumerate(plan):
        if not p.uses_ray:
            run_row(i)
    ray_rows = [i for i, p in enumerate(plan) if p.uses_ray]
    ray_init = None
    if ray_rows:
        display.note("starting a local Ray (ray.init(num_cpus=2), loopback only)...")
        try:
            ray_init = start_ray()
        except Exception as exc:
            display.note(f"ray.init failed, skipping Ray: {exc!r}")
            for i in ray_rows:
                p = plan[i]
                on_ray = [s for s in p.systems if s.name in RAY_SYSTEMS]
                display.skip((p.runs + 1) * len(on_ray))
                p.systems = [s for s in p.systems if s.name not in RAY_SYSTEMS]
                for s in on_ray:
                    p.skipped[s.name] = f"ray.init failed: {type(exc).__name__}"
        else:
            display.note(f"ray.init took {ray_init:.1f} s")
        try:
            for i in ray_rows:
                run_row(i)
        finally:
            if ray_init is not None:
                stop_ray()
    display.close()

    rows = [results[i] for i in sorted(results)]
    checks = check_targets(rows)
    runs_note = f"{args.runs} run{'' if args.runs == 1 else 's'} per system" + (
        ", --quick" if args.quick else ""
    )
    print(f"{describe(info)}")
    print(
        f"{runs_note}; systems interleaved; figures: median [fastest{chr(0x2013)}slowest run]; "
        f"x floor: median / floor's median in the same row; took "
        f"{format_duration(time.monotonic() - started)}"
        + (f"; ray.init took {ray_init:.1f} s" if ray_init is not None else "")
    )
    print()
    print(format_tables(rows, checks))
    if args.json is not None:
        write_json(rows, info, args.json, checks)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.markdown is not None:
        header = f"{describe(info)}; {runs_note}.\n\n"
        args.markdown.write_text(header + format_markdown(rows, checks), encoding="utf-8")
        print(f"wrote {args.markdown}", file=sys.stderr)
    if args.plot is not None:
        plot_rows(rows, args.plot, f"asyncactors benchmarks: {describe(info)}")
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
