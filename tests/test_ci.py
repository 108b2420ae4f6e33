""".ci/python313: which Python 3.13 CI's second leg runs on, and when it fails instead."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "python313"
TOOLS = ("bash", "env", "ls", "sort", "tail")


def _python(path: Path, *, runs: bool = True) -> Path:
    """A stand-in interpreter at ``path`` that prints its own path (or fails)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('#!/bin/sh\necho "$0"\n' if runs else "#!/bin/sh\nexit 3\n")
    path.chmod(0o755)
    return path


def _run(tmp_path: Path, root: Path) -> subprocess.CompletedProcess[str]:
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    for name in TOOLS:
        found = shutil.which(name)
        if found is None:
            pytest.skip(f"no {name} here")
        (tools / name).symlink_to(found)
    path = f"{tmp_path / 'bin'}:{tools}"
    env = {"PATH": path, "PYENV_ROOT": str(root), "HOME": str(tmp_path)}
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=10
    )


@pytest.mark.skipif(os.name != "posix", reason="a bash script")
def test_pyenvs_newest_313_with_the_gil_is_chosen(tmp_path: Path) -> None:
    """Of pyenv's 3.13s, the newest by version (3.13.10 after 3.13.9) that is neither
    free-threaded (3.13.11t) nor a pre-release is chosen (ls order chose 3.13.9, or a t)."""
    root = tmp_path / "pyenv"
    for version in ("3.13.0", "3.13.9", "3.13.10", "3.13.11t", "3.13-dev"):
        _python(root / "versions" / version / "bin" / "python3.13")
    done = _run(tmp_path, root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(root / "versions" / "3.13.10" / "bin" / "python3.13")


@pytest.mark.skipif(os.name != "posix", reason="a bash script")
def test_a_313_that_does_not_run_fails_loudly(tmp_path: Path) -> None:
    """A python3.13 on PATH that fails is an error naming it, not a silent skip."""
    broken = _python(tmp_path / "bin" / "python3.13", runs=False)
    _python(tmp_path / "pyenv" / "versions" / "3.13.1" / "bin" / "python3.13")
    done = _run(tmp_path, tmp_path / "pyenv")
    assert done.returncode != 0
    assert f"{broken} was found as Python 3.13, but it does not run" in done.stderr


@pytest.mark.skipif(os.name != "posix", reason="a bash script")
def test_no_313_prints_nothing(tmp_path: Path) -> None:
    """Without any Python 3.13 the script succeeds and prints nothing: the leg is skipped."""
    (tmp_path / "pyenv" / "versions" / "3.12.1" / "bin").mkdir(parents=True)
    done = _run(tmp_path, tmp_path / "pyenv")
    assert (done.returncode, done.stdout) == (0, "")
