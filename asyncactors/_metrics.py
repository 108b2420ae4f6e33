"""Records of what actors do: latency, statistics, running calls (a leaf of the seam).

Latency is the one figure that costs a call work, so it is measured only under
``ActorSystem(metrics=True)``: an engine then makes each actor's calls timed ones,
chosen once when the actor is created, and records each call's time from
submission to its result in the actor's :class:`LatencyRecorder` (two clock
reads, a bucket count and a slot of a ring buffer). Without metrics no call is
timed. Everything else in :class:`ActorStatistics` is a counter the engine keeps
anyway.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from array import array
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from ._info import ActorInfo
from ._ref import ObjectRef
from ._types import MethodKind

__all__ = [
    "LATENCY_BUCKETS",
    "LATENCY_WINDOW",
    "ActorStatistics",
    "LatencyHistogram",
    "LatencyRecorder",
    "LatencySummary",
    "RunningCall",
    "actor_statistics",
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


@dataclass(frozen=True, slots=True, kw_only=True)
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


@dataclass(frozen=True, slots=True)
class RunningCall:
    """A call an actor runs in a task now, as its engine reports it (``running_calls()``)."""

    task: asyncio.Task[Any]
    ref: ObjectRef[Any]
    method: str
    kind: MethodKind
    # The method's function, to find the thread running a run_in_thread call.
    func: Callable[..., Any]


def actor_statistics(
    info: ActorInfo, *, restarts: int, waiting_for_room: int, latency: LatencyRecorder | None
) -> ActorStatistics:
    """``info`` with the rest of an actor's statistics (engines build theirs with it)."""
    fields = {f.name: getattr(info, f.name) for f in dataclasses.fields(info)}
    return ActorStatistics(
        **fields,
        restarts=restarts,
        waiting_for_room=waiting_for_room,
        latency=latency.summary() if latency is not None else None,
    )
