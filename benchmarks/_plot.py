"""Charts of the results with matplotlib (in the optional ``bench`` extra)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asyncactors._tools import matplotlib_missing as _matplotlib_missing
from asyncactors._tools import pyplot

from ._runner import Row
from ._scenarios import SCENARIOS

__all__ = ["matplotlib_missing", "plot_rows"]

_PANELS = (
    ("calls", "us_per_call", False, "µs per call (log)"),
    ("create", "us_per_actor", False, "µs per actor, up to the first reply (log)"),
    ("memory", "rss_bytes", False, "bytes per idle actor, RSS (log)"),
    ("io", "us_per_call", True, "calls/s, 1 ms IO per call (floor: asyncio.gather)"),
)


def matplotlib_missing() -> str | None:
    """Why plotting is unavailable, or ``None`` if matplotlib imports."""
    return _matplotlib_missing("pip install -e '.[bench]'")


def _bars(ax: Any, rows: Sequence[Row], key: str, rate: bool, title: str) -> None:
    systems: list[str] = []
    for row in rows:
        systems += [s for s in row.systems if s not in systems]
    width = 0.8 / max(1, len(systems))
    for j, system in enumerate(systems):
        xs, ys, lo, hi = [], [], [], []
        for i, row in enumerate(rows):
            if system not in row.systems:
                continue
            s = row.of(system)
            med = s.median(key)
            if math.isnan(med):
                continue
            a, b = s.min(key), s.max(key)
            if rate:
                med, a, b = 1e6 / med, 1e6 / b, 1e6 / a
            xs.append(i + (j - (len(systems) - 1) / 2) * width)
            ys.append(med)
            lo.append(med - a)
            hi.append(b - med)
        if xs:
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=system)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r.scenario}\n{r.loop}" for r in rows], fontsize=7)
    if not rate:
        ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)


def plot_rows(rows: Sequence[Row], path: Path, title: str) -> None:
    """Draw one panel per group of scenarios (bars: medians, whiskers: min-max) to ``path``."""
    plt = pyplot()
    panels = []
    for group, key, rate, label in _PANELS:
        group_rows = [r for r in rows if SCENARIOS[r.scenario].group == group]
        if group_rows:
            panels.append((group_rows, key, rate, label))
    if not panels:
        raise ValueError("nothing to plot")
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 3.6 * len(panels)), squeeze=False)
    for ax, (group_rows, key, rate, label) in zip(axes[:, 0], panels, strict=True):
        _bars(ax, group_rows, key, rate, label)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
