"""``asyncactors load``: the load harness installed with the package.

The subprocess tests run the ``asyncactors`` console script and
``python -m asyncactors`` from a directory outside the repository that holds
the user's module, without ``PYTHONPATH``, as a user would.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from asyncactors import load
from asyncactors._cli import main

REPO = Path(__file__).resolve().parents[1]

USER_MODULE = """
import asyncio

import asyncactors


class Service:
    def __init__(self, ms=0.0):
        self.ms = ms
        self.served = 0

    async def fetch(self, k=1):
        await asyncio.sleep(self.ms / 1000)
        self.served += k
        return self.served


@asyncactors.remote(max_concurrency=2)
class Counter:
    def __init__(self):
        self.n = 0

    def incr(self, k=1):
        self.n += k
        return self.n
"""

LEVEL_ARGS = ("--concurrency", "1,4", "--duration", "0.2", "--warmup", "0.05")
OPTION_ARGS = ("--mailbox-size", "8", "--quiet", "--json", "out.json", *LEVEL_ARGS)
LOAD_COUNTER = ("load", "mysvc:Counter.incr", *OPTION_ARGS)
USER_ARGS = ("--init", "[0.2]", "--args", '{"k": 2}', "--json", "out.json")


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # The table's rules must survive whatever locale the test runs under.
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8", timeout=60
    )


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    """A directory outside the repository with the user's module ``mysvc``."""
    (tmp_path / "mysvc.py").write_text(USER_MODULE, encoding="utf-8")
    return tmp_path


def _table_rows(stdout: str) -> dict[str, list[str]]:
    """The output table's rows, by their first cell; the header row under ``"clients"``."""
    rows = {}
    for line in stdout.splitlines():
        cells = line.split()
        if cells and (cells[0] == "clients" or cells[0].isdigit()):
            rows[cells[0]] = cells
    return rows


def test_console_script_loads_a_module_of_the_current_directory(user_dir: Path) -> None:
    script = Path(sys.executable).with_name("asyncactors")
    proc = _run(
        [str(script), "load", "mysvc:Service.fetch", *LEVEL_ARGS, *USER_ARGS],
        user_dir,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    # Off a terminal the progress is a line per level.
    assert "c=1: " in proc.stderr
    assert "c=4: " in proc.stderr

    rows = _table_rows(proc.stdout)
    assert rows["clients"] == [
        "clients",
        "calls",
        "calls/s",
        "p50",
        "ms",
        "p90",
        "ms",
        "p99",
        "ms",
        "max",
        "ms",
        "errors",
    ]
    assert set(rows) == {"clients", "1", "4"}
    assert rows["4"][-1] == "0"  # no errors
    assert "best throughput:" in proc.stdout

    doc = json.loads((user_dir / "out.json").read_text(encoding="utf-8"))
    assert doc["target"] == "mysvc:Service.fetch"
    assert doc["options"] == {}
    assert [lv["concurrency"] for lv in doc["levels"]] == [1, 4]
    for lv in doc["levels"]:
        assert lv["calls"] > 0
        assert lv["errors"] == 0
        assert lv["throughput"] > 0
        assert 0 < lv["p50_ms"] <= lv["p99_ms"] <= lv["max_ms"]
        # The table shows the same calls as the JSON.
        assert rows[str(lv["concurrency"])][1] == f"{lv['calls']:,}"


def test_python_m_asyncactors_load_with_options_and_quiet(user_dir: Path) -> None:
    """Options reach the actors and the JSON; --quiet drops all progress, the opening line too."""
    proc = _run(
        [sys.executable, "-W", "error", "-m", "asyncactors", *LOAD_COUNTER],
        user_dir,
    )
    assert proc.returncode == 0, proc.stderr
    # --quiet: no progress, neither the levels' lines nor the opening one.
    assert "c=1: " not in proc.stderr
    assert "loading " not in proc.stderr
    assert "mailbox_size=8" in proc.stdout
    doc = json.loads((user_dir / "out.json").read_text(encoding="utf-8"))
    assert doc["options"] == {"mailbox_size": 8}
    assert all(lv["calls"] > 0 for lv in doc["levels"])


def test_run_load_reports_progress_and_one_level_per_concurrency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    statuses: list[load.LevelStatus] = []
    levels = load.run_load(
        "benchmarks.demo:Counter.incr",
        concurrency=[2, 3],
        duration=0.1,
        warmup=0.02,
        args={"k": 2},
        options={"max_concurrency": 1, "mailbox_size": 4},
        actors=2,
        progress=statuses.append,
    )
    assert [lv.concurrency for lv in levels] == [2, 3]
    assert all(lv.calls > 0 and lv.errors == 0 for lv in levels)
    # Each level ends with a status that carries its result.
    finals = [s for s in statuses if s.result is not None]
    assert [s.result for s in finals] == levels
    assert [s.index for s in finals] == [0, 1]
    assert finals[0].calls == levels[0].calls
    assert all(not math.isnan(s.p50_ms) for s in finals)


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["benchmarks.demo:FakeIOService.nope"], 2, "has no method 'nope'"),
        (["benchmarks.demo.FakeIOService.fetch"], 2, "expected package.module:ClassName.method"),
        (["no_such_module_here:X.y"], 2, "cannot import 'no_such_module_here'"),
        (["benchmarks.demo:__doc__.x"], 2, "__doc__ is not a class"),
        (["benchmarks.demo:FakeIOService.fetch", "--args", "[1, 2, 3]"], 1, "first call failed"),
        (["benchmarks.demo:FakeIOService.fetch", "--args", "[1"], 2, "--args is not valid JSON"),
        (["benchmarks.demo:FakeIOService.fetch", "--concurrency", "0"], 2, "must be >= 1"),
        (["benchmarks.demo:FakeIOService.fetch", "--warmup", "-1"], 2, "--warmup must be >= 0"),
    ],
)
def test_load_refuses_bad_input_naming_it(
    argv: list[str],
    code: int,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(REPO))])
    try:
        result = main(["load", *argv, "--duration", "0.05", "--quiet"])
    except SystemExit as exc:
        result = exc.code  # type: ignore[assignment]
    assert result == code
    assert message in capsys.readouterr().err


def test_load_without_rich_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich.console", None)  # import fails
    assert main(["load", "benchmarks.demo:FakeIOService.fetch"], prog="asyncactors") == 1
    err = capsys.readouterr().err
    assert "asyncactors load" in err
    assert "pip install 'asyncactors[cli]'" in err


def test_the_command_line_is_a_subcommand_dispatcher(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        main([], prog="asyncactors")
    assert exc_info.value.code == 2
    assert "required: COMMAND" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc_info:
        main(["nope"], prog="asyncactors")
    assert exc_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err
    assert "load" in err
