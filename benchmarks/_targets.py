"""The targets of issue 12 (and issue 5's peer comparisons), checked against one run's rows.

Each check compares medians measured in the same run. A target whose rows were
not run (``--only``, a peer not installed) is left out rather than failed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ._runner import Row
from ._systems import ASYNCACTORS, BASELINE

__all__ = ["Check", "check_targets"]

_CALL_SCENARIOS = (
    "seq_sync",
    "seq_async",
    "pipelined",
    "one_to_n",
    "n_to_n",
    "concurrent",
    "arg_1kb",
)
_SPEEDUP = {"xoscar": 5.0, "pykka": 5.0, "ray": 100.0, "ray_async": 100.0}
# asyncactors on Ray, and what it is measured against: Ray's async actors (the
# same one-loop model) and Ray's threaded actors (what Ray gives a sync class).
_ON_RAY = "asyncactors_ray"
_RAY_ASYNC = "ray_async"
_RAY_THREADED = "ray"
# Time per call (per actor for create) of asyncactors on Ray over raw Ray async actors.
_ON_RAY_LIMITS = {"seq_sync": 1.1, "seq_async": 1.1, "pipelined": 1.1, "create": 1.2}
_SYNC_SCENARIOS = ("seq_sync", "pipelined", "one_to_n", "n_to_n", "arg_1kb")


@dataclass(frozen=True)
class Check:
    """One target on one row: what was wanted, what was measured, and whether it holds."""

    target: str
    where: str
    wanted: str
    measured: str
    met: bool

    @property
    def verdict(self) -> str:
        """``yes`` or ``NO``."""
        return "yes" if self.met else "NO"


def _find(rows: Sequence[Row], scenario: str) -> list[Row]:
    return [r for r in rows if r.scenario == scenario and ASYNCACTORS in r.systems]


def check_targets(rows: Sequence[Row]) -> list[Check]:
    """Return every target that ``rows`` can decide."""
    checks: list[Check] = []

    def ratio_at_most(target: str, scenario: str, key: str, limit: float) -> None:
        for row in _find(rows, scenario):
            r = row.ratio(ASYNCACTORS, key)
            if not math.isnan(r):
                checks.append(
                    Check(
                        target,
                        f"{scenario}/{row.loop}",
                        f"<= {limit:.2f}x",
                        f"{r:.2f}x",
                        r <= limit,
                    )
                )

    # Issue 12: at or below the floor on both loops, including n:n and concurrent.
    for scenario in _CALL_SCENARIOS:
        ratio_at_most("calls at most the floor", scenario, "us_per_call", 1.0)

    for scenario in _CALL_SCENARIOS:
        for row in _find(rows, scenario):
            mine = row.of(ASYNCACTORS).median("us_per_call")
            for peer in row.systems:
                if peer in (BASELINE, ASYNCACTORS, _ON_RAY):
                    continue
                speedup = row.of(peer).median("us_per_call") / mine
                wanted = 1.0
                if scenario in ("seq_sync", "seq_async"):
                    wanted = _SPEEDUP.get(peer, 1.0)
                checks.append(
                    Check(
                        f"faster than {peer}",
                        f"{scenario}/{row.loop}",
                        f">= {wanted:g}x" if wanted > 1 else "> 1x",
                        f"{speedup:.1f}x",
                        speedup >= wanted if wanted > 1 else speedup > 1,
                    )
                )

    for scenario, limit in (("mem_10k", 400), ("mem_1m", 400), ("mem_after_call", 500)):
        for row in _find(rows, scenario):
            b = row.of(ASYNCACTORS).median("tracemalloc_bytes")
            if not math.isnan(b):
                what = "actor after one call" if scenario == "mem_after_call" else "idle actor"
                checks.append(
                    Check(
                        f"{what} (tracemalloc)",
                        scenario,
                        f"<= {limit} B",
                        f"{b:,.0f} B",
                        b <= limit,
                    )
                )

    # Creation, up to the first reply: 0.3x the floor's time (about 200k actors/s).
    ratio_at_most("creation", "create", "us_per_actor", 0.3)

    checks.extend(_on_ray_checks(rows))

    # IO-bound: the time of the calls at most 1.5x a bare asyncio.gather's.
    for scenario in ("io_c1", "io_c10", "io_c100"):
        ratio_at_most("IO-bound time vs gather", scenario, "us_per_call", 1.5)
    return checks


def _on_ray_checks(rows: Sequence[Row]) -> list[Check]:
    """asyncactors on Ray against raw Ray: the targets against its async actors,
    and (reported, no target) the ratio to its threaded actors for sync classes."""
    checks: list[Check] = []
    for row in rows:
        if _ON_RAY not in row.systems:
            continue
        key = "us_per_actor" if row.scenario == "create" else "us_per_call"
        mine = row.of(_ON_RAY).median(key)
        limit = _ON_RAY_LIMITS.get(row.scenario)
        if limit is not None and _RAY_ASYNC in row.systems:
            r = mine / row.of(_RAY_ASYNC).median(key)
            if not math.isnan(r):
                checks.append(
                    Check(
                        "on Ray vs Ray async actors",
                        f"{row.scenario}/{row.loop}",
                        f"<= {limit:.2f}x",
                        f"{r:.2f}x",
                        r <= limit,
                    )
                )
        if row.scenario in _SYNC_SCENARIOS and _RAY_THREADED in row.systems:
            r = mine / row.of(_RAY_THREADED).median(key)
            if not math.isnan(r):
                checks.append(
                    Check(
                        "on Ray vs Ray threaded actors (reported)",
                        f"{row.scenario}/{row.loop}",
                        "-",
                        f"{r:.2f}x",
                        True,
                    )
                )
    return checks
