"""The counters of a system's actors that stopped for good, kept per class.

Every actor that stops adds its counters here, so this module is loaded by any
program whose actors stop; the records of statistics (``_statistics``,
``_metrics``) load only when a program asks for statistics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._protocols import EngineCore

__all__ = ["Retired", "RetiredClass"]


class RetiredClass:
    """The added-up counters of one class's actors that stopped for good."""

    __slots__ = ("dead", "failed", "latency", "latency_sum", "processed", "restarts")

    def __init__(self) -> None:
        self.dead = self.processed = self.failed = self.restarts = 0
        # Per latency bucket (see _metrics.LATENCY_BUCKETS), under metrics=True only.
        self.latency: list[int] | None = None
        self.latency_sum = 0.0


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
        info = core.info()
        group.dead += 1
        group.processed += info.calls_processed
        group.failed += info.calls_failed
        group.restarts += core.restarts
        recorder = core.latency()
        if recorder is not None:
            counts = group.latency
            if counts is None:
                group.latency = list(recorder.counts)
            else:
                for i, n in enumerate(recorder.counts):
                    counts[i] += n
            group.latency_sum += recorder.sum
