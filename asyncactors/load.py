"""Load-testing one actor method: closed-loop clients, one concurrency level after another.

:func:`run_load` is ``python -m asyncactors load`` from Python. For each
concurrency level it runs that many clients against the actor: each calls
``handle.method.remote(*args)``, awaits the reply, and calls again. After a
warm-up it counts the calls that complete within ``duration`` seconds and
reports throughput and p50/p90/p99/max latency per level.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._actor_class import ActorClass, remote
from ._system import ActorSystem
from ._tools import available_loops

__all__ = ["FirstCallError", "Level", "LevelStatus", "resolve_target", "run_load"]

# How often a level reports its progress.
_TICK_S = 0.2
# The p50 of the status is that of the latest calls only.
_RECENT = 2000


class FirstCallError(Exception):
    """The call made before any level failed: the target, its arguments or the actor are wrong.

    Its ``__cause__`` is what the call raised.
    """


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class LevelStatus:
    """A level under way, as :func:`run_load`'s ``progress`` callback sees it."""

    index: int
    """The level's position in ``concurrency``, from 0."""
    concurrency: int
    elapsed: float
    """Seconds since the level started, warm-up included."""
    warmup: float
    duration: float
    calls: int
    """Calls completed since the warm-up ended."""
    errors: int
    p50_ms: float
    """The median latency of the latest calls (NaN before the first one)."""
    result: Level | None
    """The level's result, in its last status only."""

    @property
    def warming_up(self) -> bool:
        """Whether the level is still in its unmeasured warm-up."""
        return self.elapsed < self.warmup

    @property
    def rate(self) -> float:
        """Measured calls per second so far."""
        measured = self.elapsed - self.warmup
        return self.calls / measured if measured > 0 else 0.0


ProgressCallback = Callable[[LevelStatus], None]


def resolve_target(target: str) -> tuple[ActorClass[Any], str]:
    """``"pkg.mod:Class.method"`` -> (an ``ActorClass``, ``"method"``).

    The class may be plain or already decorated with ``@asyncactors.remote``
    (its options are kept). The module is imported from ``sys.path``.

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
    if isinstance(obj, ActorClass):
        user_class = obj.__wrapped__
        actor_class: ActorClass[Any] = obj
    elif isinstance(obj, type):
        user_class = obj
        actor_class = remote(obj)
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


@dataclass(frozen=True, slots=True)
class _Plan:
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    warmup: float
    duration: float
    progress: ProgressCallback | None


async def _level(handles: Sequence[Any], plan: _Plan, index: int, concurrency: int) -> Level:
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from = start + plan.warmup
    stop_at = measure_from + plan.duration
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    clock = time.perf_counter
    method, args, kwargs = plan.method, plan.args, plan.kwargs

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

    def status(result: Level | None) -> LevelStatus:
        recent = sorted(latencies[-_RECENT:])
        return LevelStatus(
            index=index,
            concurrency=concurrency,
            elapsed=min(loop.time() - start, plan.warmup + plan.duration),
            warmup=plan.warmup,
            duration=plan.duration,
            calls=len(latencies),
            errors=errors,
            p50_ms=recent[len(recent) // 2] if recent else math.nan,
            result=result,
        )

    async def ticker(report: ProgressCallback) -> None:
        while True:
            report(status(None))
            await asyncio.sleep(_TICK_S)

    tick = asyncio.create_task(ticker(plan.progress)) if plan.progress is not None else None
    try:
        await asyncio.gather(*(client(i) for i in range(concurrency)))
    finally:
        if tick is not None:
            tick.cancel()
    latencies.sort()
    level = Level(
        concurrency=concurrency,
        calls=len(latencies),
        seconds=plan.duration,
        throughput=len(latencies) / plan.duration,
        p50_ms=_quantile(latencies, 0.50),
        p90_ms=_quantile(latencies, 0.90),
        p99_ms=_quantile(latencies, 0.99),
        max_ms=latencies[-1] if latencies else math.nan,
        errors=errors,
        first_error=first_error,
    )
    if plan.progress is not None:
        plan.progress(status(level))
    return level


async def _run(
    actor_class: ActorClass[Any],
    init: tuple[tuple[Any, ...], dict[str, Any]],
    actors: int,
    levels: Sequence[int],
    plan: _Plan,
) -> list[Level]:
    results = []
    async with ActorSystem():
        handles = [await actor_class.remote(*init[0], **init[1]) for _ in range(actors)]
        # One call first: an unknown method, arguments that do not fit the signature
        # or a method that fails outright stop the run here, with the library's message.
        try:
            await getattr(handles[0], plan.method).remote(*plan.args, **plan.kwargs)
        except Exception as exc:
            raise FirstCallError(f"{type(exc).__name__}: {exc}") from exc
        for index, concurrency in enumerate(levels):
            results.append(await _level(handles, plan, index, concurrency))
    return results


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
    progress: ProgressCallback | None = None,
) -> list[Level]:
    """Load ``target`` (``"pkg.mod:Class.method"``) at each concurrency; one :class:`Level` each.

    ``args`` and ``init`` are the call's and the constructor's arguments: a
    list (positional), a dict (keywords), one other value (the single
    positional argument) or ``None``. ``options`` are actor options
    (``max_concurrency``, ``mailbox_size``...). ``loop`` is ``"asyncio"`` or
    ``"uvloop"``. ``progress`` is called about five times a second with a
    :class:`LevelStatus`, and once at the end of each level.

    Raises:
        ValueError: the target names nothing loadable, or ``loop`` is not available.
        FirstCallError: the call made before the first level failed.
    """
    actor_class, method = resolve_target(target)
    if options:
        actor_class = actor_class.options(**options)
    loops = available_loops()
    if loop not in loops:
        raise ValueError(f"loop {loop!r} is not available here; available: {', '.join(loops)}")
    call_args, call_kwargs = _call_args(args)
    plan = _Plan(method, call_args, call_kwargs, warmup, duration, progress)
    with asyncio.Runner(loop_factory=loops[loop]) as runner:
        return runner.run(_run(actor_class, _call_args(init), actors, concurrency, plan))
