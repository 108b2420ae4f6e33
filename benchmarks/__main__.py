"""Command line: ``python -m benchmarks [--only NAME[,NAME]] [--quick] [--runs N] ...``.

Progress goes to stderr, one line per run; the results table goes to stdout.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from ._loops import KNOWN_LOOPS, available_loops
from ._report import format_table, write_json
from ._runner import Row, measure
from ._scenarios import SCENARIOS
from ._systems import SYSTEMS

__all__ = ["main"]


def _parse_list(value: str, known: Sequence[str], what: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no {what} given")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown)} (choose from {', '.join(known)})"
        )
    # Keep the registry's order, so the table reads the same whatever the command line.
    return [name for name in known if name in names]


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def _parser() -> argparse.ArgumentParser:
    scenarios = list(SCENARIOS)
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Time asyncactors' hot path against a plain asyncio actor (the floor), "
            "interleaving their runs. Scenarios: "
            + "; ".join(f"{s.name}: {s.description}" for s in SCENARIOS.values())
            + "."
        ),
    )
    parser.add_argument(
        "--only",
        metavar="NAME[,NAME]",
        type=lambda v: _parse_list(v, scenarios, "scenario"),
        default=scenarios,
        help=f"scenarios to run (default: all of {','.join(scenarios)})",
    )
    parser.add_argument(
        "--quick", action="store_true", help="far fewer calls per run (a smoke run, not a figure)"
    )
    parser.add_argument(
        "--runs",
        type=_positive_int,
        metavar="N",
        default=7,
        help="timed runs per system; figures are their median (default: 7)",
    )
    parser.add_argument(
        "--calls",
        type=_positive_int,
        metavar="N",
        default=None,
        help="calls per timed run, for every scenario (default: per scenario)",
    )
    parser.add_argument(
        "--loops",
        metavar="LOOP[,LOOP]",
        type=lambda v: _parse_list(v, KNOWN_LOOPS, "loop"),
        default=None,
        help="event loops to run on (default: asyncio, and uvloop if importable)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, metavar="FILE", help="also write the results as JSON"
    )
    return parser


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks selected by ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    available = available_loops()
    loops: list[str]
    if args.loops is None:
        loops = list(available)
        for name in KNOWN_LOOPS:
            if name not in available:
                _progress(f"note: {name} is not importable, skipping it")
    else:
        missing = [name for name in args.loops if name not in available]
        if missing:
            parser.error(f"loop not importable here: {', '.join(missing)}")
        loops = args.loops

    if args.runs < 5:
        _progress(f"note: only {args.runs} run(s) per system; use 5 or more for figures to quote")

    rows: list[Row] = []
    for name in args.only:
        scenario = SCENARIOS[name]
        calls = args.calls or (scenario.quick_calls if args.quick else scenario.calls)
        for loop in loops:
            rows.append(
                measure(
                    scenario,
                    loop,
                    available[loop],
                    list(SYSTEMS),
                    runs=args.runs,
                    calls=calls,
                    progress=_progress,
                )
            )

    print(
        f"asyncactors {_version('asyncactors')}, python {platform.python_version()}, "
        f"uvloop {_version('uvloop')}; µs per call over {args.runs} run(s) per system, "
        "systems interleaved"
    )
    calls_per_run = {row.scenario: row.calls for row in rows}
    print("calls per run: " + ", ".join(f"{name} {n}" for name, n in calls_per_run.items()))
    print()
    print(format_table(rows))
    if args.json is not None:
        write_json(rows, args.json)
        _progress(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
