"""Rendering results: aligned text tables, Markdown tables and a JSON document.

Every figure is a median over the runs with the fastest and slowest run beside
it; a ratio is a system's median over the floor's median in the same row (same
scenario, same loop, runs interleaved), so below 1 is cheaper than the floor.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from ._runner import Row, Samples
from ._scenarios import SCENARIOS, Metric
from ._systems import BASELINE
from ._targets import Check

__all__ = ["format_markdown", "format_summary", "format_tables", "to_json", "write_json"]

# An en dash, escaped because ruff (RUF001) takes the literal for a look-alike hyphen.
_DASH = "\u2013"
_GROUP_TITLES = {
    "calls": "Calls (µs per call)",
    "create": "Actor creation, up to the first reply (µs per actor)",
    "memory": "Memory per idle actor (bytes)",
    "io": "IO-bound: 1 ms of simulated IO per call (floor: plain asyncio.gather; peers not run)",
    "batch": "Batching: items per second (floor: a hand-written asyncio batcher; peers not run)",
}


def _value(value: float, metric: Metric) -> float:
    return 1e6 / value if metric.rate and value else value


def _num(value: float, metric: Metric) -> str:
    if math.isnan(value):
        return "-"
    value = _value(value, metric)
    if metric.digits == 0 or value >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.{metric.digits}f}"


def _cell(samples: Samples, metric: Metric) -> str:
    med = samples.median(metric.key)
    if math.isnan(med):
        return "-"
    lo, hi = samples.min(metric.key), samples.max(metric.key)
    if metric.rate:
        lo, hi = hi, lo  # the slowest run has the lowest rate
    if len(samples.values.get(metric.key, ())) == 1:
        return _num(med, metric)
    return f"{_num(med, metric)} [{_num(lo, metric)}{_DASH}{_num(hi, metric)}]"


def _ratio(row: Row, system: str, metric: Metric) -> str:
    try:
        r = row.ratio(system, metric.key)
    except KeyError:
        return "-"
    return "-" if math.isnan(r) else f"{r:.2f}" if r < 10 else f"{r:.0f}"


def _table(rows: Sequence[Row]) -> list[list[str]]:
    metrics = SCENARIOS[rows[0].scenario].metrics
    header = ["scenario", "loop", "system", "n/run"]
    for m in metrics:
        header += [f"{m.label} median [min{_DASH}max]", "x floor"]
    table = [header]
    for row in rows:
        for i, s in enumerate(row.samples):
            cells = [row.scenario if i == 0 else "", row.loop if i == 0 else "", s.system]
            cells.append(f"{s.size:,}")
            for m in metrics:
                cells += [_cell(s, m), _ratio(row, s.system, m)]
            table.append(cells)
        for system, reason in row.skipped.items():
            table.append(["", "", system, "", f"skipped: {reason}"] + [""] * (len(header) - 5))
    return table


def _align(table: list[list[str]], left: int = 3) -> str:
    # Long "skipped: ..." notes span the rest of the line rather than widening a column.
    widths = [
        max(len(line[i]) for line in table if not line[4 if i >= 4 else i].startswith("skipped"))
        for i in range(len(table[0]))
    ]
    out = []
    for line in table:
        if len(line) > 4 and line[4].startswith("skipped"):
            out.append(
                "  ".join(c.ljust(w) for c, w in zip(line[:4], widths, strict=False))
                + "  "
                + line[4]
            )
            continue
        cells = [
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def _by_group(rows: Sequence[Row]) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(SCENARIOS[row.scenario].group, []).append(row)
    return groups


def _all_systems(rows: Sequence[Row]) -> list[str]:
    seen: list[str] = []
    for row in rows:
        for s in row.systems:
            if s not in seen:
                seen.append(s)
    return seen


def _summary(rows: Sequence[Row]) -> list[list[str]]:
    systems = [s for s in _all_systems(rows) if s != BASELINE]
    table = [["scenario", "loop", "floor (median)", *(f"{s} x floor" for s in systems)]]
    for row in rows:
        metric = SCENARIOS[row.scenario].metrics[0]
        floor = row.of(BASELINE)
        cells = [row.scenario, row.loop, f"{_num(floor.median(metric.key), metric)} {metric.label}"]
        for s in systems:
            cells.append(_ratio(row, s, metric) if s in row.systems else "-")
        table.append(cells)
    return table


def format_summary(rows: Sequence[Row]) -> str:
    """One line per (scenario, loop): the floor's median and each system's ratio to it."""
    if not rows:
        return "(no results)"
    return _align(_summary(rows))


def format_tables(rows: Sequence[Row], checks: Sequence[Check] = ()) -> str:
    """Every figure, one table per group of scenarios, then the targets."""
    if not rows:
        return "(no results)"
    parts = []
    for group, group_rows in _by_group(rows).items():
        parts.append(f"{_GROUP_TITLES.get(group, group)}\n{_align(_table(group_rows))}")
    parts.append(
        "Summary: system median / floor median (below 1: cheaper than the floor)\n"
        + format_summary(rows)
    )
    if checks:
        parts.append("Targets (issue 12)\n" + _align(_checks(checks), left=4))
    return "\n\n".join(parts)


def _checks(checks: Sequence[Check]) -> list[list[str]]:
    table = [["target", "where", "wanted", "measured", "met"]]
    for c in checks:
        table.append([c.target, c.where, c.wanted, c.measured, c.verdict])
    return table


def _md(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    for line in table[1:]:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in line) + " |")
    return "\n".join(lines)


def format_markdown(rows: Sequence[Row], checks: Sequence[Check] = ()) -> str:
    """The summary, every group's full table and the targets, as Markdown."""
    parts = [
        "### Summary\n\nSystem median / floor median, same loop, same run "
        "(below 1: cheaper than the floor).\n\n" + _md(_summary(rows))
    ]
    for group, group_rows in _by_group(rows).items():
        parts.append(f"### {_GROUP_TITLES.get(group, group)}\n\n{_md(_table(group_rows))}")
    if checks:
        parts.append("### Targets\n\n" + _md(_checks(checks)))
    return "\n\n".join(parts) + "\n"


