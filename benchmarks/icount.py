"""Instructions per call, counted by callgrind: a deterministic companion to the timings.

``python -m benchmarks.icount [--only NAME[,NAME]] [--loops asyncio,uvloop]
[--tree PATH ...] [--keep DIR] [--jobs N]`` runs each scenario's fixed workload
(:mod:`benchmarks._icount_workload`) under ``valgrind --tool=callgrind`` at two
sizes, and reports ``(I(n2) - I(n1)) / (n2 - n1)``: the instructions one call (or
one actor created up to its first reply) costs, for the floor and for
asyncactors, and their ratio. Counts do not depend on the machine's load, so
two versions can be compared to a fraction of a percent on a busy machine,
where timings swing by ten percent or more; they weigh every instruction alike,
so a cache miss or a system call counts for less than its time.

``--tree PATH`` counts the asyncactors of another checkout too (its
``asyncactors`` package, with this checkout's workload), one column each.
``--keep DIR`` keeps each larger run's profile: read it with
``callgrind_annotate --inclusive=yes DIR/FILE`` (C functions, uvloop's included,
and the interpreter's; Python functions show as the interpreter's eval loop).
The workloads run with ``PYTHONHASHSEED=0``, so string hashes, and the counts,
are the same from run to run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ._icount_workload import MAX_N, SCENARIO_NAMES
from ._loops import KNOWN_LOOPS, available_loops

__all__ = ["Count", "count", "main"]

_REPO = Path(__file__).resolve().parents[1]
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
SIZES = (1000, MAX_N)


@dataclass(frozen=True)
class Count:
    """Instructions per unit of one scenario, loop and system (or tree)."""

    scenario: str
    loop: str
    system: str
    per_unit: float


def _tree_path(tree: Path | None, scratch: Path) -> str:
    """A directory whose ``asyncactors`` is ``tree``'s and whose ``benchmarks`` is ours."""
    if tree is None:
        return str(_REPO)
    where = scratch / re.sub(r"\W", "_", str(tree.resolve()))
    if not where.exists():
        where.mkdir(parents=True)
        (where / "asyncactors").symlink_to(tree.resolve() / "asyncactors")
        (where / "benchmarks").symlink_to(_REPO / "benchmarks")
    return str(where)


def _instructions(
    scenario: str, system: str, loop: str, n: int, path: str, keep: Path | None
) -> int:
    out = "/dev/null"
    if keep is not None:
        label = Path(path).name if path != str(_REPO) else "here"
        out = str(keep / f"callgrind.{scenario}.{loop}.{system}.{label}.{n}")
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "benchmarks._icount_workload",
        scenario,
        system,
        loop,
        str(n),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": path}
    proc = subprocess.run(cmd, cwd=path, env=env, capture_output=True, text=True, check=False)
    found = _COLLECTED.search(proc.stderr)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"{' '.join(cmd[4:])} failed (exit {proc.returncode}):\n{proc.stderr}")
    return int(found.group(1))


def count(
    scenario: str,
    system: str,
    loop: str,
    tree: Path | None = None,
    keep: Path | None = None,
    scratch: Path | None = None,
) -> Count:
    """Instructions per unit of ``scenario`` on ``system`` and ``loop``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = _tree_path(tree, scratch or Path(tmp))
        small, large = (
            _instructions(scenario, system, loop, n, path, keep if n == SIZES[-1] else None)
            for n in SIZES
        )
    name = system if tree is None else f"{system}@{tree}"
    return Count(scenario, loop, name, (large - small) / (SIZES[-1] - SIZES[0]))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.icount",
        description="Instructions per call under callgrind, floor and asyncactors, and "
        "their ratio. Deterministic: use it to compare versions on a busy machine.",
    )
    parser.add_argument(
        "--only",
        default="seq_sync,seq_async,pipelined",
        metavar="NAME[,NAME]",
        help=f"scenarios, from {', '.join(SCENARIO_NAMES)} (default: the 1:1 ones)",
    )
    parser.add_argument("--loops", default=",".join(KNOWN_LOOPS), metavar="LOOP[,LOOP]")
    parser.add_argument(
        "--tree",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="also count the asyncactors of another checkout (repeatable)",
    )
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the profiles here")
    parser.add_argument("--jobs", type=int, default=2, help="valgrind runs at once (default 2)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the counts as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Count, print one table row per scenario and loop; return the exit status."""
    args = _parser().parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    scenarios = [s.strip() for s in args.only.split(",") if s.strip()]
    loops = [x.strip() for x in args.loops.split(",") if x.strip()]
    unknown = [s for s in scenarios if s not in SCENARIO_NAMES]
    missing = [x for x in loops if x not in available_loops()]
    if unknown or missing:
        print(
            f"unknown scenario(s) {unknown} or unavailable loop(s) {missing}; scenarios: "
            f"{', '.join(SCENARIO_NAMES)}; loops: {', '.join(available_loops())}",
            file=sys.stderr,
        )
        return 2
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    trees: list[Path | None] = [None, *args.tree]
    jobs = [
        (sc, loop, system, tree)
        for sc in scenarios
        for loop in loops
        for system, tree in [("floor", None), *(("asyncactors", t) for t in trees)]
    ]
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(args.jobs) as pool:
        counts = list(
            pool.map(
                lambda job: count(job[0], job[2], job[1], job[3], args.keep, Path(scratch)), jobs
            )
        )
    by_key = {(c.scenario, c.loop, c.system): c.per_unit for c in counts}
    columns = ["asyncactors", *(f"asyncactors@{t}" for t in args.tree)]
    header = ["scenario", "loop", "floor instr/unit", *(f"{c} (x floor)" for c in columns)]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for sc in scenarios:
        for loop in loops:
            floor = by_key[(sc, loop, "floor")]
            cells = [
                f"{by_key[(sc, loop, c)]:,.0f} ({by_key[(sc, loop, c)] / floor:.3f})"
                for c in columns
            ]
            print(f"| {sc} | {loop} | {floor:,.0f} | " + " | ".join(cells) + " |")
    if args.json is not None:
        args.json.write_text(
            json.dumps([c.__dict__ for c in counts], indent=1) + "\n", encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
