"""The watchdog: methods holding the event loop are logged once each; stuck_calls() lists
long-running calls with their age and stack; its monitor ends with its system.

Each test runs with the C monitor (``_speedups.Pulse``, where built) and with its Python
twin (``_ThreadPulse``); tests/test_pulse.py checks the monitors themselves.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
import weakref

import pytest

import asyncactors
from asyncactors import ActorSystem, StuckCall, _system, _watchdog
from asyncactors._ref import ACCELERATED

from ._loop import monitor_thread_alive, monitor_thread_gone, until

# Short, so that the tests are quick; the blocks below last several times longer.
THRESHOLD = 0.04
BLOCK = 0.2


@asyncactors.remote
class Blocker:
    def __init__(self) -> None:
        self.gate = asyncio.Event()

    def hold(self, s: float) -> str:
        time.sleep(s)
        return "held"

    def hold_too(self, s: float) -> str:
        time.sleep(s)
        return "held"

    async def hold_async(self, s: float) -> str:
        time.sleep(s)  # noqa: ASYNC251 - the blocking call under test
        return "held"

    async def hang(self) -> str:
        await self.gate.wait()
        return "released"

    @asyncactors.method(run_in_thread=True)
    def hang_in_thread(self, flag: threading.Event) -> str:
        flag.wait(5)
        return "released"

    def hold_until(self, flag: threading.Event) -> str:
        flag.wait(5)
        return "held"

    def quick(self) -> int:
        return 1


def _blocks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "has held the event loop" in r.getMessage()]


@pytest.fixture(autouse=True, params=["c", "python"])
def pulse_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The monitor the systems of the test use: the C one or its Python twin."""
    kind: str = request.param
    if kind == "c":
        if not ACCELERATED:
            pytest.skip("the C extension is not in use here")
    else:
        monkeypatch.setattr(_watchdog, "_new_pulse", _watchdog._ThreadPulse)
    return kind


async def test_a_sync_method_holding_the_loop_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A sync method holding the loop past block_warning_s is logged with its class, method,
    actor, time and the line it is on, once per method."""
    with caplog.at_level(logging.WARNING, logger="asyncactors"):
        async with ActorSystem(block_warning_s=THRESHOLD) as system:
            b = Blocker.options(name="slowpoke").remote()
            assert await b.hold.remote(BLOCK) == "held"
            assert await b.hold.remote(BLOCK) == "held"
            assert await b.hold_too.remote(BLOCK) == "held"
            assert system.statistics().loop_blocks == 3
            watchdog = system._watchdog
            assert watchdog is not None
            # What the dashboard shows: each block as long as it lasted, to within a tick.
            blocks = list(watchdog.recent)
            assert [b.method for b in blocks] == ["hold", "hold", "hold_too"]
            assert all(BLOCK / 2 <= b.held_s <= BLOCK + THRESHOLD for b in blocks)
    messages = _blocks(caplog)
    assert len(messages) == 2, messages
    first, second = messages
    assert first.startswith("Blocker.hold() has held the event loop for ")
    assert "actor Blocker(id=" in first
    assert "name='slowpoke'" in first
    assert f"block_warning_s={THRESHOLD:g}" in first
    held = float(first.split(" for ")[1].split(" s ")[0])
    assert THRESHOLD <= held < BLOCK + 0.1
    assert "in hold\n    time.sleep(s)" in first
    assert second.startswith("Blocker.hold_too() has held the event loop")


async def test_an_async_method_holding_the_loop_is_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An async method that blocks (no await) is found through its worker task."""
    with caplog.at_level(logging.WARNING, logger="asyncactors"):
        async with ActorSystem(block_warning_s=THRESHOLD):
            b = Blocker.remote()
            assert await b.hold_async.remote(BLOCK) == "held"
    (message,) = _blocks(caplog)
    assert message.startswith("Blocker.hold_async() has held the event loop")
    assert "in hold_async\n    time.sleep(s)" in message


