"""A load harness for your own actor method.

``python -m benchmarks.load package.module:ClassName.method --concurrency 1,10,100
--duration 10 [--args JSON]`` creates the actor (the class may be a plain class
or already decorated with ``@asyncactors.remote``), then, for each concurrency
level in turn, runs that many closed-loop clients against it: each client calls
``handle.method.remote(*args)``, awaits the reply, and calls again. After a
short warm-up it counts the calls that complete within ``--duration`` seconds
and reports throughput and p50/p90/p99/max latency per level.

A live status line shows each level's progress; ``--json FILE`` and
``--plot FILE.png`` (matplotlib) keep the results. ``--help`` lists the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import asyncactors

from ._loops import KNOWN_LOOPS, available_loops
from ._plot import matplotlib_missing
from ._progress import ProgressDisplay, format_duration

__all__ = ["Level", "main", "resolve_target", "run_load"]

_DASH = "\u2013"


class _FirstCallFailed(Exception):
    pass


@dataclass(frozen=True)
class Level:
    """The result of one concurrency level."""

    concurrency: int
    calls: int
    seconds: float
    throughput: float
    """Calls completed per second."""
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    first_error: str | None


def resolve_target(target: str) -> tuple[Any, str]:
    """``"pkg.mod:Class.method"`` -> (an ``ActorClass``, ``"method"``).

    Raises:
        ValueError: the target is malformed or names nothing importable.
    """
    module_name, sep, rest = target.partition(":")
    class_name, dot, method = rest.rpartition(".")
    if not sep or not dot or not module_name or not class_name or not method:
        raise ValueError(f"expected package.module:ClassName.method, got {target!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r}: {exc}") from exc
    obj: Any = module
    for part in class_name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{module_name!r} has no attribute {class_name!r}") from None
    if isinstance(obj, asyncactors.ActorClass):
        user_class = obj.__wrapped__
        actor_class: Any = obj
    elif isinstance(obj, type):
        user_class = obj
        actor_class = asyncactors.remote(obj)
    else:
        raise ValueError(f"{target!r}: {class_name} is not a class")
    if not callable(getattr(user_class, method, None)):
        raise ValueError(f"{class_name} has no method {method!r}")
    return actor_class, method


def _call_args(value: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if value is None:
        return (), {}
    if isinstance(value, list):
        return tuple(value), {}
    if isinstance(value, dict):
        return (), dict(value)
    return (value,), {}


def _quantile(sorted_ms: Sequence[float], q: float) -> float:
    if not sorted_ms:
        return math.nan
    if len(sorted_ms) == 1:
        return sorted_ms[0]
    return statistics.quantiles(sorted_ms, n=100, method="inclusive")[round(q * 100) - 1]


class _Status:
    """The live line of one level: elapsed, calls, rate, p50 so far."""

    def __init__(self, display: ProgressDisplay, concurrency: int, warmup: float, duration: float):
        self.display = display
        self.concurrency = concurrency
        self.warmup = warmup
        self.duration = duration

    def show(self, elapsed: float, latencies: list[float], errors: int) -> None:
        total = self.warmup + self.duration
        phase = "warming up" if elapsed < self.warmup else "measuring"
        measured = max(1e-9, elapsed - self.warmup)
        rate = len(latencies) / measured if elapsed >= self.warmup else 0.0
        recent = sorted(latencies[-2000:])
        p50 = f", p50 {recent[len(recent) // 2]:.3f} ms" if recent else ""
        err = f", {errors} errors" if errors else ""
        self.display.status(
            f"c={self.concurrency:<5} {phase} {min(elapsed, total):5.1f}/{total:.1f} s, "
            f"{len(latencies):,} calls, {rate:,.0f}/s{p50}{err}"
        )


async def _level(
    handles: Sequence[Any],
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    concurrency: int,
    warmup: float,
    duration: float,
    status: _Status | None,
) -> Level:
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from = start + warmup
    stop_at = measure_from + duration
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    clock = time.perf_counter

    async def client(i: int) -> None:
        nonlocal errors, first_error
        h = handles[i % len(handles)]
        while True:
            t0 = clock()
            if loop.time() >= stop_at:
                return
            try:
                await getattr(h, method).remote(*args, **kwargs)
            except Exception as exc:
                if loop.time() >= measure_from:
                    errors += 1
                    if first_error is None:
                        first_error = f"{type(exc).__name__}: {exc}"
                # A call that fails at once must not starve the loop.
                await asyncio.sleep(0)
                continue
            now = loop.time()
            if measure_from <= now < stop_at:
                latencies.append((clock() - t0) * 1000)

    async def ticker() -> None:
        while True:
            if status is not None:
                status.show(loop.time() - start, latencies, errors)
            await asyncio.sleep(0.2)

    tick = asyncio.create_task(ticker())
    try:
        await asyncio.gather(*(client(i) for i in range(concurrency)))
    finally:
        tick.cancel()
    latencies.sort()
    return Level(
        concurrency=concurrency,
        calls=len(latencies),
        seconds=duration,
        throughput=len(latencies) / duration,
        p50_ms=_quantile(latencies, 0.50),
        p90_ms=_quantile(latencies, 0.90),
        p99_ms=_quantile(latencies, 0.99),
        max_ms=latencies[-1] if latencies else math.nan,
        errors=errors,
        first_error=first_error,
    )


async def _run(
    actor_class: Any,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    init: tuple[tuple[Any, ...], dict[str, Any]],
    levels: Sequence[int],
    duration: float,
    warmup: float,
    actors: int,
    display: ProgressDisplay | None,
) -> list[Level]:
    results = []
    async with asyncactors.ActorSystem():
        handles = [await actor_class.remote(*init[0], **init[1]) for _ in range(actors)]
        # One call first: an unknown method, arguments that do not fit the signature
        # or a method that fails outright stop the run here, with the library's message.
        try:
            await getattr(handles[0], method).remote(*args, **kwargs)
        except Exception as exc:
            raise _FirstCallFailed(f"{type(exc).__name__}: {exc}") from exc
        for c in levels:
            status = _Status(display, c, warmup, duration) if display is not None else None
            level = await _level(handles, method, args, kwargs, c, warmup, duration, status)
            results.append(level)
            if display is not None:
                display.step(_summary_line(level))
    return results


def _summary_line(level: Level) -> str:
    err = f", {level.errors} errors" if level.errors else ""
    return (
        f"c={level.concurrency}: {level.throughput:,.0f} calls/s, p50 {level.p50_ms:.3f} ms, "
        f"p99 {level.p99_ms:.3f} ms{err}"
    )


def run_load(
    target: str,
    *,
    concurrency: Sequence[int] = (1, 10, 100),
    duration: float = 10.0,
    warmup: float = 1.0,
    args: Any = None,
    init: Any = None,
    options: dict[str, Any] | None = None,
    actors: int = 1,
    loop: str = "asyncio",
    progress: TextIO | None = None,
) -> list[Level]:
    """Load ``target`` ("pkg.mod:Class.method") at each concurrency; return one
    :class:`Level` per concurrency. ``args``/``init`` follow ``--args``/``--init``.
    ``progress``: where the status line goes (``None``: no display)."""
    actor_class, method = resolve_target(target)
    if options:
        actor_class = actor_class.options(**options)
    loop_factory = available_loops()[loop]
    display = ProgressDisplay(len(concurrency), stream=progress) if progress is not None else None
    call_args, call_kwargs = _call_args(args)
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        results = runner.run(
            _run(
                actor_class,
                method,
                call_args,
                call_kwargs,
                _call_args(init),
                concurrency,
                duration,
                warmup,
                actors,
                display,
            )
        )
    if display is not None:
        display.close()
    return results


def format_levels(levels: Sequence[Level]) -> str:
    """The results as an aligned table."""
    header = ["clients", "calls", "calls/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"]
    table = [header]
    for lv in levels:
        table.append(
            [
                str(lv.concurrency),
                f"{lv.calls:,}",
                f"{lv.throughput:,.0f}",
                f"{lv.p50_ms:.3f}",
                f"{lv.p90_ms:.3f}",
                f"{lv.p99_ms:.3f}",
                f"{lv.max_ms:.3f}",
                str(lv.errors),
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot_levels(levels: Sequence[Level], path: Path, title: str) -> None:
    """Throughput and latency against concurrency, side by side, to ``path``."""
    matplotlib: Any = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt: Any = importlib.import_module("matplotlib.pyplot")
    xs = [lv.concurrency for lv in levels]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(xs, [lv.throughput for lv in levels], marker="o")
    left.set_xlabel("concurrent clients")
    left.set_ylabel("calls/s")
    left.set_title("throughput", fontsize=10)
    for key, label in (("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99")):
        right.plot(xs, [getattr(lv, key) for lv in levels], marker="o", label=label)
    right.set_xlabel("concurrent clients")
    right.set_ylabel("latency, ms")
    right.set_title("latency", fontsize=10)
    right.legend()
    for ax in (left, right):
        if len(xs) > 1 and max(xs) / min(xs) >= 10:
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _json_arg(what: str) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"{what} is not valid JSON: {exc}") from None

    return parse


def _levels(value: str) -> list[int]:
    try:
        levels = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers like 1,10,100, got {value!r}"
        ) from None
    if not levels or any(c < 1 for c in levels):
        raise argparse.ArgumentTypeError(f"concurrency levels must be >= 1, got {value!r}")
    return levels


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        try:
            x = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
        if x <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
        return x

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.load",
        description=(
            "Load an actor method with closed-loop clients at each concurrency level and "
            "report throughput and latency percentiles. Example: python -m benchmarks.load "
            "benchmarks.demo:FakeIOService.fetch --concurrency 1,10,100 --duration 5"
        ),
    )
    parser.add_argument("target", help="package.module:ClassName.method")
    parser.add_argument(
        "--concurrency",
        type=_levels,
        default=[1, 10, 100],
        metavar="N[,N]",
        help="concurrent clients, one level after another (default: 1,10,100)",
    )
    parser.add_argument(
        "--duration",
        type=_positive(float),
        default=10.0,
        metavar="SECONDS",
        help="measured seconds per level (default: 10)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        metavar="SECONDS",
        help="unmeasured seconds before each level (default: a fifth of --duration, at most 1)",
    )
    parser.add_argument(
        "--args",
        type=_json_arg("--args"),
        default=None,
        metavar="JSON",
        help="the call's arguments: a JSON list (positional), object (keywords) or one "
        "value (the single positional argument)",
    )
    parser.add_argument(
        "--init",
        type=_json_arg("--init"),
        default=None,
        metavar="JSON",
        help="the constructor's arguments, like --args",
    )
    parser.add_argument(
        "--actors",
        type=_positive(int),
        default=1,
        metavar="N",
        help="actors to spread the clients over, round-robin (default: 1)",
    )
    parser.add_argument(
        "--max-concurrency",
        type=_positive(int),
        default=None,
        metavar="N",
        help="the actors' max_concurrency (default: the class's, as in Ray)",
    )
    parser.add_argument(
        "--mailbox-size",
        type=_positive(int),
        default=None,
        metavar="N",
        help="the actors' mailbox_size (default: the class's)",
    )
    parser.add_argument(
        "--loop",
        choices=KNOWN_LOOPS,
        default="asyncio",
        help="the event loop (default: asyncio)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--plot", type=Path, metavar="FILE.png", help="also draw the results (needs matplotlib)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load harness on ``argv``; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.loop not in available_loops():
        parser.error(f"--loop {args.loop}: not importable here")
    if args.plot is not None and (why := matplotlib_missing()):
        parser.error(f"--plot: {why}")
    warmup = args.warmup if args.warmup is not None else min(1.0, args.duration / 5)
    if warmup < 0:
        parser.error("--warmup must be >= 0")
    options: dict[str, Any] = {}
    if args.max_concurrency is not None:
        options["max_concurrency"] = args.max_concurrency
    if args.mailbox_size is not None:
        options["mailbox_size"] = args.mailbox_size
    try:
        resolve_target(args.target)
    except ValueError as exc:
        parser.error(str(exc))

    total = len(args.concurrency) * (warmup + args.duration)
    print(
        f"loading {args.target} on {args.loop}: {len(args.concurrency)} level(s) of "
        f"{args.duration:g} s (+{warmup:g} s warm-up), about {format_duration(total)}",
        file=sys.stderr,
    )
    try:
        levels = run_load(
            args.target,
            concurrency=args.concurrency,
            duration=args.duration,
            warmup=warmup,
            args=args.args,
            init=args.init,
            options=options,
            actors=args.actors,
            loop=args.loop,
            progress=None if args.quiet else sys.stderr,
        )
    except _FirstCallFailed as exc:
        print(f"\nerror: the first call failed: {exc}", file=sys.stderr)
        return 1

    opts = ", ".join(f"{k}={v}" for k, v in options.items()) or "default options"
    print(
        f"{args.target} on {args.loop}, {args.actors} actor(s), {opts}; "
        f"closed-loop clients, {args.duration:g} s per level"
    )
    print(format_levels(levels))
    for lv in levels:
        if lv.first_error:
            print(f"c={lv.concurrency}: {lv.errors} calls failed, first: {lv.first_error}")
    best = max(levels, key=lambda lv: lv.throughput)
    print(f"best throughput: {best.throughput:,.0f} calls/s at {best.concurrency} clients")
    if args.json is not None:
        doc = {
            "target": args.target,
            "loop": args.loop,
            "actors": args.actors,
            "options": options,
            "duration": args.duration,
            "warmup": warmup,
            "levels": [
                {
                    k: (None if isinstance(v, float) and math.isnan(v) else v)
                    for k, v in asdict(lv).items()
                }
                for lv in levels
            ],
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot is not None:
        plot_levels(levels, args.plot, f"{args.target} ({args.loop}, {opts})")
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
