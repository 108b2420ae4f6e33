"""The watchdog's monitor: the C ``_speedups.Pulse`` and its Python twin ``_ThreadPulse``
keep one contract, checked here on both."""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncactors import _watchdog
from asyncactors._ref import ACCELERATED

from ._loop import native_id_of, thread_gone, until

ROOT = Path(__file__).resolve().parent.parent

# Generous: a loaded machine must not make beats every BEAT_S look stale.
POLL_S = 0.01
STALE_S = 0.25
BEAT_S = 0.01


def _c_pulse() -> Any:
    if not ACCELERATED:
        pytest.skip("the C extension is not in use here")
    from asyncactors import _speedups

    pulse = getattr(_speedups, "Pulse", None)
    if pulse is None:
        pytest.skip("no C monitor on this platform")
    return pulse()


@pytest.fixture(params=["c", "python"])
def new_pulse(request: pytest.FixtureRequest) -> Iterator[Callable[[], Any]]:
    """Makes a monitor of one kind; each one made is stopped after the test."""
    made: list[Any] = []

    def make() -> Any:
        pulse = _c_pulse() if request.param == "c" else _watchdog._ThreadPulse("test-pulse")
        made.append(pulse)
        return pulse

    yield make
    for pulse in made:
        pulse.stop()


class Calls:
    """An on_stale that counts its calls, answers ``go_on`` and sets ``called``."""

    def __init__(self, go_on: bool = True) -> None:
        self.n = 0
        self.go_on = go_on
        self.called = threading.Event()

    def __call__(self) -> bool:
        self.n += 1
        self.called.set()
        return self.go_on


