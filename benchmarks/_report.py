"""Rendering results: an aligned text table and a JSON document."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ._runner import Row, Samples
from ._systems import BASELINE

__all__ = ["format_table", "to_json", "write_json"]


# An en dash, escaped because ruff (RUF001) takes the literal for a look-alike hyphen.
_DASH = "\u2013"


def _us(ns: float) -> str:
    return f"{ns / 1000:.3f}"


def _cell(samples: Samples) -> str:
    return f"{_us(samples.median)} [{_us(samples.min)}{_DASH}{_us(samples.max)}]"


def format_table(rows: Sequence[Row]) -> str:
    """Return one line per row: scenario, loop, each system's µs/call, each ratio to the baseline.

    Times are "median [min-max]" over the runs; a ratio is the median of the
    system over the median of the baseline, so < 1 means faster than the baseline.
    """
    if not rows:
        return "(no results)"
    systems = [s.system for s in rows[0].samples]
    others = [s for s in systems if s != BASELINE]
    header = [
        "scenario",
        "loop",
        *(f"{s} µs/call (median [min{_DASH}max])" for s in systems),
        *(f"{s}/{BASELINE}" for s in others),
    ]
    table = [header]
    for row in rows:
        table.append(
            [
                row.scenario,
                row.loop,
                *(_cell(row.of(s)) for s in systems),
                *(f"{row.ratio(s):.2f}" for s in others),
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    # Names read best left-aligned, figures right-aligned so their digits line up.
    lines = []
    for line in table:
        cells = [
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _stats(samples: Samples) -> dict[str, object]:
    return {
        "median_us": samples.median / 1000,
        "min_us": samples.min / 1000,
        "max_us": samples.max / 1000,
        "runs_us": [ns / 1000 for ns in samples.ns_per_call],
    }


def to_json(rows: Sequence[Row]) -> list[dict[str, object]]:
    """Return the rows as JSON-ready dicts, one per (scenario, loop).

    Keys: ``scenario``, ``loop``, ``calls`` (per run), ``runs``, ``baseline``,
    ``systems`` (name -> ``median_us``/``min_us``/``max_us``/``runs_us``) and
    ``ratios`` (each non-baseline system's median over the baseline's).
    """
    return [
        {
            "scenario": row.scenario,
            "loop": row.loop,
            "calls": row.calls,
            "runs": row.runs,
            "baseline": BASELINE,
            "systems": {s.system: _stats(s) for s in row.samples},
            "ratios": {s.system: row.ratio(s.system) for s in row.samples if s.system != BASELINE},
        }
        for row in rows
    ]


def write_json(rows: Sequence[Row], path: Path) -> None:
    """Write :func:`to_json` of ``rows`` to ``path``."""
    path.write_text(json.dumps(to_json(rows), indent=2) + "\n", encoding="utf-8")
