"""What importing the package costs: modules only some programs need load on first use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Imported by the stores, checkpoints, the sync bridge, the watchdog, statistics,
# the pool, events, metrics or the runtime context, which neither a plain import
# nor a Ray program in-process up to its first result needs.
HEAVY = (
    "anyio",
    "msgpack",
    "tempfile",
    "zoneinfo",
    "uuid",
    "difflib",
    "random",
    "importlib.abc",
    "asyncactors._stores",
    "asyncactors._state",
    "asyncactors._sync",
    "asyncactors._pool",
    "asyncactors._watchdog",
    "asyncactors._statistics",
    "asyncactors._metrics",
    "asyncactors._events",
    "asyncactors._runtime",
)

_PROGRAMS = {
    "import asyncactors": "import asyncactors",
    "a Ray program's first result": (
        "import asyncactors.compat.ray as ray\n"
        "ray.init()\n"
        "@ray.remote\n"
        "class Counter:\n"
        "    def incr(self, k):\n"
        "        return k\n"
        "c = Counter.remote()\n"
        "assert ray.get(c.incr.remote(1)) == 1\n"
    ),
}


def _loaded_after(program: str) -> list[str]:
    code = (
        f"{program}\nimport json, sys\nprint(json.dumps(sorted(set({HEAVY!r}) & set(sys.modules))))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    loaded: list[str] = json.loads(proc.stdout.splitlines()[-1])
    return loaded


@pytest.mark.parametrize("program", list(_PROGRAMS))
def test_program_leaves_heavy_modules_unimported(program: str) -> None:
    """Neither ``import asyncactors`` nor a Ray program on compat.ray up to its first result
    imports anyio, msgpack, the stores, the sync bridge, the watchdog and the like."""
    assert _loaded_after(_PROGRAMS[program]) == []


def test_lazy_names_import_their_modules_on_first_use() -> None:
    """``asyncactors.FileStore`` (a name loaded on first use) imports its module only
    then, and is that module's class, under the public module name."""
    _loaded_after(
        "import sys, asyncactors\n"
        "assert 'asyncactors._stores' not in sys.modules\n"
        "store = asyncactors.FileStore\n"
        "from asyncactors._stores import FileStore\n"
        "assert store is FileStore and store.__module__ == 'asyncactors', store.__module__\n"
        "assert 'FileStore' in vars(asyncactors)\n"
    )
