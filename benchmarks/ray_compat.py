# mypy cannot see what @ray.remote makes of a class, and real Ray may or may not
# be installed where mypy runs:
# mypy: disable-error-code="attr-defined, untyped-decorator, import-not-found, unused-ignore"
"""One Ray program on ``asyncactors.compat.ray`` and on real Ray (local), side by side.

Run it with ``python -m benchmarks.ray_compat`` (``--help`` for options).

Each run is a fresh subprocess that imports one of the two ``ray`` modules,
so that "import to first result" counts the import, ``ray.init()``, creating
an actor and its first reply. Then the same Ray program measures:

* ``seq_sync``: sequential ``ray.get(a.incr.remote(1))`` on a threaded
  (sync) actor, from the sync driver;
* ``seq_async``: the same on an async actor;
* ``pipelined``: ``ray.get([a.incr.remote(1) for _ in range(n)])`` on the
  threaded actor, per call;
* ``tasks``: ``ray.get([f.remote(i) for i in range(n)])``, per task;
* ``seq_task``: sequential ``ray.get(f.remote(i))``;
* ``arg_1kb``: a sequential call whose argument is about 1 KB of pickle (a
  list of 80 short strings), which asyncactors.compat.ray copies as Ray
  does; beside it, ``pickle_1kb``, a bare ``pickle.loads(pickle.dumps(x, 5))``
  of the same value in the driver.

Beside them, ``floor`` measures "import to first result" alone for the least
any asyncio program pays: ``import asyncio`` and a plain asyncio actor (a
coroutine consuming an ``asyncio.Queue`` of (args, future)) on a loop the
driver runs, up to its first reply. What compat spends beyond it is its own;
Ray's time over it is the most any library built on asyncio could reach.

Runs of the systems alternate; each figure is the median of ``--runs``.
The report ends with the goals of issue 13: at least 10x faster per
sequential call, 30x per pipelined call, 100x from import to the first result.
Real Ray is used when it is installed (``pip install 'ray>=2.60'``), with
``ray.init(num_cpus=2, include_dashboard=False)``; ``--systems compat`` skips it.

Before the runs, asyncactors' bytecode is compiled (``compileall``), as an
installed package (and Ray's) has it: where ``PYTHONDONTWRITEBYTECODE`` is set,
every run would otherwise compile the whole package from source again, and
"import to first result" would measure the compiler.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import pickle
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

__all__ = ["GOALS", "main", "measure_once", "run_program"]

ROOT: Final = Path(__file__).resolve().parents[1]
SYSTEMS: Final = ("compat", "ray", "floor")
METRICS: Final = (
    "import_to_first",
    "seq_sync",
    "seq_async",
    "pipelined",
    "tasks",
    "seq_task",
    "arg_1kb",
    "pickle_1kb",
)
# (metric, minimum ratio of Ray's time to asyncactors.compat.ray's)
GOALS: Final = (("seq_sync", 10.0), ("pipelined", 30.0), ("import_to_first", 100.0))
PAYLOAD: Final = [f"item-{i:04d}" for i in range(80)]


def run_program(ray: Any, n: int, t0: float) -> dict[str, float]:
    """The Ray program, on whichever ``ray`` module is given; seconds per call.

    ``t0`` is when the process began importing ``ray``.
    """

    @ray.remote
    class Counter:
        def __init__(self) -> None:
            self.n = 0

        def incr(self, k: int) -> int:
            self.n += k
            return self.n

        def size(self, data: list[str]) -> int:
            return len(data)

    @ray.remote
    class AsyncCounter:
        def __init__(self) -> None:
            self.n = 0

        async def incr(self, k: int) -> int:
            self.n += k
            return self.n

    @ray.remote
    def plus_one(x: int) -> int:
        return x + 1

    c = Counter.remote()
    assert ray.get(c.incr.remote(1)) == 1
    out = {"import_to_first": time.perf_counter() - t0}
    a = AsyncCounter.remote()
    ray.get([a.incr.remote(0), plus_one.remote(0), c.size.remote(PAYLOAD)])

    def per_call(label: str, count: int, fn: Any) -> None:
        start = time.perf_counter()
        cpu = time.process_time()
        fn()
        out[label] = (time.perf_counter() - start) / count
        # CPU time of this process (all its threads): what a call costs here,
        # whatever else the machine runs. For Ray, only the driver's share.
        out[f"{label}_cpu"] = (time.process_time() - cpu) / count

    def seq_sync() -> None:
        for _ in range(n):
            ray.get(c.incr.remote(1))

    def seq_async() -> None:
        for _ in range(n):
            ray.get(a.incr.remote(1))

    def pipelined() -> None:
        ray.get([c.incr.remote(1) for _ in range(n)])

    def tasks() -> None:
        ray.get([plus_one.remote(i) for i in range(n)])

    def seq_task() -> None:
        for i in range(n):
            ray.get(plus_one.remote(i))

    def arg_1kb() -> None:
        for _ in range(n):
            ray.get(c.size.remote(PAYLOAD))

    def pickle_1kb() -> None:
        for _ in range(n):
            pickle.loads(pickle.dumps(PAYLOAD, 5))

    per_call("seq_sync", n, seq_sync)
    per_call("seq_async", n, seq_async)
    per_call("pipelined", n, pipelined)
    per_call("tasks", n, tasks)
    per_call("seq_task", n, seq_task)
    per_call("arg_1kb", n, arg_1kb)
    per_call("pickle_1kb", n, pickle_1kb)
    return out


def floor_first(t0: float) -> dict[str, float]:
    """``import asyncio`` and a plain asyncio actor's first reply: seconds since ``t0``."""
    import asyncio

    async def actor(mailbox: asyncio.Queue[tuple[tuple[int], asyncio.Future[int]]]) -> None:
        n = 0
        while True:
            (k,), reply = await mailbox.get()
            n += k
            reply.set_result(n)

    async def first() -> int:
        mailbox: asyncio.Queue[tuple[tuple[int], asyncio.Future[int]]] = asyncio.Queue()
        task = asyncio.create_task(actor(mailbox))
        reply: asyncio.Future[int] = loop.create_future()
        mailbox.put_nowait(((1,), reply))
        value = await reply
        task.cancel()
        return value

    # As compat's sync driver: the loop runs in the thread that waits for the reply.
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(first()) == 1
        return {"import_to_first": time.perf_counter() - t0}
    finally:
        loop.close()


