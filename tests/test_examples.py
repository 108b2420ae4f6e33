"""Every example in examples/ runs to completion and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_example(name: str, *args: str) -> str:
    """Run ``examples/name`` with warnings as errors; return its output, failing on errors."""
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_quickstart() -> None:
    """The quick start counts to 100, fetches ten at a time and finds the named actor."""
    out = run_example("quickstart.py")
    assert "counter: 100" in out
    assert "fetched 20 pages in" in out
    assert "peak concurrency: 10" in out
    assert "hits: 1001" in out
    assert out.count("ALIVE") == 3


def test_supervision() -> None:
    """The supervision example restarts the crashing parser and loses no ledger entry."""
    out = run_example("supervision.py")
    assert "parser crashed on 'oops'" in out
    assert "ledger: ['ITEM-0', 'ITEM-1', 'ITEM-2', 'ITEM-4', 'ITEM-5']" in out
    assert "parser incarnation: 1" in out
    assert "Parser:crashed, Parser:restarting, Parser:restarted" in out


RAY_PROGRAM_LINES = [
    "final balance after three deposits: 60",
    "ledger entries: ['+10', '+20', '+30']",
    "statement: alice has 60",
    "interest at 5%: 3.0",
    "found by name, balance 100",
    "caught ValueError (RayTaskError): deposit must be positive, got -5",
    "pool squares: [0, 1, 4, 9, 16, 25]",
    "wait: 3 ready, 0 not ready",
    "after ray.kill: RayActorError",
]


def test_ray_code_in_process() -> None:
    """The unchanged Ray program runs on asyncactors.compat.ray and prints its results."""
    assert run_example("ray_code_in_process.py", "in-process").splitlines() == RAY_PROGRAM_LINES


@pytest.mark.real_ray
def test_ray_code_on_real_ray_prints_the_same() -> None:
    """The same program on real Ray prints the same lines (one local Ray start)."""
    pytest.importorskip("ray", reason="real Ray is not installed (pip install 'ray>=2.60')")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ray_code_in_process.py"), "ray"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == RAY_PROGRAM_LINES
