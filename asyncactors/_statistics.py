"""Statistics of actors and systems: frozen snapshots of the engine's own counters.

Reading them costs a call nothing: mailbox depth, capacity and peak, calls
processed and failed, restarts and running calls are counters the engine keeps
anyway. Latency is the one figure that needs work per call, so it is measured
only under ``ActorSystem(metrics=True)``: each actor then makes its calls through
a :class:`TimedAdmission`, chosen once when the actor is created, and each call
is timed from submission to its result (two clock reads, a bucket count and a
slot of a ring buffer). Without metrics no actor has one and no call is timed.
"""

from __future__ import annotations

import math
import types
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

from ._core import ActorCore, ActorState, Call, MethodSpec, _CappedCall, _PendingCount

if TYPE_CHECKING:
    from ._system import ActorSystem

__all__ = [
    "LATENCY_BUCKETS",
    "LATENCY_WINDOW",
    "ActorInfo",
    "ActorStatistics",
    "GroupStatistics",
    "LatencyHistogram",
    "LatencySummary",
    "Retired",
    "SystemStatistics",
    "TimedAdmission",
    "actor_statistics",
    "system_statistics",
    "time_calls",
]

#: Upper bounds, in seconds, of the latency histogram's buckets (a last one,
#: ``+Inf``, takes the rest). In-process calls take microseconds; calls that
#: wait for IO or a full mailbox take up to seconds.
LATENCY_BUCKETS: Final = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

#: How many of an actor's latest calls its latency percentiles are taken over.
LATENCY_WINDOW: Final = 256


@dataclass(frozen=True, slots=True)
class ActorInfo:
    """One actor, as ``ActorSystem.list_actors()`` reports it.

    ``calls_processed`` counts calls that ran to an outcome (value or exception);
    ``calls_failed`` counts those of them that raised. ``mailbox_depth`` counts
    calls queued in the mailbox, not those waiting for room in it.
    """

    actor_id: int
    class_name: str
    name: str | None
    namespace: str
    state: ActorState
    mailbox_depth: int
    mailbox_capacity: int
    peak_depth: int
    calls_processed: int
    calls_failed: int
    running: int


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Percentiles of an actor's latest calls (at most ``LATENCY_WINDOW``), each
    timed from ``.remote()`` to its result, in seconds."""

    samples: int
    p50_s: float
    p90_s: float
    p99_s: float
    max_s: float


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    """Every timed call of a group since its system started, as a histogram.

    ``counts[i]`` is how many calls took at most ``bounds[i]`` seconds and more
    than the bound before; the last count, past every bound, is ``+Inf``'s.
    """

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    sum_s: float

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, calls at most that long)`` pairs, ending with ``+Inf``,
        as Prometheus histograms count."""
        total = 0
        out = []
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            total += n
            out.append((bound, total))
        return out


@dataclass(frozen=True, slots=True)
class ActorStatistics(ActorInfo):
    """One actor's counters, as ``handle.statistics()`` reports them.

    Besides ``ActorInfo``'s fields: ``restarts`` (incarnations after the first),
    ``waiting_for_room`` (calls waiting for room in a full mailbox) and
    ``latency`` (``None`` unless the system has ``metrics=True`` and the actor
    has had a call).
    """

    restarts: int
    waiting_for_room: int
    latency: LatencySummary | None


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


# -- latency, under metrics=True --------------------------------------------------


class LatencyRecorder:
    """One actor's call latencies: a histogram of all, and a ring of the latest."""

    __slots__ = ("counts", "pos", "sum", "window")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.sum = 0.0
        self.window = array("d")
        self.pos = 0

    def record(self, seconds: float) -> None:
        """Count one call that took ``seconds``."""
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sum += seconds
        window = self.window
        if len(window) < LATENCY_WINDOW:
            window.append(seconds)
        else:
            pos = self.pos
            window[pos] = seconds
            self.pos = (pos + 1) % LATENCY_WINDOW

    def summary(self) -> LatencySummary | None:
        """Percentiles of the window; ``None`` before the first call."""
        ordered = sorted(self.window)
        n = len(ordered)
        if not n:
            return None

        def rank(q: float) -> float:
            return ordered[min(n - 1, max(0, math.ceil(q * n) - 1))]

        return LatencySummary(n, rank(0.5), rank(0.9), rank(0.99), ordered[-1])


class _TimedCall(Call):
    """A call timed from its creation to its result."""

    __slots__ = ("_latency", "_t0")

    def __init__(
        self,
        core: ActorCore,
        spec: MethodSpec,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        latency: LatencyRecorder,
    ) -> None:
        Call.__init__(self, core, spec, args, kwargs)
        self._latency = latency
        self._t0 = perf_counter()

    def _set_result(self, value: Any) -> None:
        if not self._state:
            self._latency.record(perf_counter() - self._t0)
        Call._set_result(self, value)

    def _set_exception(self, exc: BaseException, *, log: bool = True) -> None:
        if not self._state:
            self._latency.record(perf_counter() - self._t0)
        Call._set_exception(self, exc, log=log)


class _TimedCappedCall(_CappedCall):
    """A timed call to an actor with ``max_pending_calls``."""

    __slots__ = ("_latency", "_t0")

    def __init__(
        self,
        core: ActorCore,
        spec: MethodSpec,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        count: _PendingCount,
        latency: LatencyRecorder,
    ) -> None:
        _CappedCall.__init__(self, core, spec, args, kwargs, count)
        self._latency = latency
        self._t0 = perf_counter()

    def _set_result(self, value: Any) -> None:
        if not self._state:
            self._latency.record(perf_counter() - self._t0)
        _CappedCall._set_result(self, value)

    def _set_exception(self, exc: BaseException, *, log: bool = True) -> None:
        if not self._state:
            self._latency.record(perf_counter() - self._t0)
        _CappedCall._set_exception(self, exc, log=log)