def _stats(samples: Samples) -> dict[str, object]:
    return {
        "size": samples.size,
        "metrics": {
            key: {
                "median": samples.median(key),
                "min": samples.min(key),
                "max": samples.max(key),
                "runs": list(values),
            }
            for key, values in samples.values.items()
        },
    }


def to_json(
    rows: Sequence[Row], machine: dict[str, object], checks: Sequence[Check] = ()
) -> dict[str, object]:
    """Return the results as a JSON-ready dict.

    ``machine``; ``baseline``; ``rows``: one per (scenario, loop) with
    ``scenario``, ``group``, ``loop``, ``runs``, ``skipped`` (system -> reason),
    ``systems`` (name -> ``size`` and ``metrics``: key -> ``median``/``min``/
    ``max``/``runs``) and ``ratios`` (system -> metric key -> its median over
    the floor's); ``targets``: one per check.
    """

    def clean(x: float) -> float | None:
        return None if math.isnan(x) else x

    return {
        "machine": machine,
        "baseline": BASELINE,
        "rows": [
            {
                "scenario": row.scenario,
                "group": SCENARIOS[row.scenario].group,
                "loop": row.loop,
                "runs": row.runs,
                "skipped": row.skipped,
                "systems": {s.system: _stats(s) for s in row.samples},
                "ratios": {
                    s.system: {k: clean(row.ratio(s.system, k)) for k in s.values}
                    for s in row.samples
                    if s.system != BASELINE
                },
            }
            for row in rows
        ],
        "targets": [
            {
                "target": c.target,
                "where": c.where,
                "wanted": c.wanted,
                "measured": c.measured,
                "met": c.met,
            }
            for c in checks
        ],
    }


def write_json(
    rows: Sequence[Row], machine: dict[str, object], path: Path, checks: Sequence[Check] = ()
) -> None:
    """Write :func:`to_json` to ``path``."""
    text = json.dumps(to_json(rows, machine, checks), indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