def _beat_for(pulse: Any, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pulse.beat()
        time.sleep(BEAT_S)


def test_no_call_while_the_beats_come(new_pulse: Callable[[], Any]) -> None:
    """While beats come more often than stale_s, on_stale is never called."""
    pulse = new_pulse()
    calls = Calls()
    pulse.start(POLL_S, STALE_S, calls)
    assert pulse.running
    _beat_for(pulse, 2 * STALE_S)
    assert calls.n == 0


def test_calls_once_the_beats_stop_and_again_until_one_comes(
    new_pulse: Callable[[], Any],
) -> None:
    """Once no beat has come for stale_s, on_stale is called at each poll, until a beat."""
    pulse = new_pulse()
    calls = Calls()
    began = time.monotonic()
    pulse.start(POLL_S, STALE_S, calls)
    assert calls.called.wait(5)
    assert time.monotonic() - began >= STALE_S
    until(lambda: calls.n >= 3)
    assert calls.n >= 3
    pulse.beat()
    time.sleep(2 * POLL_S)  # the monitor has seen the beat
    seen = calls.n
    _beat_for(pulse, STALE_S / 2)
    assert calls.n <= seen + 1  # at most a poll that was under way
    assert pulse.running


def test_on_stale_answering_false_stops_the_monitor(new_pulse: Callable[[], Any]) -> None:
    """on_stale() returning false ends the monitor: no more calls, and it is not running."""
    pulse = new_pulse()
    calls = Calls(go_on=False)
    pulse.start(POLL_S, STALE_S / 5, calls)
    assert calls.called.wait(5)
    until(lambda: not pulse.running)
    assert not pulse.running
    time.sleep(5 * POLL_S)
    assert calls.n == 1


def test_stop_ends_the_thread_and_the_calls(new_pulse: Callable[[], Any]) -> None:
    """stop() waits for the monitor to end; no call comes after it; a second stop() and a
    stop() before start() do nothing."""
    new_pulse().stop()
    pulse = new_pulse()
    calls = Calls()
    pulse.start(POLL_S, STALE_S / 5, calls)
    assert calls.called.wait(5)
    pulse.stop()
    assert not pulse.running
    seen = calls.n
    time.sleep(5 * POLL_S)
    assert calls.n == seen
    pulse.stop()


def test_stop_from_on_stale_itself(new_pulse: Callable[[], Any]) -> None:
    """on_stale() may stop its own monitor (the system shuts down from the monitor's call)."""
    pulse = new_pulse()
    done = threading.Event()

    def stop_me() -> bool:
        pulse.stop()
        done.set()
        return True

    pulse.start(POLL_S, STALE_S / 5, stop_me)
    assert done.wait(5)
    assert not pulse.running


def test_a_pulse_starts_once_with_valid_periods(new_pulse: Callable[[], Any]) -> None:
    """start() refuses periods that are not positive and finite, an on_stale that is not
    callable, and a second start."""
    pulse = new_pulse()
    for poll, stale in ((0.0, 1.0), (1.0, -1.0), (math.nan, 1.0), (1.0, math.inf)):
        with pytest.raises(ValueError, match="poll_s and stale_s must be positive"):
            pulse.start(poll, stale, Calls())
    with pytest.raises(TypeError, match="on_stale must be callable"):
        pulse.start(POLL_S, STALE_S, "not callable")
    pulse.start(POLL_S, STALE_S, Calls())
    with pytest.raises(RuntimeError, match="a Pulse starts once"):
        pulse.start(POLL_S, STALE_S, Calls())


def test_a_stopped_pulse_does_not_start(new_pulse: Callable[[], Any]) -> None:
    """start() after stop() (even a stop() before any start) raises, on both monitors."""
    pulse = new_pulse()
    pulse.stop()
    with pytest.raises(RuntimeError, match="a Pulse starts once"):
        pulse.start(POLL_S, STALE_S, Calls())
    assert not pulse.running


class _Falsy:
    """An answer whose truth cannot be told: bool() of it raises."""

    def __bool__(self) -> bool:
        raise ZeroDivisionError("in bool() of on_stale's answer")


@pytest.mark.parametrize(
    "error",
    [ZeroDivisionError, SystemExit, KeyboardInterrupt, "answer"],
    ids=["Exception", "SystemExit", "KeyboardInterrupt", "bool-of-answer"],
)
def test_an_error_in_on_stale_is_reported_and_stops_the_monitor(
    new_pulse: Callable[[], Any], monkeypatch: pytest.MonkeyPatch, error: Any
) -> None:
    """Any exception from on_stale() (a BaseException too, or from bool() of its answer)
    goes to sys.unraisablehook with on_stale as the object, and the monitor ends."""
    reported: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    pulse = new_pulse()

    def broken() -> Any:
        if error == "answer":
            return _Falsy()
        raise error("in on_stale")

    pulse.start(POLL_S, STALE_S / 5, broken)
    assert until(lambda: bool(reported) and not pulse.running)
    pulse.stop()
    (report,) = reported
    expected = ZeroDivisionError if error == "answer" else error
    assert type(report.exc_value) is expected
    assert report.exc_type is expected
    assert report.object is broken


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="looks at threads in /proc")
def test_a_dropped_c_pulse_ends_its_thread() -> None:
    """A C monitor dropped without stop() ends its thread, and never calls on_stale again."""
    pulse = _c_pulse()
    calls = Calls()
    pulse.start(POLL_S, STALE_S, calls)
    native_id = native_id_of(pulse)
    assert Path(f"/proc/self/task/{native_id}").exists()
    # No beat comes: on a loaded machine on_stale may have been called by now.
    seen = calls.n
    del pulse
    assert thread_gone(native_id)
    assert calls.n == seen


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_stops_its_copy_of_a_c_pulse_at_once() -> None:
    """In a forked child the monitor's thread does not exist: stop() there returns at once."""
    _c_pulse()  # skips where there is none
    script = """
import os, sys, time
from asyncactors import _speedups
p = _speedups.Pulse()
p.start(0.01, 10.0, lambda: True)
pid = os.fork()
if pid == 0:
    ok = not p.running
    p.stop()
    p.beat()
    os._exit(0 if ok and not p.running else 3)
_, status = os.waitpid(pid, 0)
p.stop()
sys.exit(os.waitstatus_to_exitcode(status))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, timeout=30, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="looks at threads in /proc")
def test_native_id_names_the_monitor_thread(new_pulse: Callable[[], Any]) -> None:
    """native_id is None before start(), then the native id of a thread of its own, which is
    gone after stop()."""
    pulse = new_pulse()
    assert pulse.native_id is None
    pulse.start(POLL_S, STALE_S, Calls())
    native_id_of(pulse)
    assert isinstance(pulse.native_id, int)
    assert pulse.native_id != threading.get_native_id()
    assert Path(f"/proc/self/task/{pulse.native_id}").exists()
    pulse.stop()
    assert thread_gone(pulse.native_id)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Py_AtExit(getchar) via ctypes")
def test_a_c_pulse_still_referenced_after_interpreter_exit_does_not_crash() -> None:
    """A C monitor whose Pulse outlives finalization (as one a daemon thread's frames keep does)
    stops when its beats stop there, instead of taking the GIL of a finalized interpreter."""
    _c_pulse()  # skips where there is none
    # The beats stop when the interpreter finalizes; the process then waits in a C
    # atexit function (getchar, until the test writes a line), as a slow one would.
    script = """
import ctypes, threading, time
from asyncactors import _speedups
p = _speedups.Pulse()
ctypes.pythonapi.Py_IncRef(ctypes.py_object(p))
ctypes.pythonapi.Py_AtExit(ctypes.cast(ctypes.CDLL(None).getchar, ctypes.c_void_p))
def beat():
    while True:
        p.beat()
        time.sleep(0.001)
threading.Thread(target=beat, daemon=True).start()
p.start(0.005, 0.1, lambda: True)
print("exiting", flush=True)
"""
    with subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "exiting\n"
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0.5)  # the monitor finds no beat 0.1 s after finalization
        if proc.returncode is None:
            proc.communicate("\n", timeout=30)
    assert proc.returncode == 0, proc.returncode


def test_a_legacy_sub_interpreter_runs_a_system_with_the_python_monitor() -> None:
    """In a (non-isolated) sub-interpreter that imports the C extension first, an actor
    system starts, its watchdog on the Python monitor (PyGILState serves the main one only)."""
    body = """
import asyncio, asyncactors
from asyncactors._ref import ACCELERATED
async def main():
    async with asyncactors.ActorSystem() as system:
        print(ACCELERATED, type(system._watchdog._pulse).__name__)
asyncio.run(main())
"""
    if importlib.util.find_spec("_interpreters") is not None:
        # Python 3.13 renamed the module; its run_string returns a failure, not raises it.
        script = f"""
import _interpreters as si
interp = si.create("legacy")
failed = si.run_string(interp, {body!r})
si.destroy(interp)
if failed is not None:
    raise SystemExit(f"the sub-interpreter failed: {{failed}}")
"""
    elif importlib.util.find_spec("_xxsubinterpreters") is not None:
        script = f"""
import _xxsubinterpreters as si
try:
    interp = si.create(isolated=False)
except TypeError:
    raise SystemExit(77)
si.run_string(interp, {body!r})
"""
    else:
        pytest.skip("no sub-interpreter module here")
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, timeout=30, capture_output=True, text=True
    )
    if done.returncode == 77:
        pytest.skip("no legacy sub-interpreters here")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(ACCELERATED), "_ThreadPulse"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forks_while_c_monitors_call_on_stale_do_not_hang_the_child() -> None:
    """A monitor taking the GIL (its beats stopped) holds no lock of the runtime's that a fork
    leaves held in the child. It made a thread state per call without the GIL: about one run
    in two of this test hung a child in PyOS_AfterFork_Child."""
    _c_pulse()  # skips where there is none
    script = """
import os, sys, time
from asyncactors import _speedups
pulses = []
for _ in range(32):
    p = _speedups.Pulse()
    p.start(0.0001, 0.0001, lambda: True)  # no beat: each takes the GIL at each poll
    pulses.append(p)
for _ in range(200):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    deadline = time.monotonic() + 5
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            sys.exit("a forked child hung")
        time.sleep(0.0005)
for p in pulses:
    p.stop()
"""
    done = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", script],
        cwd=ROOT,
        timeout=60,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