async def test_quick_calls_and_code_outside_actors_are_not_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Calls quicker than the threshold are not reported, nor a block outside any actor."""
    with caplog.at_level(logging.WARNING, logger="asyncactors"):
        async with ActorSystem(block_warning_s=THRESHOLD) as system:
            b = Blocker.remote()
            for _ in range(200):
                await b.quick.remote()
            await b.hold.remote(THRESHOLD / 8)
            time.sleep(BLOCK)  # noqa: ASYNC251 - the test's own code, not an actor's
            await asyncio.sleep(THRESHOLD)
            assert system.statistics().loop_blocks == 0
    assert _blocks(caplog) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="looks at threads in /proc")
async def test_the_watchdog_monitor_ends_with_its_system(pulse_kind: str) -> None:
    """One monitor runs per started system, on a thread of its own, and its thread is gone
    after shutdown."""
    system = ActorSystem()
    assert system._watchdog is None  # not started yet
    async with system, ActorSystem() as other:
        await Blocker.remote().quick.remote()
        watchdogs = [w for w in (system._watchdog, other._watchdog) if w is not None]
        assert len(watchdogs) == 2
        assert all(w.running and monitor_thread_alive(w) for w in watchdogs)
        assert watchdogs[0]._pulse.native_id != watchdogs[1]._pulse.native_id
        kinds = {type(w._pulse).__name__ for w in watchdogs}
        assert kinds == ({"Pulse"} if pulse_kind == "c" else {"_ThreadPulse"})
    assert not any(w.running for w in watchdogs)
    assert all(monitor_thread_gone(w) for w in watchdogs)


async def test_no_watchdog_when_turned_off(caplog: pytest.LogCaptureFixture) -> None:
    """block_warning_s=None: no thread, no report, and stuck_calls() says why it cannot answer."""
    with caplog.at_level(logging.WARNING, logger="asyncactors"):
        async with ActorSystem(block_warning_s=None) as system:
            b = Blocker.remote()
            await b.hold.remote(BLOCK)
            assert system._watchdog is None
            with pytest.raises(RuntimeError, match=r"watchdog is off \(block_warning_s=None\)"):
                system.stuck_calls()
    assert _blocks(caplog) == []


async def test_stuck_calls_need_a_started_system() -> None:
    """stuck_calls() before the system has started raises, and refuses a negative age."""
    system = ActorSystem()
    with pytest.raises(RuntimeError, match="has not started"):
        system.stuck_calls()
    async with system:
        with pytest.raises(ValueError, match="older_than_s must be >= 0"):
            system.stuck_calls(-1)


async def _until_stuck(system: ActorSystem, older_than_s: float) -> list[StuckCall]:
    for _ in range(200):
        stuck = system.stuck_calls(older_than_s)
        if stuck:
            return stuck
        await asyncio.sleep(THRESHOLD / 4)
    raise AssertionError("no stuck call was reported")


async def test_stuck_calls_lists_a_hanging_async_call_with_its_age_and_stack() -> None:
    """A call awaiting for long is listed with its actor, method, age and the line it waits on;
    quick calls are not, and a finished call is gone."""
    async with ActorSystem(block_warning_s=THRESHOLD) as system:
        b = Blocker.options(name="hanger").remote()
        ref = b.hang.remote()
        await b.quick.remote()
        began = time.monotonic()
        (stuck,) = await _until_stuck(system, 3 * THRESHOLD)
        assert (stuck.class_name, stuck.name, stuck.method, stuck.kind) == (
            "Blocker",
            "hanger",
            "hang",
            "async",
        )
        assert stuck.actor_id == b._core.actor_id
        assert 3 * THRESHOLD <= stuck.age_s <= time.monotonic() - began + 2 * THRESHOLD
        assert "in hang\n    await self.gate.wait()" in stuck.stack[0]
        assert system.stuck_calls(60) == []
        b._core.instance.gate.set()
        assert await ref == "released"
        assert system.stuck_calls(0) == []


async def test_stuck_calls_show_a_thread_methods_own_stack() -> None:
    """A run_in_thread call is listed with the stack of the thread running it."""
    flag = threading.Event()
    async with ActorSystem(block_warning_s=THRESHOLD) as system:
        b = Blocker.remote()
        ref = b.hang_in_thread.remote(flag)
        try:
            (stuck,) = await _until_stuck(system, 2 * THRESHOLD)
            assert (stuck.method, stuck.kind) == ("hang_in_thread", "thread")
            assert "in hang_in_thread\n    flag.wait(5)" in stuck.stack[0]
        finally:
            flag.set()
        assert await ref == "released"


async def test_stuck_calls_from_another_thread_see_a_sync_method_holding_the_loop() -> None:
    """Asked from another thread while a sync method holds the loop, stuck_calls() lists it."""
    seen: list[list[StuckCall]] = []
    flag = threading.Event()

    def ask() -> None:
        try:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                found = system.stuck_calls(THRESHOLD)
                if found:
                    seen.append(found)
                    return
                time.sleep(THRESHOLD / 4)
        finally:
            flag.set()

    async with ActorSystem(block_warning_s=THRESHOLD) as system:
        b = Blocker.remote()
        await b
        asker = threading.Thread(target=ask)
        asker.start()
        assert await b.hold_until.remote(flag) == "held"  # holds the loop until asked
        asker.join()
    assert seen, "the blocking call was not listed"
    (stuck,) = seen[0]
    assert (stuck.class_name, stuck.method, stuck.kind) == ("Blocker", "hold_until", "sync")
    assert stuck.age_s >= THRESHOLD
    assert "in hold_until\n    flag.wait(5)" in stuck.stack[0]


class Payload:
    """An actor's constructor argument, which its core keeps (for restarts) until freed."""


@asyncactors.remote
class Holder:
    def __init__(self, payload: Payload) -> None:
        pass

    def quick(self) -> int:
        return 1


