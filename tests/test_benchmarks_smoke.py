"""Smoke tests of ``python -m benchmarks``: it runs, and reports every scenario.

These check that the benchmarks work, never how fast anything is: the figures
of a --quick single run on a shared machine mean nothing.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Return ``benchmarks.__main__``, importable whatever directory pytest runs from."""
    # benchmarks/ is not part of the installed distribution; it lives at the repo root.
    monkeypatch.syspath_prepend(str(REPO))
    import benchmarks.__main__

    return benchmarks.__main__


def _rows(stdout: str, scenarios: list[str]) -> dict[tuple[str, str], list[str]]:
    rows = {}
    for line in stdout.splitlines():
        cells = line.split()
        if len(cells) >= 3 and cells[0] in scenarios:
            rows[cells[0], cells[1]] = cells
    return rows


def test_quick_run_reports_every_scenario_on_every_loop(bench: ModuleType) -> None:
    from benchmarks._loops import available_loops
    from benchmarks._scenarios import SCENARIOS

    proc = subprocess.run(
        # -W error: a warning in the benchmarks (an unclosed loop, a deprecation)
        # fails the test as it would in-process under pytest's filterwarnings.
        [sys.executable, "-W", "error", "-m", "benchmarks", "--quick", "--runs", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        # The table's µ and en dashes must survive whatever locale the test runs under.
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=50,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Exception ignored" not in proc.stderr

    scenarios = list(SCENARIOS)
    rows = _rows(proc.stdout, scenarios)
    expected = {(s, loop) for s in scenarios for loop in available_loops()}
    assert set(rows) == expected, proc.stdout
    for cells in rows.values():
        ratio = float(cells[-1])
        assert math.isfinite(ratio)
        assert ratio > 0


def test_json_output_of_one_scenario(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    argv = ["--only", "seq_sync", "--quick", "--runs", "2", "--loops", "asyncio"]
    assert bench.main([*argv, "--json", str(out)]) == 0
    assert "seq_sync" in capsys.readouterr().out

    results = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(results, list)
    assert len(results) == 1
    (row,) = results
    assert set(row) == {"scenario", "loop", "calls", "runs", "baseline", "systems", "ratios"}
    assert row["scenario"] == "seq_sync"
    assert row["loop"] == "asyncio"
    assert row["runs"] == 2
    assert row["calls"] > 0
    assert row["baseline"] == "floor"
    assert set(row["systems"]) == {"floor", "asyncactors"}
    for stats in row["systems"].values():
        assert set(stats) == {"median_us", "min_us", "max_us", "runs_us"}
        assert len(stats["runs_us"]) == 2
        assert all(t > 0 for t in stats["runs_us"])
        assert 0 < stats["min_us"] <= stats["median_us"] <= stats["max_us"]
    assert set(row["ratios"]) == {"asyncactors"}
    assert row["ratios"]["asyncactors"] > 0


def test_unknown_scenario_is_a_usage_error(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc_info:
        bench.main(["--only", "nope"])
    assert exc_info.value.code == 2
    assert "unknown scenario nope" in capsys.readouterr().err