def _worker(system: str, n: int) -> None:
    t0 = time.perf_counter()
    if system == "floor":
        print(json.dumps(floor_first(t0)))
        return
    if system == "compat":
        import asyncactors.compat.ray as ray

        ray.init()
    else:
        import ray  # type: ignore[no-redef]

        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = run_program(ray, n, t0)
    finally:
        ray.shutdown()
    print(json.dumps(result))


def measure_once(system: str, n: int, timeout: float = 600) -> dict[str, float]:
    """One run of the program on ``system`` in a fresh subprocess: seconds per metric.

    Raises:
        RuntimeError: the run failed (its stderr is in the message).
    """
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.ray_compat", "--worker", system, "--n", str(n)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "RAY_DEDUP_LOGS": "0", "PYTHONWARNINGS": "ignore"},
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the {system} run failed:\n{proc.stderr[-4000:]}")
    data: dict[str, float] = json.loads(lines[-1])
    return data


def compile_package() -> bool:
    """Write asyncactors' bytecode beside its sources, as installing it would.

    Returns whether every module compiled; where one did not (a read-only
    tree), a warning says that import times include compiling it.
    """
    ok = bool(compileall.compile_dir(ROOT / "asyncactors", quiet=1))
    if not ok:
        print(
            "warning: could not write asyncactors' bytecode: 'import to first result' "
            "includes compiling it",
            file=sys.stderr,
        )
    return ok


def ray_installed() -> bool:
    """Whether real Ray can be imported here."""
    return importlib.util.find_spec("ray") is not None


def wait_for_ray_to_exit(timeout: float = 30.0) -> None:
    """Wait until the processes of the Ray run just measured are gone.

    Ray's processes (raylet, GCS, workers, agents) go on for seconds after
    ``ray.shutdown()``; a run measured meanwhile would share the CPUs with them.
    Found by this Ray installation's path in their command lines (Linux).
    """
    spec = importlib.util.find_spec("ray")
    if spec is None or not spec.submodule_search_locations:
        return
    marker = os.fsencode(spec.submodule_search_locations[0])
    proc = Path("/proc")
    if not proc.is_dir():  # pragma: no cover - not Linux
        time.sleep(5)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for entry in proc.iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "cmdline").read_bytes():
                    alive = True
                    break
            except OSError:
                continue
        if not alive:
            return
        time.sleep(0.2)


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.1f} µs"


