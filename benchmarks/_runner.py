"""Repeated, interleaved measurement of one scenario on one loop, and its statistics."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ._scenarios import LoopFactory, Scenario
from ._systems import ASYNCACTORS, BASELINE, System

__all__ = ["Progress", "Row", "Samples", "measure"]


class Progress(Protocol):
    """Where the runner reports each finished run."""

    def step(self, text: str) -> None:
        """One run (or warm-up) finished; ``text`` says which and what it measured."""

    def note(self, text: str) -> None:
        """Something worth a line of its own (a skipped system, a failure)."""

    def skip(self, steps: int) -> None:
        """``steps`` announced steps will not happen (a system was dropped)."""


@dataclass(frozen=True)
class Samples:
    """One system's figures, one per run and metric, in run order."""

    system: str
    size: int
    """Calls or actors per run."""
    values: dict[str, tuple[float, ...]]

    def median(self, key: str) -> float:
        """Median over the runs (NaN if the system does not report ``key``)."""
        runs = self.values.get(key)
        return statistics.median(runs) if runs else math.nan

    def min(self, key: str) -> float:
        """Lowest run."""
        runs = self.values.get(key)
        return min(runs) if runs else math.nan

    def max(self, key: str) -> float:
        """Highest run."""
        runs = self.values.get(key)
        return max(runs) if runs else math.nan


@dataclass(frozen=True)
class Row:
    """One scenario on one loop: every system's samples, the baseline first."""

    scenario: str
    loop: str
    runs: int
    samples: tuple[Samples, ...]
    skipped: dict[str, str] = field(default_factory=dict)
    """Systems that did not run here, with the reason."""

    @property
    def systems(self) -> list[str]:
        """Systems measured, in order."""
        return [s.system for s in self.samples]

    def of(self, system: str) -> Samples:
        """Return ``system``'s samples."""
        for s in self.samples:
            if s.system == system:
                return s
        raise KeyError(system)

    def ratio(self, system: str, key: str) -> float:
        """Median of ``system`` over the baseline's (< 1: cheaper than the baseline)."""
        base = self.of(BASELINE).median(key)
        return self.of(system).median(key) / base if base else math.nan


def _short(value: float) -> str:
    if math.isnan(value):
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def measure(
    scenario: Scenario,
    loop: str,
    loop_factory: LoopFactory,
    systems: Sequence[System],
    *,
    runs: int,
    quick: bool,
    progress: Progress,
    skipped: dict[str, str] | None = None,
) -> Row:
    """Run ``scenario`` ``runs`` times per system on ``loop``, the systems interleaved.

    Runs go floor, asyncactors, peers, floor, asyncactors, peers ... so a burst
    of machine noise lands on every system rather than on one system's whole
    batch. One short, unrecorded warm-up round comes first. A peer that fails
    is dropped from the row with its error; the floor or asyncactors failing
    raises, since then the suite itself is broken.
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    label = f"{scenario.name}/{loop}"
    skipped = dict(skipped or {})
    sizes = {s.name: scenario.size_for(s, quick) for s in systems}
    live = list(systems)

    def attempt(system: System, size: int, remaining: int) -> dict[str, float] | None:
        try:
            return scenario.run(system, loop_factory, size)
        except Exception as exc:
            if system.name in (BASELINE, ASYNCACTORS):
                raise
            skipped[system.name] = f"failed: {type(exc).__name__}: {exc}".splitlines()[0]
            progress.note(f"{label}: {system.name} failed, dropped from this row: {exc!r}")
            live.remove(system)
            progress.skip(remaining)
            return None

    for system in list(live):
        warm = scenario.warmup_size(sizes[system.name])
        if warm and attempt(system, warm, runs + 1) is None:
            continue
        progress.step(f"{label}: warmed up {system.name}")

    times: dict[str, dict[str, list[float]]] = {s.name: {} for s in systems}
    for i in range(1, runs + 1):
        for system in list(live):
            result = attempt(system, sizes[system.name], runs - i + 1)
            if result is None:
                continue
            for key, value in result.items():
                times[system.name].setdefault(key, []).append(value)
            first = scenario.metrics[0]
            shown = result.get(first.key, math.nan)
            if first.rate:
                shown = 1e6 / shown
            progress.step(
                f"{label}: run {i}/{runs} {system.name:<11} {_short(shown)} {first.label}"
            )
    return Row(
        scenario=scenario.name,
        loop=loop,
        runs=runs,
        samples=tuple(
            Samples(s.name, sizes[s.name], {k: tuple(v) for k, v in times[s.name].items()})
            for s in live
        ),
        skipped=skipped,
    )
