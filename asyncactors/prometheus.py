"""Prometheus metrics of an actor system: ``pip install 'asyncactors[prometheus]'``.

::

    from prometheus_client import REGISTRY
    from asyncactors.prometheus import ActorSystemCollector

    REGISTRY.register(ActorSystemCollector(system))

The collector reads ``system.statistics()`` when it is scraped: nothing is
counted per call for it, and importing this module registers nothing. Labels
stay bounded: ``actor_class``, and ``actor_name`` for named actors (``""`` for
the unnamed actors of a class, added up), never actor ids. When a named actor
stops for good its counts join its class's unnamed series, so sums by class
never go down.

Metrics (each with ``namespace``, the system's):

- ``asyncactors_actors{actor_class, state}``: actors by state; ``DEAD`` counts
  those stopped for good.
- ``asyncactors_mailbox_depth``, ``asyncactors_mailbox_capacity``,
  ``asyncactors_running_calls{actor_class, actor_name}``.
- ``asyncactors_calls_total{actor_class, actor_name, outcome}``: ``ok`` or ``error``.
- ``asyncactors_restarts_total{actor_class, actor_name}``.
- ``asyncactors_call_latency_seconds{actor_class, actor_name}``: a histogram
  of the time from ``.remote()`` to the result, under ``ActorSystem(metrics=True)``.
- ``asyncactors_event_loop_blocks_total``: times an actor's method held the
  event loop longer than ``block_warning_s``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

try:
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "asyncactors.prometheus needs prometheus_client: pip install 'asyncactors[prometheus]'"
    ) from exc

from ._statistics import SystemStatistics
from ._system import ActorSystem
from ._types import ActorState

__all__ = ["ActorSystemCollector"]

_GROUP = ["namespace", "actor_class", "actor_name"]


class ActorSystemCollector(Collector):
    """A Prometheus collector of one actor system's statistics, read at scrape time.

    Register it yourself: ``registry.register(ActorSystemCollector(system))``.

    Raises:
        TypeError: ``system`` is not an ``ActorSystem``.
    """

    def __init__(self, system: ActorSystem) -> None:
        if not isinstance(system, ActorSystem):
            raise TypeError(f"ActorSystemCollector needs an ActorSystem, got {system!r}")
        self._system = system

    def describe(self) -> Iterator[Metric]:
        """The metric families, without samples: registration reads nothing."""
        yield from self._families(None)

    def collect(self) -> Iterator[Metric]:
        """The system's metrics now."""
        yield from self._families(self._system.statistics())

    def _families(self, stats: SystemStatistics | None) -> Iterator[Metric]:
        actors = GaugeMetricFamily(
            "asyncactors_actors",
            "Actors by state; DEAD counts those stopped for good.",
            labels=["namespace", "actor_class", "state"],
        )
        depth = GaugeMetricFamily(
            "asyncactors_mailbox_depth", "Calls queued in mailboxes.", labels=_GROUP
        )
        capacity = GaugeMetricFamily(
            "asyncactors_mailbox_capacity", "Mailbox capacity, added up.", labels=_GROUP
        )
        running = GaugeMetricFamily(
            "asyncactors_running_calls", "Calls running now.", labels=_GROUP
        )
        calls = CounterMetricFamily(
            "asyncactors_calls",
            "Calls that ran to an outcome: ok, or error (the method raised).",
            labels=[*_GROUP, "outcome"],
        )
        restarts = CounterMetricFamily("asyncactors_restarts", "Actor restarts.", labels=_GROUP)
        latency = HistogramMetricFamily(
            "asyncactors_call_latency_seconds",
            "Time from .remote() to the call's result (ActorSystem(metrics=True) only).",
            labels=_GROUP,
        )
        blocks = CounterMetricFamily(
            "asyncactors_event_loop_blocks",
            "Times an actor's method held the event loop longer than block_warning_s.",
            labels=["namespace"],
        )
        if stats is not None:
            ns = stats.namespace
            by_class: dict[tuple[str, ActorState], int] = {}
            for group in stats.groups:
                labels = [ns, group.class_name, group.name or ""]
                for state, n in group.states.items():
                    key = (group.class_name, state)
                    by_class[key] = by_class.get(key, 0) + n
                depth.add_metric(labels, group.mailbox_depth)
                capacity.add_metric(labels, group.mailbox_capacity)
                running.add_metric(labels, group.running)
                calls.add_metric([*labels, "ok"], group.calls_processed - group.calls_failed)
                calls.add_metric([*labels, "error"], group.calls_failed)
                restarts.add_metric(labels, group.restarts)
                if group.latency is not None:
                    latency.add_metric(
                        labels,
                        [(_le(bound), n) for bound, n in group.latency.cumulative()],
                        group.latency.sum_s,
                    )
            for (class_name, state), n in sorted(by_class.items()):
                actors.add_metric([ns, class_name, state.value], n)
            blocks.add_metric([ns], stats.loop_blocks)
        yield from (actors, depth, capacity, running, calls, restarts, latency, blocks)


def _le(bound: float) -> str:
    """A bucket's ``le`` label, as Prometheus writes it."""
    return "+Inf" if math.isinf(bound) else repr(bound)