def report(results: dict[str, list[dict[str, float]]]) -> tuple[str, dict[str, Any]]:
    """The table of medians and ratios, and the same as JSON-ready data."""
    medians = {
        system: {m: statistics.median(r[m] for r in runs) for m in METRICS}
        for system, runs in results.items()
        if runs and system != "floor"
    }
    lines = []
    systems = list(medians)
    header = ["metric", *[f"{s} (median)" for s in systems]]
    if "ray" in medians and "compat" in medians:
        header.append("ray / compat")
    rows = [header]
    for m in METRICS:
        row = [m, *[_fmt(medians[s][m]) for s in systems]]
        if len(header) > len(systems) + 1:
            row.append(f"{medians['ray'][m] / medians['compat'][m]:.0f}x")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    data: dict[str, Any] = {"medians": medians, "runs": results}
    if results.get("compat"):
        cpu = {
            m: statistics.median(r[f"{m}_cpu"] for r in results["compat"])
            for m in METRICS[1:]
            if all(f"{m}_cpu" in r for r in results["compat"])
        }
        data["compat_cpu"] = cpu
        lines.append("")
        lines.append(
            "compat, CPU time per call (all its threads; the machine's load does not "
            "inflate it): " + ", ".join(f"{m} {_fmt(v)}" for m, v in cpu.items())
        )
    if "compat" in medians:
        c = medians["compat"]
        extra = c["arg_1kb"] - c["seq_sync"]
        lines.append("")
        lines.append(
            f"1 KB argument: {_fmt(extra)} more per call than an int argument; a bare "
            f"pickle round trip of it takes {_fmt(c['pickle_1kb'])} "
            f"({extra / c['pickle_1kb']:.1f}x)"
        )
        data["arg_1kb_extra"] = extra
    if results.get("floor"):
        floor = statistics.median(r["import_to_first"] for r in results["floor"])
        data["floor_import_to_first"] = floor
        lines.append("")
        lines.append(
            f"import to first result, floor (import asyncio, a plain asyncio actor's "
            f"first reply): {_fmt(floor)}"
        )
        if "compat" in medians:
            own = medians["compat"]["import_to_first"] - floor
            data["compat_beyond_floor"] = own
            lines.append(f"  compat's own part beyond it: {_fmt(own)}")
        if "ray" in medians:
            ceiling = medians["ray"]["import_to_first"] / floor
            data["ray_over_floor"] = ceiling
            lines.append(
                f"  ray / floor: {ceiling:.0f}x, the most a library on asyncio could reach here"
            )
    if "ray" in medians and "compat" in medians:
        lines.append("")
        lines.append("Goals (issue 13):")
        goals = {}
        for metric, want in GOALS:
            ratio = medians["ray"][metric] / medians["compat"][metric]
            met = ratio >= want
            goals[metric] = {"ratio": ratio, "goal": want, "met": met}
            lines.append(
                f"  {metric}: {ratio:.0f}x faster (goal {want:.0f}x) {'met' if met else 'NOT met'}"
            )
        data["goals"] = goals
    return "\n".join(lines), data


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print the report."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ray_compat", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs per system (default 5)")
    parser.add_argument("--n", type=int, default=2000, help="calls per measurement (default 2000)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument(
        "--systems",
        default="compat,ray,floor",
        help="comma-separated: compat, ray, floor (default all three)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, args.n)
        return 0
    n = 20 if args.quick else args.n
    runs = 1 if args.quick else args.runs
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        parser.error(f"unknown systems {unknown}; choose from {list(SYSTEMS)}")
    if "ray" in systems and not ray_installed():
        print("real Ray is not installed (pip install 'ray>=2.60'): measuring compat only")
        systems.remove("ray")
    compile_package()
    results: dict[str, list[dict[str, float]]] = {s: [] for s in systems}
    for i in range(runs):
        # Alternate which system goes first, so that drift hits both alike.
        order = systems if i % 2 == 0 else list(reversed(systems))
        for system in order:
            print(f"run {i + 1}/{runs}: {system} ...", file=sys.stderr, flush=True)
            results[system].append(measure_once(system, n))
            if system == "ray":
                wait_for_ray_to_exit()
    text, data = report(results)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
