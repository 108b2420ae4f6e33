"""The project's own test configuration: what a run without the dev extra says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_run_without_pytest_asyncio_stops_at_once_saying_to_install_the_dev_extra() -> None:
    """Without pytest-asyncio (here: disabled), the suite exits with a usage error that
    names the missing plugin and the install command, instead of pytest's internal
    error about an unknown ini option."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:asyncio",
            "-p",
            "no:cacheprovider",
            "tests/test_layering.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    assert "the tests need pytest-asyncio" in out
    assert "pip install -e '.[dev]'" in out
    assert "INTERNALERROR" not in out
