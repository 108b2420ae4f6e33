"""What the benchmarks ran on: cores, CPU model, Python, loops and package versions."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["machine_info", "version"]

_REPO = Path(__file__).resolve().parents[1]
_PACKAGES = ("asyncactors", "uvloop", "ray", "pykka", "xoscar")


def version(dist: str) -> str | None:
    """The installed version of ``dist``, or ``None``."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _commit() -> str | None:
    try:
        proc = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=_REPO,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def machine_info() -> dict[str, object]:
    """A JSON-ready description of this machine and the software measured."""
    return {
        "nproc": _nproc(),
        "cpu": _cpu_model(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "commit": _commit(),
        "versions": {name: version(name) for name in _PACKAGES},
    }


def describe(info: dict[str, object]) -> str:
    """One line for the top of a report."""
    versions = info.get("versions")
    installed = (
        ", ".join(f"{k} {v}" for k, v in versions.items() if v)
        if isinstance(versions, dict)
        else ""
    )
    commit = f" at {info['commit']}" if info.get("commit") else ""
    return f"{info['nproc']} CPUs ({info['cpu']}), {info['python']}, {installed}{commit}"