async def test_a_round_of_samples_keeps_no_dead_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Actors that die while a round of samples is under way (a slice per beat) are freed
    before the round ends."""
    monkeypatch.setattr(_system, "_GRAVEYARD_SIZE", 0)  # it keeps the last dead actors
    monkeypatch.setattr(_watchdog, "_SAMPLE_SLICE", 2)
    async with ActorSystem(block_warning_s=60) as system:  # no beat during the test
        watchdog = system._watchdog
        assert watchdog is not None
        await asyncio.sleep(0)  # the first beat, on an empty registry
        payloads = [Payload() for _ in range(5)]
        alive = [weakref.ref(p) for p in payloads]
        handles = [Holder.remote(p) for p in payloads]
        del payloads
        assert await asyncio.gather(*(h.quick.remote() for h in handles)) == [1] * 5
        watchdog._sample(time.monotonic())
        assert watchdog._round is not None  # 2 of 5 sampled
        for h in handles:
            asyncactors.kill(h)
        del h, handles
        for _ in range(100):
            if not system._actors:
                break
            await asyncio.sleep(0.001)
        gc.collect()
        assert [r() for r in alive] == [None] * 5
        watchdog._sample(time.monotonic())  # the round goes on past the dead
        watchdog._sample(time.monotonic())
        assert watchdog._round is None


class _NoThread(_watchdog._ThreadPulse):
    """A monitor whose thread cannot start (as pthread_create failing for want of threads)."""

    def start(self, poll_s: float, stale_s: float, on_stale: object, /) -> None:
        raise OSError(11, "Resource temporarily unavailable")


def _beats(loop: asyncio.AbstractEventLoop) -> list[asyncio.Handle]:
    """The watchdog's callbacks scheduled on ``loop``, ready or timed."""
    handles: list[asyncio.Handle] = [*loop._ready, *loop._scheduled]  # type: ignore[attr-defined]
    return [
        h
        for h in handles
        if not h.cancelled()
        and isinstance(getattr(h._callback, "__self__", None), _watchdog.Watchdog)
    ]


async def test_a_monitor_that_cannot_start_leaves_no_beat(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the monitor's thread cannot start, the system fails to start with that OSError and
    the loop is left no beat scheduling itself for ever."""
    monkeypatch.setattr(_watchdog, "_new_pulse", _NoThread)
    loop = asyncio.get_running_loop()
    system = ActorSystem(block_warning_s=THRESHOLD)
    try:
        with pytest.raises(OSError, match="Resource temporarily unavailable"):
            await system.__aenter__()
        for _ in range(3):
            await asyncio.sleep(0)
        assert _beats(loop) == []
    finally:
        await system.shutdown()


async def test_a_sample_that_raises_does_not_end_the_beats(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next beat is scheduled before the sample: a sample raising (reported by the loop's
    exception handler) leaves the beats going."""
    async with ActorSystem(block_warning_s=60) as system:  # no beat during the test
        watchdog = system._watchdog
        assert watchdog is not None
        await asyncio.sleep(0)  # the first beat
        before = watchdog._timer

        def broken(now: float) -> None:
            raise ZeroDivisionError("in a sample")

        monkeypatch.setattr(watchdog, "_sample", broken)
        watchdog._next_sample = 0.0
        with pytest.raises(ZeroDivisionError):
            watchdog._beat()
        assert watchdog._timer is not None
        assert watchdog._timer is not before
        assert not watchdog._timer.cancelled()
        assert before is not None
        before.cancel()  # the beat it replaced, called by hand here


@pytest.mark.parametrize("error", [ZeroDivisionError, SystemExit])
async def test_a_failure_of_the_watchdog_is_logged_and_ends_its_monitor(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
) -> None:
    """An exception in the monitor's look at a blocked loop, SystemExit too (which the Python
    monitor's thread dropped unsaid), is logged on 'asyncactors' and ends the monitor."""
    with caplog.at_level(logging.ERROR, logger="asyncactors"):
        async with ActorSystem(block_warning_s=THRESHOLD) as system:
            watchdog = system._watchdog
            assert watchdog is not None

            def broken() -> None:
                raise error("in the watchdog")

            monkeypatch.setattr(watchdog, "_running", broken)
            flag = threading.Event()

            def release_once_the_monitor_ends() -> None:
                until(lambda: not watchdog.running)
                flag.set()

            # The loop is held until the monitor has given up (at most 5 s: a monitor
            # that goes on makes the test fail, not hang).
            hold = Blocker.remote().hold_until.remote(flag)
            releaser = threading.Thread(target=release_once_the_monitor_ends)
            releaser.start()
            assert await hold == "held"
            releaser.join()
            assert not watchdog.running
    (record,) = [r for r in caplog.records if "watchdog failed" in r.getMessage()]
    assert record.exc_info is not None
    assert record.exc_info[0] is error
