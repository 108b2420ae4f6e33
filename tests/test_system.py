"""ActorSystem: scoping, list_actors, and shutdown that loses no call and leaves no task."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

import asyncactors
from asyncactors import ActorDiedError, ActorState, ActorSystem

from .conftest import pending_tasks


@asyncactors.remote
class Sleeper:
    def __init__(self) -> None:
        self.finished = 0

    async def nap(self, s: float) -> str:
        await asyncio.sleep(s)
        self.finished += 1
        return "rested"

    def count(self) -> int:
        return self.finished


async def test_shutdown_lets_running_and_queued_calls_finish() -> None:
    """Without a timeout, shutdown waits for running and queued calls and refuses new ones."""
    system = ActorSystem()
    async with system:
        s = Sleeper.options(max_concurrency=1).remote()
        refs = [s.nap.remote(0.01) for _ in range(3)]
        shutting = asyncio.ensure_future(system.shutdown())
        await asyncio.sleep(0)
        with pytest.raises(ActorDiedError, match="shut down"):
            await s.count.remote()
        await shutting
        assert [r.done() for r in refs] == [True, True, True]
        assert await asyncactors.get(refs) == ["rested"] * 3
    with pytest.raises(ActorDiedError, match="shut down"):
        await s.count.remote()


async def test_shutdown_timeout_cancels_and_fails_what_is_left() -> None:
    """After the timeout, running and queued calls fail with ActorDiedError; nothing is pending."""
    destroyed: list[str] = []

    class Stuck:
        async def forever(self) -> None:
            await asyncio.Event().wait()

        def never(self) -> None: ...

        def __pre_destroy__(self) -> None:
            destroyed.append("stuck")

    system = ActorSystem()
    async with system:
        s = asyncactors.remote(max_concurrency=1)(Stuck).remote()
        running = s.forever.remote()
        queued = s.never.remote()
        await asyncio.sleep(0.01)
        await system.shutdown(timeout=0.05)
        for ref in (running, queued):
            with pytest.raises(ActorDiedError, match="shutdown timeout"):
                await ref
        assert destroyed == ["stuck"]
        assert pending_tasks() == set()


async def test_no_task_left_after_shutdown() -> None:
    """After shutdown no asyncio task other than the caller's is pending."""
    before = pending_tasks()
    async with ActorSystem():
        actors = [Sleeper.remote() for _ in range(20)]
        for a in actors:
            a.nap.remote(0.001)
            a.nap.remote(10)
        await asyncio.sleep(0.01)
        assert len(pending_tasks()) > len(before)
        async with asyncio.timeout(5):
            await asyncactors._system.default_system().shutdown(timeout=0.01)
    assert pending_tasks() == before


async def test_exception_in_block_cancels_calls_at_once() -> None:
    """Leaving the block by an exception does not wait for running calls."""
    refs = []

    async def body() -> None:
        async with asyncio.timeout(5), ActorSystem():
            refs.append(Sleeper.remote().nap.remote(60))
            raise LookupError("abort")

    with pytest.raises(LookupError, match="abort"):
        await body()
    with pytest.raises(ActorDiedError, match="shutdown timeout"):
        await refs[0]


async def test_creating_in_a_shut_down_system_raises() -> None:
    """Cls.remote() inside the block after an explicit shutdown raises RuntimeError."""
    async with ActorSystem() as system:
        await system.shutdown()
        assert system.closed
        with pytest.raises(RuntimeError, match="has been shut down"):
            Sleeper.remote()
        await system.shutdown()  # idempotent


async def test_list_actors_reports_state_and_counters() -> None:
    """list_actors() gives id, class, name, state, depth, capacity, peak and call counters."""
    async with ActorSystem(namespace="obs") as system:
        s = Sleeper.options(name="watched", mailbox_size=8, max_concurrency=1).remote()
        await s
        [s.nap.remote(0) for _ in range(5)]
        await s.count.remote()

        class Bad:
            def m(self) -> None:
                raise ValueError("bad")

        b = asyncactors.remote(Bad).remote()
        with pytest.raises(ValueError, match="bad"):
            await b.m.remote()
        infos = {i.class_name: i for i in system.list_actors()}
        w = infos["Sleeper"]
        assert (w.actor_id, w.name, w.namespace) == (s._core.actor_id, "watched", "obs")
        assert w.state is ActorState.ALIVE
        assert (w.mailbox_depth, w.mailbox_capacity) == (0, 8)
        assert 1 <= w.peak_depth <= 8
        assert (w.calls_processed, w.calls_failed, w.running) == (6, 0, 0)
        assert (infos["Bad"].calls_processed, infos["Bad"].calls_failed) == (1, 1)
        asyncactors.kill(b)
        assert {i.class_name: i.state for i in system.list_actors()}["Bad"] is ActorState.DEAD


async def test_pending_creation_state_is_reported() -> None:
    """An actor whose __post_create__ is still running is PENDING_CREATION."""
    gate = asyncio.Event()

    class Slow:
        async def __post_create__(self) -> None:
            await gate.wait()

    async with ActorSystem() as system:
        h = asyncactors.remote(Slow).remote()
        await asyncio.sleep(0.01)
        assert system.list_actors()[0].state is ActorState.PENDING_CREATION
        gate.set()
        await h
        assert system.list_actors()[0].state is ActorState.ALIVE


