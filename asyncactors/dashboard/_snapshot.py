"""What the dashboard shows, as JSON-ready data read from a system's statistics."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Final

from .._events import ActorEvent, EventStream
from .._metrics import ActorStatistics
from .._supervisor import Supervisor
from .._system import ActorSystem

if TYPE_CHECKING:
    from .._protocols import EngineCore

__all__ = ["RecentEvents", "Snapshotter"]

# How many lifecycle events the page can show.
_EVENTS: Final = 50


class RecentEvents:
    """The latest lifecycle events of a system, kept without a reader."""

    def __init__(self, system: ActorSystem) -> None:
        self._stream: EventStream = system.events()
        # Bounded: nobody consumes this stream, the page only shows its tail.
        self._stream._events = deque(maxlen=_EVENTS)

    def latest(self) -> list[ActorEvent]:
        return list(self._stream._events)

    def close(self) -> None:
        self._stream._close()


class Snapshotter:
    """Builds the page's data; remembers each actor's count of calls to give
    throughput (calls per second since the previous snapshot)."""

    def __init__(self, max_actors: int, stuck_after_s: float) -> None:
        self.max_actors = max_actors
        self.stuck_after_s = stuck_after_s
        self._last: tuple[float, dict[int, int]] | None = None

    def snapshot(self, system: ActorSystem, events: RecentEvents | None) -> dict[str, Any]:
        """The system now: totals, the supervision tree of (up to ``max_actors``)
        actors, latest events, stuck calls and loop blocks."""
        now = time.monotonic()
        stats = system.statistics()
        with system._lock:
            live = list(system._actors.values())
        rows = [core.statistics() for core in live]
        processed = {row.actor_id: row.calls_processed for row in rows}
        rates: dict[int, float] = {}
        total_rate = 0.0
        if self._last is not None:
            then, before = self._last
            dt = max(now - then, 1e-9)
            for actor_id, n in processed.items():
                rate = max(0, n - before.get(actor_id, 0)) / dt
                rates[actor_id] = rate
                total_rate += rate
        self._last = (now, processed)
        shown = _busiest(rows, self.max_actors)
        shown_ids = {row.actor_id for row in shown}
        cores = {core.actor_id: core for core in live if core.actor_id in shown_ids}
        watchdog = system._watchdog
        stuck = (
            [asdict(s) for s in system.stuck_calls(self.stuck_after_s)]
            if watchdog is not None
            else None
        )
        return {
            "namespace": stats.namespace,
            "time": time.time(),
            "closed": system.closed,
            "metrics": stats.metrics,
            "watchdog": watchdog.threshold if watchdog is not None else None,
            "totals": {
                "actors": stats.actors,
                "states": {state.value: n for state, n in stats.states.items()},
                "mailbox_depth": stats.mailbox_depth,
                "mailbox_capacity": stats.mailbox_capacity,
                "calls_processed": stats.calls_processed,
                "calls_failed": stats.calls_failed,
                "restarts": stats.restarts,
                "running": stats.running,
                "throughput": total_rate,
                "loop_blocks": stats.loop_blocks,
            },
            "tree": _tree([cores[row.actor_id] for row in shown]),
            "actors": {str(row.actor_id): _actor(row, rates.get(row.actor_id)) for row in shown},
            "hidden": len(rows) - len(shown),
            "events": [_event(e) for e in reversed(events.latest())] if events else [],
            "stuck": stuck,
            "blocks": [asdict(b) for b in reversed(watchdog.recent)] if watchdog else [],
        }


def _busiest(rows: list[ActorStatistics], limit: int) -> list[ActorStatistics]:
    """At most ``limit`` actors, the busiest first kept, shown in creation order."""
    if len(rows) <= limit:
        return rows
    ranked = sorted(
        rows,
        key=lambda r: (r.mailbox_depth + r.waiting_for_room, r.running, r.name is not None),
        reverse=True,
    )[:limit]
    return sorted(ranked, key=lambda r: r.actor_id)


def _actor(row: ActorStatistics, rate: float | None) -> dict[str, Any]:
    latency = row.latency
    return {
        "id": row.actor_id,
        "class_name": row.class_name,
        "name": row.name,
        "state": row.state.value,
        "depth": row.mailbox_depth,
        "capacity": row.mailbox_capacity,
        "peak": row.peak_depth,
        "waiting": row.waiting_for_room,
        "processed": row.calls_processed,
        "failed": row.calls_failed,
        "restarts": row.restarts,
        "running": row.running,
        "throughput": rate,
        "p50_s": latency.p50_s if latency else None,
        "p99_s": latency.p99_s if latency else None,
    }


def _event(event: ActorEvent) -> dict[str, Any]:
    exc = event.exception
    return {
        "kind": event.kind,
        "actor_id": event.actor_id,
        "class_name": event.class_name,
        "name": event.name,
        "restart_count": event.restart_count,
        "exception": f"{type(exc).__name__}: {exc}" if exc is not None else None,
        "timestamp": event.timestamp,
    }


def _tree(cores: list[EngineCore]) -> dict[str, Any]:
    """The supervision tree of ``cores``: the root, its supervisors, their actors,
    each list in the order its members were first created.

    Found from the actors up: the root keeps no list of its children (it may have
    millions), and a supervisor without a live actor shown is left out.
    """
    root: dict[str, Any] = {"kind": "root", "label": "root", "children": []}
    nodes: dict[int, dict[str, Any]] = {}

    def node_of(sup: Supervisor) -> dict[str, Any]:
        if sup.is_root:
            return root
        node = nodes.get(id(sup))
        if node is None:
            node = nodes[id(sup)] = {
                "kind": "supervisor",
                "label": sup.name or f"supervisor {id(sup):x}",
                "strategy": sup.strategy,
                "status": sup._status.value,
                "children": [],
            }
            parent = node_of(sup.parent) if sup.parent is not None else root
            parent["children"].append(node)
        return node

    for core in cores:
        sup = core.supervisor
        parent = node_of(sup) if isinstance(sup, Supervisor) else root
        parent["children"].append({"kind": "actor", "id": core.actor_id})
    return root