# As the engine's own calls: messages name the public type.
for _cls in (_TimedCall, _TimedCappedCall):
    _cls.__name__ = _cls.__qualname__ = "ObjectRef"


class TimedAdmission:
    """Makes an actor's calls timed ones, keeping its ``max_pending_calls`` count."""

    __slots__ = ("count", "latency")

    def __init__(self, count: _PendingCount | None) -> None:
        self.count = count
        self.latency = LatencyRecorder()

    def admit(
        self, core: ActorCore, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Call:
        """Make a timed call.

        Raises:
            PendingCallsLimitExceeded: the actor's ``max_pending_calls`` are all taken.
        """
        count = self.count
        if count is None:
            return _TimedCall(core, spec, args, kwargs, self.latency)
        count.take(core)
        return _TimedCappedCall(core, spec, args, kwargs, count, self.latency)


def time_calls(core: ActorCore) -> None:
    """Time every later call of ``core`` (``ActorSystem(metrics=True)``), once at creation."""
    pending = core.pending
    assert pending is None or isinstance(pending, _PendingCount)
    core.pending = TimedAdmission(pending)


def _latency_of(core: ActorCore) -> LatencyRecorder | None:
    pending = core.pending
    return pending.latency if isinstance(pending, TimedAdmission) else None


# -- reading the counters ---------------------------------------------------------


def actor_statistics(core: ActorCore) -> ActorStatistics:
    """A snapshot of one actor's counters (any thread; O(1) but the latency sort)."""
    mb = core.mailbox
    latency = _latency_of(core)
    fields = (
        *core.info(),
        core.restarts,
        len(mb.overflow) if mb is not None and mb.overflow else 0,
        latency.summary() if latency is not None else None,
    )
    return ActorStatistics(*fields)


class _Totals:
    """Counters of a group, added up (mutable while a snapshot is built)."""

    __slots__ = (
        "actors",
        "capacity",
        "depth",
        "failed",
        "latency",
        "latency_sum",
        "processed",
        "restarts",
        "running",
        "states",
    )

    def __init__(self) -> None:
        self.actors = self.depth = self.capacity = self.running = 0
        self.processed = self.failed = self.restarts = 0
        self.states: dict[ActorState, int] = {}
        self.latency: list[int] | None = None
        self.latency_sum = 0.0

    def add_counters(self, core: ActorCore) -> None:
        self.processed += core.processed
        self.failed += core.failed
        self.restarts += core.restarts
        recorder = _latency_of(core)
        if recorder is not None:
            self.add_latency(recorder.counts, recorder.sum)

    def add_latency(self, counts: Iterable[int], total: float) -> None:
        mine = self.latency
        if mine is None:
            mine = self.latency = [0] * (len(LATENCY_BUCKETS) + 1)
        for i, n in enumerate(counts):
            mine[i] += n
        self.latency_sum += total

    def add(self, other: _Totals) -> None:
        """Add ``other``'s counters and states (not its mailbox and running calls)."""
        for state, n in other.states.items():
            self.states[state] = self.states.get(state, 0) + n
        self.processed += other.processed
        self.failed += other.failed
        self.restarts += other.restarts
        if other.latency is not None:
            self.add_latency(other.latency, other.latency_sum)

    def histogram(self) -> LatencyHistogram | None:
        counts = self.latency
        if counts is None:
            return None
        return LatencyHistogram(LATENCY_BUCKETS, tuple(counts), sum(counts), self.latency_sum)


class Retired:
    """The counters of actors that stopped for good, per class, so that totals
    never go down. Bounded: one entry per class, named actors included."""

    __slots__ = ("groups",)

    def __init__(self) -> None:
        self.groups: dict[str, _Totals] = {}

    def add(self, core: ActorCore) -> None:
        """Keep the counters of ``core``, which has stopped for good (loop thread)."""
        totals = self.groups.get(core.spec.name)
        if totals is None:
            totals = self.groups[core.spec.name] = _Totals()
        totals.add_counters(core)
        totals.states[ActorState.DEAD] = totals.states.get(ActorState.DEAD, 0) + 1


def system_statistics(
    system: ActorSystem, live: list[ActorCore], retired: Retired, loop_blocks: int
) -> SystemStatistics:
    """Add up the live actors ``live`` of ``system`` and its ``retired`` counters."""
    groups: dict[tuple[str, str | None], _Totals] = {}
    for core in live:
        info = ActorInfo(*core.info())
        key = (info.class_name, info.name)
        totals = groups.get(key)
        if totals is None:
            totals = groups[key] = _Totals()
        totals.actors += 1
        totals.states[info.state] = totals.states.get(info.state, 0) + 1
        totals.depth += info.mailbox_depth
        totals.capacity += info.mailbox_capacity
        totals.running += info.running
        totals.add_counters(core)
    for class_name, dead in list(retired.groups.items()):
        key = (class_name, None)
        totals = groups.get(key)
        if totals is None:
            totals = groups[key] = _Totals()
        totals.add(dead)
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
        system.namespace,
        overall.actors,
        _frozen(overall.states),
        overall.depth,
        overall.capacity,
        overall.processed,
        overall.failed,
        overall.restarts,
        overall.running,
        system._metrics,
        loop_blocks,
        tuple(out),
    )


def _group_order(item: tuple[tuple[str, str | None], _Totals]) -> tuple[str, bool, str]:
    (class_name, name), _ = item
    return (class_name, name is not None, name or "")


def _frozen(states: dict[ActorState, int]) -> Mapping[ActorState, int]:
    ordered = {state: states[state] for state in ActorState if state in states}
    return types.MappingProxyType(ordered)
