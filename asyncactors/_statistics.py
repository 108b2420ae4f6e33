"""A system's statistics: its actors' counters added up per class and named actor.

Read from what the engines keep anyway (``EngineCore.info()``, ``restarts`` and,
under ``metrics=True``, ``latency()``); the counters of actors that stopped for
good are kept per class (``_retired.Retired``), so that totals never go down.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._metrics import LATENCY_BUCKETS, LatencyHistogram
from ._retired import Counters
from ._types import ActorState

if TYPE_CHECKING:
    from ._protocols import EngineCore
    from ._retired import Retired

__all__ = ["GroupStatistics", "SystemStatistics", "system_statistics"]


@dataclass(frozen=True, slots=True)
class GroupStatistics:
    """The actors of one class (``name`` ``None``), or one named actor, added up.

    Counters (``calls_processed``, ``calls_failed``, ``restarts``, ``latency``)
    include the actors of the class that have stopped for good, so they never
    go down: a named actor's counts join its class's group when it stops. The
    rest (``actors``, ``states``, mailbox and ``running``) are of live actors.
    """

    class_name: str
    name: str | None
    actors: int
    states: Mapping[ActorState, int]
    mailbox_depth: int
    mailbox_capacity: int
    calls_processed: int
    calls_failed: int
    restarts: int
    running: int
    latency: LatencyHistogram | None


@dataclass(frozen=True, slots=True)
class SystemStatistics:
    """A whole actor system, as ``system.statistics()`` reports it.

    ``states`` counts live actors by state, and under ``DEAD`` every actor that
    has stopped for good. ``groups`` has one entry per class and per named actor
    (see ``GroupStatistics``). ``loop_blocks`` counts the times the watchdog saw
    an actor's method hold the event loop longer than ``block_warning_s``.
    """

    namespace: str
    actors: int
    states: Mapping[ActorState, int]
    mailbox_depth: int
    mailbox_capacity: int
    calls_processed: int
    calls_failed: int
    restarts: int
    running: int
    metrics: bool
    loop_blocks: int
    groups: tuple[GroupStatistics, ...]


class _Totals(Counters):
    """Counters of a group, added up (mutable while a snapshot is built)."""

    __slots__ = ("actors", "capacity", "depth", "running", "states")

    def __init__(self) -> None:
        super().__init__()
        self.actors = self.depth = self.capacity = self.running = 0
        self.states: dict[ActorState, int] = {}

    def add(self, other: _Totals) -> None:
        """Add ``other``'s counters and states (not its mailbox and running calls)."""
        for state, n in other.states.items():
            self.states[state] = self.states.get(state, 0) + n
        self.add_counters(other)

    def histogram(self) -> LatencyHistogram | None:
        counts = self.latency
        if counts is None:
            return None
        return LatencyHistogram(LATENCY_BUCKETS, tuple(counts), sum(counts), self.latency_sum)


def system_statistics(
    namespace: str, metrics: bool, live: list[EngineCore], retired: Retired, loop_blocks: int
) -> SystemStatistics:
    """Add up the ``live`` actors of a system and its ``retired`` counters."""
    groups: dict[tuple[str, str | None], _Totals] = {}
    for core in live:
        info = core.info()
        key = (info.class_name, info.name)
        totals = groups.get(key)
        if totals is None:
            totals = groups[key] = _Totals()
        totals.actors += 1
        totals.states[info.state] = totals.states.get(info.state, 0) + 1
        totals.depth += info.mailbox_depth
        totals.capacity += info.mailbox_capacity
        totals.running += info.running
        totals.add_actor(core)
    for class_name, dead in list(retired.groups.items()):
        key = (class_name, None)
        totals = groups.get(key)
        if totals is None:
            totals = groups[key] = _Totals()
        totals.states[ActorState.DEAD] = totals.states.get(ActorState.DEAD, 0) + dead.dead
        totals.add_counters(dead)
    overall = _Totals()
    out = []
    for (class_name, name), totals in sorted(groups.items(), key=_group_order):
        overall.actors += totals.actors
        overall.depth += totals.depth
        overall.capacity += totals.capacity
        overall.running += totals.running
        overall.add(totals)
        out.append(
            GroupStatistics(
                class_name,
                name,
                totals.actors,
                _frozen(totals.states),
                totals.depth,
                totals.capacity,
                totals.processed,
                totals.failed,
                totals.restarts,
                totals.running,
                totals.histogram(),
            )
        )
    return SystemStatistics(
        namespace,
        overall.actors,
        _frozen(overall.states),
        overall.depth,
        overall.capacity,
        overall.processed,
        overall.failed,
        overall.restarts,
        overall.running,
        metrics,
        loop_blocks,
        tuple(out),
    )


def _group_order(item: tuple[tuple[str, str | None], _Totals]) -> tuple[str, bool, str]:
    (class_name, name), _ = item
    return (class_name, name is not None, name or "")


def _frozen(states: dict[ActorState, int]) -> Mapping[ActorState, int]:
    ordered = {state: states[state] for state in ActorState if state in states}
    return types.MappingProxyType(ordered)
