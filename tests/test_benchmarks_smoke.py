"""Smoke tests of ``python -m benchmarks``.

These check that the benchmarks work, never how fast anything is: the figures
of a --quick single run on a shared machine mean nothing. They run the floor
and asyncactors only (``--systems asyncactors``), so they neither need nor
start the peers of the ``bench`` extra, even where those are installed.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Return ``benchmarks.__main__``, importable whatever directory pytest runs from."""
    # benchmarks/ is not part of the installed distribution; it lives at the repo root.
    monkeypatch.syspath_prepend(str(REPO))
    import benchmarks.__main__

    return benchmarks.__main__


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # -W error: a warning in the benchmarks (an unclosed loop, a deprecation)
        # fails the test as it would in-process under pytest's filterwarnings.
        [sys.executable, "-W", "error", "-m", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        encoding="utf-8",
        # The tables' µ and en dashes must survive whatever locale the test runs under.
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=timeout,
        check=False,
    )


def test_quick_run_reports_every_scenario_on_every_loop(bench: ModuleType, tmp_path: Path) -> None:
    from benchmarks._loops import available_loops
    from benchmarks._scenarios import SCENARIOS

    out = tmp_path / "results.json"
    md = tmp_path / "results.md"
    proc = _run(
        "benchmarks",
        "--quick",
        "--runs",
        "1",
        "--systems",
        "asyncactors",
        "--json",
        str(out),
        "--markdown",
        str(md),
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Exception ignored" not in proc.stderr
    assert "--quick skips mem_1m" in proc.stderr

    loops = list(available_loops())
    expected = {
        (name, loop)
        for name, s in SCENARIOS.items()
        if s.in_quick
        for loop in (loops if s.all_loops else loops[:1])
    }
    doc = json.loads(out.read_text(encoding="utf-8"))
    rows = {(r["scenario"], r["loop"]): r for r in doc["rows"]}
    assert set(rows) == expected
    for (name, _), row in rows.items():
        assert set(row["systems"]) == {"floor", "asyncactors"}
        keys = {m.key for m in SCENARIOS[name].metrics}
        for stats in row["systems"].values():
            assert set(stats["metrics"]) == keys
            assert stats["size"] > 0
        for key in keys:
            ratio = row["ratios"]["asyncactors"][key]
            assert math.isfinite(ratio)
            assert ratio > 0
    assert doc["machine"]["nproc"] >= 1
    assert {t["target"] for t in doc["targets"]} >= {"calls at most the floor", "creation"}

    # Every scenario is in the printed tables and in the Markdown.
    for name in {n for n, _ in expected}:
        assert name in proc.stdout
        assert name in md.read_text(encoding="utf-8")
    assert "Targets" in proc.stdout


def test_json_output_of_one_scenario(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    argv = ["--only", "seq_sync", "--quick", "--runs", "2", "--loops", "asyncio"]
    assert bench.main([*argv, "--systems", "asyncactors", "--json", str(out)]) == 0
    assert "seq_sync" in capsys.readouterr().out

    doc = json.loads(out.read_text(encoding="utf-8"))
    assert set(doc) == {"machine", "baseline", "rows", "targets"}
    (row,) = doc["rows"]
    assert set(row) == {"scenario", "group", "loop", "runs", "skipped", "systems", "ratios"}
    assert (row["scenario"], row["group"], row["loop"], row["runs"]) == (
        "seq_sync",
        "calls",
        "asyncio",
        2,
    )
    assert doc["baseline"] == "floor"
    assert set(row["systems"]) == {"floor", "asyncactors"}
    for stats in row["systems"].values():
        m = stats["metrics"]["us_per_call"]
        assert len(m["runs"]) == 2
        assert all(t > 0 for t in m["runs"])
        assert 0 < m["min"] <= m["median"] <= m["max"]
    assert set(row["ratios"]) == {"asyncactors"}
    assert row["ratios"]["asyncactors"]["us_per_call"] > 0


def test_groups_expand_and_unknown_names_are_usage_errors(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = bench._parser()
    args = parser.parse_args(["--only", "io,create"])
    assert args.only == ["create", "io_c1", "io_c10", "io_c100"]

    with pytest.raises(SystemExit) as exc_info:
        bench.main(["--only", "nope"])
    assert exc_info.value.code == 2
    assert "unknown scenario nope" in capsys.readouterr().err


def test_only_names_each_choice_once_and_offers_no_group_it_cannot_select(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """--only's usage error lists each name once (create is a scenario and a group), and
    its help offers as groups only those a name selects (create selects the scenario)."""
    with pytest.raises(SystemExit):
        bench.main(["--only", "nope"])
    choices = capsys.readouterr().err.split("choose from ")[1].rstrip().rstrip(")").split(", ")
    assert len(choices) == len(set(choices))
    assert "create" in choices
    groups = " ".join(bench._parser().format_help().split()).split("groups (")[1].split(")")[0]
    assert groups.split(", ") == ["calls", "memory", "io", "batch"]


def test_list_shows_scenarios_and_systems(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in ("seq_sync", "wait_loop", "mem_1m", "io_c100", "floor", "asyncactors"):
        assert name in out
    # Every peer is either available or listed with the reason it is not.
    for peer in ("ray", "pykka", "xoscar"):
        assert peer in out


def test_floor_actor_with_concurrency_overlaps_calls(bench: ModuleType) -> None:
    import asyncio

    from benchmarks._floor import FloorActor

    async def main() -> int:
        running = peak = 0

        async def work() -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.001)
            running -= 1

        async with FloorActor(work, max_concurrency=4) as actor:
            await asyncio.gather(*(actor.submit() for _ in range(12)))
        return peak

    assert asyncio.run(main()) == 4


def test_floor_batcher_batches_items_and_returns_each_result(bench: ModuleType) -> None:
    """The hand-written batcher the batch scenarios compare with gives each item its result."""
    import asyncio

    from benchmarks._floor import FloorBatcher

    async def main() -> tuple[list[object], list[int]]:
        sizes: list[int] = []

        async def double(items: list[object]) -> list[object]:
            sizes.append(len(items))
            await asyncio.sleep(0)
            return [2 * i for i in items]  # type: ignore[operator]

        async with FloorBatcher(double, 4, 0.001, max_concurrency=2) as batcher:
            results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
        return results, sizes

    results, sizes = asyncio.run(main())
    assert results == [2 * i for i in range(10)]
    assert sum(sizes) == 10
    assert max(sizes) == 4


def test_targets_are_checked_against_the_floor(bench: ModuleType) -> None:
    from benchmarks._runner import Row, Samples
    from benchmarks._targets import check_targets

    def row(scenario: str, floor: float, mine: float, **peers: float) -> Row:
        samples = [
            Samples("floor", 10, {"us_per_call": (floor,)}),
            Samples("asyncactors", 10, {"us_per_call": (mine,)}),
            *(Samples(p, 10, {"us_per_call": (v,)}) for p, v in peers.items()),
        ]
        return Row(scenario, "asyncio", 1, tuple(samples))

    def create_row(floor: float, mine: float) -> Row:
        samples = (
            Samples("floor", 10, {"us_per_actor": (floor,)}),
            Samples("asyncactors", 10, {"us_per_actor": (mine,)}),
        )
        return Row("create", "asyncio", 1, samples)

    checks = check_targets(
        [
            row("seq_sync", 10.0, 10.5, xoscar=40.0, ray=2000.0),
            row("pipelined", 4.0, 3.9),
            row("io_c10", 10.0, 14.0),
            row("io_c100", 10.0, 16.0),
            create_row(20.0, 7.0),
        ]
    )
    verdicts = {(c.target, c.where): c.met for c in checks}
    assert verdicts[("calls at most the floor", "seq_sync/asyncio")] is False  # 1.05x
    assert verdicts[("calls at most the floor", "pipelined/asyncio")] is True  # 0.98x
    assert verdicts[("faster than xoscar", "seq_sync/asyncio")] is False  # 3.8x < 5x
    assert verdicts[("faster than ray", "seq_sync/asyncio")] is True  # 190x
    assert verdicts[("IO-bound time vs gather", "io_c10/asyncio")] is True  # 1.4x
    assert verdicts[("IO-bound time vs gather", "io_c100/asyncio")] is False  # 1.6x
    assert verdicts[("creation", "create/asyncio")] is False  # 0.35x > 0.3x


def test_progress_display_off_a_terminal_prints_one_line_per_step(bench: ModuleType) -> None:
    from benchmarks._progress import ProgressDisplay

    stream = io.StringIO()
    display = ProgressDisplay(4, stream=stream)
    display.step("first")
    display.note("a note")
    display.skip(2)
    display.step("second")
    display.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert "1/4" in lines[0]
    assert "first" in lines[0]
    assert lines[1] == "a note"
    assert "2/2" in lines[2]
    assert "100%" in lines[2]


def test_asyncactors_on_ray_is_checked_against_rays_async_actors(bench: ModuleType) -> None:
    """asyncactors on Ray is held to 1.1x of Ray's async actors per call and 1.2x
    per created actor; its ratio to Ray's threaded actors is reported for sync classes."""
    from benchmarks._runner import Row, Samples
    from benchmarks._targets import check_targets

    def row(scenario: str, key: str, **systems: float) -> Row:
        samples = [Samples("floor", 10, {key: (1.0,)})]
        samples += [Samples(name, 10, {key: (v,)}) for name, v in systems.items()]
        return Row(scenario, "asyncio", 1, tuple(samples))

    checks = check_targets(
        [
            row("seq_sync", "us_per_call", ray=900.0, ray_async=1000.0, asyncactors_ray=1090.0),
            row("pipelined", "us_per_call", ray=200.0, ray_async=500.0, asyncactors_ray=560.0),
            row("create", "us_per_actor", ray_async=400.0, asyncactors_ray=470.0),
        ]
    )
    found = {(c.target, c.where): (c.met, c.measured) for c in checks}
    assert found[("on Ray vs Ray async actors", "seq_sync/asyncio")] == (True, "1.09x")
    assert found[("on Ray vs Ray async actors", "pipelined/asyncio")] == (False, "1.12x")
    assert found[("on Ray vs Ray async actors", "create/asyncio")] == (True, "1.18x")
    assert found[("on Ray vs Ray threaded actors (reported)", "seq_sync/asyncio")][1] == "1.21x"
    assert ("on Ray vs Ray threaded actors (reported)", "create/asyncio") not in found


def test_ray_compat_compiles_asyncactors_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks.ray_compat writes asyncactors' bytecode before its runs, so that
    'import to first result' does not include compiling the package."""
    import importlib.util

    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks import ray_compat

    pyc = Path(importlib.util.cache_from_source(str(REPO / "asyncactors" / "_types.py")))
    pyc.unlink(missing_ok=True)
    assert ray_compat.compile_package()
    assert pyc.is_file()


def test_ray_compat_quick_run_without_real_ray(tmp_path: Path) -> None:
    """python -m benchmarks.ray_compat --quick --systems compat,floor reports every metric,
    the floor's import to first result and compat's own part beyond it."""
    out = tmp_path / "ray.json"
    proc = _run("benchmarks.ray_compat", "--quick", "--systems", "compat,floor", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    for metric in ("import_to_first", "seq_sync", "pipelined", "tasks", "arg_1kb"):
        assert metric in proc.stdout
    assert "1 KB argument" in proc.stdout
    data = json.loads(out.read_text(encoding="utf-8"))
    medians = data["medians"]["compat"]
    assert all(math.isfinite(v) and v > 0 for v in medians.values())
    assert "goals" not in data  # no real Ray to compare with
    assert "floor (import asyncio" in proc.stdout
    floor = data["floor_import_to_first"]
    assert 0 < floor < medians["import_to_first"]
    assert data["compat_beyond_floor"] == pytest.approx(medians["import_to_first"] - floor)


def test_icount_workloads_run_every_scenario_on_both_systems(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each instruction-count workload runs to the end and checks its calls, on the floor
    and on asyncactors (its valgrind runs would take minutes; the workload is what can break)."""
    import asyncio

    from benchmarks import _icount_workload, _workload

    monkeypatch.setattr(_workload.IOService, "incr", _icount_workload.io_incr)
    for scenario in _icount_workload.SCENARIO_NAMES:
        for system in ("floor", "asyncactors"):
            asyncio.run(_icount_workload.run(scenario, system, 20, teardown=True))


def test_icount_is_the_per_unit_difference_of_two_sizes(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Instructions per unit: (I(large) - I(small)) / (large - small), setup cancelled out."""
    from benchmarks import icount

    monkeypatch.setattr(icount, "_instructions", lambda sc, sy, lo, n, path, keep: 7 * n + 500)
    result = icount.count("seq_sync", "asyncactors", "asyncio")
    assert result.per_unit == 7.0
    assert (result.scenario, result.loop, result.system) == ("seq_sync", "asyncio", "asyncactors")


def test_batch_net_scenario_runs_on_the_floor_and_asyncactors(bench: ModuleType) -> None:
    """The batch_net scenario serves every item through the model server, batched and
    not, on both core systems (each run checks the items served)."""
    import asyncio
    import dataclasses

    from benchmarks._scenarios import SCENARIOS, BatchScenario
    from benchmarks._systems import core_systems

    base = SCENARIOS["batch_net"]
    assert isinstance(base, BatchScenario)
    assert base.network
    scenario = dataclasses.replace(base, latency_s=0.001)
    assert scenario.group == "batch"
    for system in core_systems().values():
        result = scenario.run(system, asyncio.new_event_loop, 300)
        assert set(result) == {m.key for m in scenario.metrics}
        assert all(v > 0 for v in result.values())


@pytest.fixture
def started_servers(bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every model server process model_server() starts, to inspect after the block."""
    procs: list[Any] = []
    popen = subprocess.Popen

    def recording_popen(*args: Any, **kwargs: Any) -> Any:
        proc = popen(*args, **kwargs)
        procs.append(proc)
        return proc

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    return procs


def test_model_server_replies_to_a_burst_after_its_latency(started_servers: list[Any]) -> None:
    """Each of 4 requests sent at once gets its items plus one, no sooner than the
    latency after it was sent and not much later."""
    import socket
    import time
    from array import array

    from benchmarks._modelserver import HEADER, ITEM, model_server

    latency = 0.02
    with (
        model_server(latency) as addr,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
    ):
        sock.settimeout(5)
        sock.connect(addr)
        sent = {}
        for rid in range(4):
            sent[rid] = time.monotonic()
            sock.send(HEADER.pack(rid) + array(ITEM, [rid, 10 * rid]).tobytes())
        for _ in range(4):
            reply = sock.recv(1024)
            (rid,) = HEADER.unpack_from(reply)
            elapsed = time.monotonic() - sent[rid]
            assert array(ITEM, reply[HEADER.size :]).tolist() == [rid + 1, 10 * rid + 1]
            assert latency <= elapsed < latency + 0.1
            del sent[rid]
    assert not sent


def test_model_server_process_is_reaped_after_the_block_even_on_error(
    started_servers: list[Any],
) -> None:
    """Leaving model_server(), normally or by an exception, stops the server (it exits
    by itself once its stdin closes) and reaps it: no process or zombie is left."""
    from benchmarks._modelserver import model_server

    with model_server(0.001):
        pass
    with pytest.raises(KeyError), model_server(0.001):
        raise KeyError("boom")
    assert len(started_servers) == 2
    assert [proc.returncode for proc in started_servers] == [0, 0]


def test_model_client_request_fails_with_timeout_error_when_no_reply_comes(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request whose reply never comes (a lost datagram) fails with TimeoutError after
    REQUEST_TIMEOUT_S instead of hanging the run, and is forgotten by the client."""
    import asyncio
    import socket

    from benchmarks import _workload

    monkeypatch.setattr(_workload, "REQUEST_TIMEOUT_S", 0.05)

    async def main() -> None:
        # A bound socket that never answers: the datagram is received and ignored.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
            silent.bind(("127.0.0.1", 0))
            client = await _workload.ModelClient.connect(silent.getsockname())
            try:
                with pytest.raises(TimeoutError, match="no reply to request 0"):
                    await asyncio.wait_for(client.request([1, 2]), 5)
                assert client._pending == {}
            finally:
                client.close()

    asyncio.run(main())
