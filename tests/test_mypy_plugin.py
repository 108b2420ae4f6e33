"""The mypy plugin types @remote classes' remote() and options() from __init__."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SOURCE = """
import asyncactors

@asyncactors.remote
class Counter:
    def __init__(self, n: int = 0) -> None:
        self.n = n

@asyncactors.remote(max_concurrency=3)
class NoInit:
    async def go(self) -> None: ...

reveal_type(Counter.remote(1))
Counter.remote("x")
reveal_type(Counter.options(name="x"))
reveal_type(NoInit.remote())
NoInit.remote(1)
"""


def test_plugin_types_remote_and_options(tmp_path: Path) -> None:
    """remote() takes __init__'s parameters and returns ActorHandle[Cls]; options() ActorClass."""
    api = pytest.importorskip("mypy.api")
    (tmp_path / "snippet.py").write_text(SOURCE)
    (tmp_path / "mypy.ini").write_text("[mypy]\nplugins = asyncactors.mypy\nstrict = True\n")
    out, err, _ = api.run(
        [
            "--config-file",
            str(tmp_path / "mypy.ini"),
            "--cache-dir",
            str(tmp_path / "cache"),
            str(tmp_path / "snippet.py"),
        ]
    )
    assert err == ""
    assert 'Revealed type is "asyncactors._handle.ActorHandle[snippet.Counter]"' in out
    assert 'Revealed type is "asyncactors._actor_class.ActorClass[snippet.Counter]"' in out
    assert 'Revealed type is "asyncactors._handle.ActorHandle[snippet.NoInit]"' in out
    assert 'Argument 1 to "remote" of "Counter" has incompatible type "str"' in out
    assert 'Too many arguments for "remote" of "NoInit"' in out
    assert "Found 2 errors" in out
