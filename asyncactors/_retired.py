"""The counters of a system's actors that stopped for good, kept per class.

Every actor that stops adds its counters here, so this module is loaded by any
program whose actors stop; the records of statistics (``_statistics``,
``_metrics``) load only when a program asks for statistics.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._protocols import EngineCore

__all__ = ["Counters", "Retired", "RetiredClass"]


class Counters:
    """Calls processed and failed, restarts and latency of some actors, added up.

    Shared by the retired counters kept here and the totals of a statistics
    snapshot (``_statistics``).
    """

    __slots__ = ("failed", "latency", "latency_sum", "processed", "restarts")

    def __init__(self) -> None:
        self.processed = self.failed = self.restarts = 0
        # Per latency bucket (see _metrics.LATENCY_BUCKETS), under metrics=True only.
        self.latency: list[int] | None = None
        self.latency_sum = 0.0

    def add_actor(self, core: EngineCore) -> None:
        """Add the counters of ``core``."""
        self.processed += core.processed
        self.failed += core.failed
        self.restarts += core.restarts
        recorder = core.latency()
        if recorder is not None:
            self.add_latency(recorder.counts, recorder.sum)

    def add_counters(self, other: Counters) -> None:
        """Add ``other``'s counters."""
        self.processed += other.processed
        self.failed += other.failed
        self.restarts += other.restarts
        if other.latency is not None:
            self.add_latency(other.latency, other.latency_sum)

    def add_latency(self, counts: Iterable[int], total: float) -> None:
        """Add calls counted per latency bucket, which took ``total`` seconds in all."""
        mine = self.latency
        if mine is None:
            self.latency = list(counts)
        else:
            for i, n in enumerate(counts):
                mine[i] += n
        self.latency_sum += total


class RetiredClass(Counters):
    """The added-up counters of one class's actors that stopped for good."""

    __slots__ = ("dead",)

    def __init__(self) -> None:
        super().__init__()
        self.dead = 0


class Retired:
    """The counters of actors that stopped for good, per class, so that totals
    never go down. Bounded: one entry per class, named actors included."""

    __slots__ = ("groups",)

    def __init__(self) -> None:
        self.groups: dict[str, RetiredClass] = {}

    def add(self, core: EngineCore) -> None:
        """Keep the counters of ``core``, which has stopped for good (loop thread)."""
        group = self.groups.get(core.spec.name)
        if group is None:
            group = self.groups[core.spec.name] = RetiredClass()
        group.dead += 1
        group.add_actor(core)
