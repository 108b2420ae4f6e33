"""Repeated, interleaved measurement of one scenario on one loop, and its statistics."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ._scenarios import LoopFactory, Scenario
from ._systems import BASELINE

__all__ = ["Row", "Samples", "measure"]


@dataclass(frozen=True)
class Samples:
    """One system's per-call times (ns), one per run, in run order."""

    system: str
    ns_per_call: tuple[float, ...]

    @property
    def median(self) -> float:
        """Median ns per call over the runs."""
        return statistics.median(self.ns_per_call)

    @property
    def min(self) -> float:
        """Fastest run's ns per call."""
        return min(self.ns_per_call)

    @property
    def max(self) -> float:
        """Slowest run's ns per call."""
        return max(self.ns_per_call)


@dataclass(frozen=True)
class Row:
    """The result of one scenario on one loop: every system's samples, baseline first."""

    scenario: str
    loop: str
    calls: int
    runs: int
    samples: tuple[Samples, ...]

    def of(self, system: str) -> Samples:
        """Return ``system``'s samples."""
        for s in self.samples:
            if s.system == system:
                return s
        raise KeyError(system)

    def ratio(self, system: str) -> float:
        """Median time of ``system`` over the baseline's (< 1: faster than the baseline)."""
        return self.of(system).median / self.of(BASELINE).median


def measure(
    scenario: Scenario,
    loop: str,
    loop_factory: LoopFactory,
    systems: Sequence[str],
    *,
    runs: int,
    calls: int,
    progress: Callable[[str], None],
) -> Row:
    """Run ``scenario`` ``runs`` times per system on ``loop``, the systems interleaved.

    Runs go floor, asyncactors, floor, asyncactors, ... so a burst of machine
    noise lands on both systems rather than on one system's whole batch. One
    short, unrecorded round first warms up each system's code paths.
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    label = f"{scenario.name}/{loop}"
    for system in systems:
        scenario.run(system, loop_factory, max(1, calls // 10))
    progress(f"{label}: warmed up, {runs} runs x {calls} calls per system")
    times: dict[str, list[float]] = {system: [] for system in systems}
    for i in range(1, runs + 1):
        for system in systems:
            ns = scenario.run(system, loop_factory, calls)
            times[system].append(ns)
            progress(f"{label}: run {i}/{runs} {system:<12} {ns / 1000:8.3f} µs/call")
    return Row(
        scenario=scenario.name,
        loop=loop,
        calls=calls,
        runs=runs,
        samples=tuple(Samples(system, tuple(times[system])) for system in systems),
    )