async def test_actors_created_inside_actors_join_the_same_system() -> None:
    """Cls.remote() inside a method uses the actor's system, not a loop default."""

    class Parent:
        async def spawn(self) -> Any:
            child = Sleeper.remote()
            await child
            return child._core.host.system

    async with ActorSystem() as system:
        p = asyncactors.remote(Parent).remote()
        assert await p.spawn.remote() is system


@pytest.fixture
async def system_fixture() -> AsyncIterator[ActorSystem]:
    async with ActorSystem() as system:
        yield system


async def test_system_works_as_async_fixture(system_fixture: ActorSystem) -> None:
    """An ActorSystem entered and exited in a pytest-asyncio fixture (two tasks) works."""
    s = Sleeper.remote()
    assert await s.nap.remote(0) == "rested"
    assert s._core.host.system is system_fixture


def test_the_host_reads_the_running_thread_off_asyncios_own_loops_only() -> None:
    """The host takes a loop's ``_thread_id`` for the thread running it only where that
    field means it: asyncio's own loops, not one whose is_running() says otherwise, nor
    uvloop's, which have none (those ask is_running())."""
    from asyncactors._system import _marking_loop

    class Custom(asyncio.SelectorEventLoop):
        def is_running(self) -> bool:  # some other loop's own idea of it
            return super().is_running()

    uvloop = pytest.importorskip("uvloop")
    loops: list[asyncio.AbstractEventLoop] = [asyncio.new_event_loop(), Custom()]
    loops.append(uvloop.new_event_loop())
    try:
        assert [_marking_loop(loop) for loop in loops] == [loops[0], None, None]
    finally:
        for loop in loops:
            loop.close()


def test_on_loop_is_true_on_the_running_loop_only() -> None:
    """An actor's on_loop(): true on its running loop, false in another thread, and false
    on the loop's own thread while that loop is stopped and another one runs there."""
    home = asyncio.new_event_loop()
    other = asyncio.new_event_loop()
    system = ActorSystem()

    async def start() -> Any:
        await system.__aenter__()
        core = Sleeper.remote()._core
        assert core.on_loop()
        assert not await asyncio.to_thread(core.on_loop)
        return core

    async def asked(core: Any) -> bool:
        return bool(core.on_loop())

    try:
        core = home.run_until_complete(start())
        assert not other.run_until_complete(asked(core))
        assert home.run_until_complete(asked(core))
        home.run_until_complete(system.__aexit__(None, None, None))
    finally:
        home.close()
        other.close()


async def test_uvloop_runs_actors() -> None:
    """The runtime works unchanged on uvloop (the host picks the loop, not asyncactors)."""
    uvloop = pytest.importorskip("uvloop")

    async def main() -> list[str]:
        async with ActorSystem():
            s = Sleeper.remote()
            return await asyncactors.get([s.nap.remote(0) for _ in range(3)])

    def run() -> list[str]:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main())

    assert await asyncio.to_thread(run) == ["rested"] * 3


@asyncactors.remote(max_concurrency=1)
class _Stuck:
    async def forever(self) -> None:
        await asyncio.Event().wait()

    def never(self) -> None: ...


@pytest.mark.parametrize(("timeout", "summary_level"), [(0, logging.INFO), (0.02, logging.WARNING)])
async def test_calls_a_shutdown_cut_off_are_summed_up_once_not_logged_each_as_a_warning(
    caplog: pytest.LogCaptureFixture, timeout: float, summary_level: int
) -> None:
    """Calls the shutdown timeout cut off that nobody awaits are logged at DEBUG only;
    one line sums them up: a warning if they outlasted a grace, info with timeout=0."""
    gc.collect()  # an earlier test's unawaited refs are logged now, not below
    caplog.set_level(logging.DEBUG, logger="asyncactors")
    system = ActorSystem()
    async with system:
        s = _Stuck.remote()
        s.forever.remote()  # dropped: nobody awaits them
        s.never.remote()
        await asyncio.sleep(0.01)
        await system.shutdown(timeout=timeout)
    gc.collect()
    unawaited = [
        r
        for r in caplog.records
        if "nobody awaited" in r.getMessage() and "_Stuck" in r.getMessage()
    ]
    assert len(unawaited) == 2
    assert {r.levelno for r in unawaited} == {logging.DEBUG}
    summary = [r for r in caplog.records if "shutdown timeout" in r.getMessage()]
    assert [r.levelno for r in summary] == [summary_level]
    assert "2 call(s) unfinished in actor _Stuck(id=" in summary[0].getMessage()


async def test_a_call_refused_during_shutdown_is_a_shutdown_casualty() -> None:
    """A call sent while the system shuts down fails with ActorDiedError(by_shutdown=True);
    one a crash failed is not marked so."""
    system = ActorSystem()
    async with system:
        s = Sleeper.remote()
        napping = s.nap.remote(0.01)
        shutting = asyncio.ensure_future(system.shutdown())
        await asyncio.sleep(0)
        with pytest.raises(ActorDiedError, match="being shut down") as e:
            await s.count.remote()
        assert e.value.by_shutdown
        await shutting
        assert await napping == "rested"
    async with ActorSystem():
        s = Sleeper.remote()
        asyncactors.kill(s)
        with pytest.raises(ActorDiedError) as e:
            await s.count.remote()
        assert not e.value.by_shutdown
