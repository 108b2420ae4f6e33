"""``asyncactors load pkg.mod:Class.method``: throughput and latency of one actor method.

Runs :func:`asyncactors.load.run_load` and shows its progress and results with
rich (the ``cli`` extra); ``--json`` and ``--plot`` (matplotlib) keep them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._tools import KNOWN_LOOPS, available_loops, format_duration, matplotlib_missing, pyplot
from ..load import FirstCallError, Level, LevelStatus, resolve_target, run_load
from ._command import Command

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["LOAD", "plot_levels"]

_INSTALL_RICH = "pip install 'asyncactors[cli]'"
_HEADERS = ("clients", "calls", "calls/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors")
# Off a terminal nothing is cut to a width: the output is for a file or a log.
_PIPE_WIDTH = 1000


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


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        help="package.module:ClassName.method, imported from the current directory "
        "or the installed packages; the class may be plain or @asyncactors.remote",
    )
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
        "--loop", choices=KNOWN_LOOPS, default="asyncio", help="the event loop (default: asyncio)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--plot", type=Path, metavar="FILE.png", help="also draw the results (needs matplotlib)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def _summary(level: Level) -> str:
    err = f", {level.errors} errors" if level.errors else ""
    return (
        f"{level.throughput:,.0f} calls/s, p50 {level.p50_ms:.3f} ms, "
        f"p99 {level.p99_ms:.3f} ms{err}"
    )


class _Progress:
    """The levels' progress on stderr: live bars on a terminal, a line per level elsewhere."""

    def __init__(self, console: Console, quiet: bool) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = console
        self.quiet = quiet
        self.live = console.is_terminal and not quiet
        self.bars = Progress(
            TextColumn("c={task.fields[concurrency]:<5}", markup=False),
            BarColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}", markup=False),
            console=console,
            # Refreshed by the levels' own ticks: no thread beside the load.
            auto_refresh=False,
            disable=not self.live,
        )
        self.tasks: dict[int, Any] = {}

    def __enter__(self) -> _Progress:
        self.bars.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.bars.stop()

    def update(self, status: LevelStatus) -> None:
        task = self.tasks.get(status.index)
        if task is None:
            task = self.tasks[status.index] = self.bars.add_task(
                "",
                total=status.warmup + status.duration,
                concurrency=status.concurrency,
                status="",
            )
        if status.result is not None:
            text = _summary(status.result)
            if not self.live and not self.quiet:
                self.console.print(f"c={status.concurrency}: {text}")
        else:
            phase = "warming up" if status.warming_up else "measuring"
            p50 = "" if math.isnan(status.p50_ms) else f", p50 {status.p50_ms:.3f} ms"
            err = f", {status.errors} errors" if status.errors else ""
            text = f"{phase}, {status.calls:,} calls, {status.rate:,.0f}/s{p50}{err}"
        self.bars.update(task, completed=status.elapsed, status=text)
        self.bars.refresh()


def _table(levels: Sequence[Level]) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD)
    for header in _HEADERS:
        table.add_column(header, justify="right", no_wrap=True)
    for lv in levels:
        table.add_row(
            str(lv.concurrency),
            f"{lv.calls:,}",
            f"{lv.throughput:,.0f}",
            f"{lv.p50_ms:.3f}",
            f"{lv.p90_ms:.3f}",
            f"{lv.p99_ms:.3f}",
            f"{lv.max_ms:.3f}",
            str(lv.errors),
        )
    return table


def plot_levels(levels: Sequence[Level], path: Path, title: str) -> None:
    """Throughput and latency against concurrency, side by side, to ``path``."""
    plt = pyplot()
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


def _consoles() -> tuple[Console, Console] | None:
    """(stdout, stderr) rich consoles, or ``None`` if rich is not installed."""
    try:
        from rich.console import Console
    except ImportError:
        return None
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    for console in (out, err):
        if not console.is_terminal:
            console.width = _PIPE_WIDTH
    return out, err


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    consoles = _consoles()
    if consoles is None:
        print(
            f"{parser.prog}: shows its progress and results with rich, which is not "
            f"installed: {_INSTALL_RICH}",
            file=sys.stderr,
        )
        return 1
    out, err = consoles
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
    # As `python -m` does: the user's module is found in the current directory,
    # also when this runs as the `asyncactors` console script.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        resolve_target(args.target)
    except ValueError as exc:
        parser.error(str(exc))

    total = len(args.concurrency) * (warmup + args.duration)
    if not args.quiet:
        err.print(
            f"loading {args.target} on {args.loop}: {len(args.concurrency)} level(s) of "
            f"{args.duration:g} s (+{warmup:g} s warm-up), about {format_duration(total)}",
            markup=False,
        )
    try:
        with _Progress(err, args.quiet) as progress:
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
                progress=progress.update,
            )
    except FirstCallError as exc:
        err.print(f"error: the first call failed: {exc}", markup=False)
        return 1

    opts = ", ".join(f"{k}={v}" for k, v in options.items()) or "default options"
    out.print(
        f"{args.target} on {args.loop}, {args.actors} actor(s), {opts}; "
        f"closed-loop clients, {args.duration:g} s per level",
        markup=False,
    )
    out.print(_table(levels))
    for lv in levels:
        if lv.first_error:
            out.print(
                f"c={lv.concurrency}: {lv.errors} calls failed, first: {lv.first_error}",
                markup=False,
            )
    best = max(levels, key=lambda lv: lv.throughput)
    out.print(f"best throughput: {best.throughput:,.0f} calls/s at {best.concurrency} clients")
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
        err.print(f"wrote {args.json}", markup=False)
    if args.plot is not None:
        plot_levels(levels, args.plot, f"{args.target} ({args.loop}, {opts})")
        err.print(f"wrote {args.plot}", markup=False)
    return 0


LOAD = Command(
    name="load",
    help="load an actor method with closed-loop clients; report throughput and latency",
    description=(
        "Load an actor method with closed-loop clients at each concurrency level and "
        "report throughput and latency percentiles. Example: asyncactors load "
        "myapp.services:Fetcher.fetch --concurrency 1,10,100 --duration 5"
    ),
    add_arguments=_add_arguments,
    run=_run,
)
