"""Module functions: get, wait, put, kill, get_actor, exit_actor, init/shutdown, runtime context."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

import pytest

import asyncactors
from asyncactors import ActorDiedError, ActorSystem, GetTimeoutError


@asyncactors.remote
class Worker:
    def __init__(self) -> None:
        self.calls = 0

    async def nap(self, s: float, value: Any = None) -> Any:
        await asyncio.sleep(s)
        return value

    def echo(self, x: Any) -> Any:
        self.calls += 1
        return x

    def quit(self) -> str:
        asyncactors.exit_actor()
        return "unreachable"

    def context(self) -> asyncactors.RuntimeContext:
        return asyncactors.get_runtime_context()


async def test_get_keeps_order_and_times_out() -> None:
    """get(list) returns values in input order; a timeout raises GetTimeoutError, calls go on."""
    async with ActorSystem():
        w = Worker.remote()
        refs = [w.nap.remote(0.03 - i * 0.01, i) for i in range(3)]
        assert await asyncactors.get(refs) == [0, 1, 2]
        slow = w.nap.remote(0.05, "late")
        with pytest.raises(GetTimeoutError, match=r"timed out after 0\.001 s"):
            await asyncactors.get(slow, timeout=0.001)
        assert await asyncactors.get(slow, timeout=5) == "late"


async def test_get_raises_first_failure_in_order() -> None:
    """get(list) raises the failure of the earliest failing ref in the list."""

    class Two:
        def bad(self, tag: str) -> None:
            raise KeyError(tag)

    async with ActorSystem():
        t = asyncactors.remote(Two).remote()
        with pytest.raises(KeyError, match="first"):
            await asyncactors.get(
                [asyncactors.put(1), t.bad.remote("first"), t.bad.remote("second")]
            )


async def test_get_passes_method_timeout_error_through() -> None:
    """A TimeoutError raised by the method itself is not mistaken for get()'s timeout."""

    class T:
        def m(self) -> None:
            raise TimeoutError("from the method")

    async with ActorSystem():
        ref = asyncactors.remote(T).remote().m.remote()
        with pytest.raises(TimeoutError, match="from the method") as e:
            await asyncactors.get(ref, timeout=5)
        assert not isinstance(e.value, GetTimeoutError)


async def test_wait_returns_ready_and_not_ready_in_input_order() -> None:
    """wait() returns (ready, not_ready) in input order, num_returns bounding ready."""
    async with ActorSystem():
        w = Worker.remote()
        fast = [w.nap.remote(0, i) for i in range(3)]
        slow = w.nap.remote(1, "slow")
        refs = [fast[0], slow, fast[1], fast[2]]
        ready, not_ready = await asyncactors.wait(refs, num_returns=2, timeout=2)
        assert ready == [fast[0], fast[1]]
        assert not_ready == [slow, fast[2]]
        await asyncactors.get(fast)  # done, however busy the machine
        ready, not_ready = await asyncactors.wait(refs, num_returns=4, timeout=0.02)
        assert ready == [fast[0], fast[1], fast[2]]
        assert not_ready == [slow]
        slow.cancel()


async def test_wait_counts_failures_as_ready() -> None:
    """A failed ref is done, so wait() reports it ready."""
    async with ActorSystem():
        ref = Worker.remote().quit.remote()
        ready, not_ready = await asyncactors.wait([ref], timeout=2)
        assert ready == [ref]
        assert not_ready == []
        with pytest.raises(ActorDiedError):
            await ref


async def test_kill_fails_running_queued_and_later_calls_and_frees_name() -> None:
    """kill(): running and queued calls and later calls raise ActorDiedError; the name is free."""
    async with ActorSystem():
        w = Worker.options(name="victim", max_concurrency=1).remote()
        running = w.nap.remote(10)
        queued = w.echo.remote(1)
        await asyncio.sleep(0.01)
        asyncactors.kill(w)
        for ref in (running, queued, w.echo.remote(2)):
            with pytest.raises(ActorDiedError, match=r"was killed by asyncactors\.kill"):
                await ref
        with pytest.raises(ValueError, match="no actor named 'victim'"):
            asyncactors.get_actor("victim")
        fresh = Worker.options(name="victim").remote()
        assert await fresh.echo.remote(3) == 3


async def test_exit_actor_stops_after_the_method() -> None:
    """exit_actor(): its caller and queued calls get ActorDiedError; __pre_destroy__ runs."""
    destroyed: list[bool] = []

    class Quitter:
        def quit(self) -> None:
            asyncactors.exit_actor()

        def echo(self, x: int) -> int:
            return x

        def __pre_destroy__(self) -> None:
            destroyed.append(True)

    async with ActorSystem() as system:
        q = asyncactors.remote(Quitter).remote()
        before = q.echo.remote(1)
        quit_ref = q.quit.remote()
        after = q.echo.remote(2)
        assert await before == 1
        with pytest.raises(ActorDiedError, match="exit_actor"):
            await quit_ref
        with pytest.raises(ActorDiedError, match="exit_actor"):
            await after
        with pytest.raises(ActorDiedError, match="exit_actor"):
            await q.echo.remote(3)
        assert destroyed == [True]
        assert system.list_actors()[0].state is asyncactors.ActorState.DEAD


async def test_exit_actor_in_async_method() -> None:
    """exit_actor() works in async methods too."""

    class AQuit:
        async def quit(self) -> None:
            await asyncio.sleep(0)
            asyncactors.exit_actor()

    async with ActorSystem():
        q = asyncactors.remote(AQuit).remote()
        with pytest.raises(ActorDiedError, match="exit_actor"):
            await q.quit.remote()
        with pytest.raises(ActorDiedError):
            await q.quit.remote()


def test_exit_actor_outside_actor_raises_type_error() -> None:
    """exit_actor() outside an actor's method raises TypeError."""
    with pytest.raises(TypeError, match="inside an actor's method"):
        asyncactors.exit_actor()


async def test_runtime_context_inside_and_outside() -> None:
    """get_runtime_context() names the actor inside a method and nothing outside."""
    async with ActorSystem(namespace="ns"):
        w = Worker.options(name="ctx").remote()
        ctx = await w.context.remote()
        assert ctx.actor_id == w._core.actor_id
        assert ctx.name == "ctx"
        assert ctx.namespace == "ns"
        assert ctx.class_name == "Worker"
        assert (ctx.restart_count, ctx.was_restarted) == (0, False)
        outside = asyncactors.get_runtime_context()
        assert outside.actor_id is None
        assert outside.namespace == "ns"


async def test_get_actor_and_namespaces() -> None:
    """Names are unique per namespace; get_actor looks in the system's or the given one."""
    async with ActorSystem():
        a = Worker.options(name="svc").remote()
        b = Worker.options(name="svc", namespace="other").remote()
        assert asyncactors.get_actor("svc") == a
        assert asyncactors.get_actor("svc", namespace="other") == b
        with pytest.raises(asyncactors.ActorAlreadyExistsError, match="'svc' already exists"):
            Worker.options(name="svc").remote()
        same = Worker.options(name="svc", get_if_exists=True).remote()
        assert same == a


async def test_concurrent_get_or_create_yields_one_actor() -> None:
    """Many tasks and threads doing get-or-create of one name all get the same actor."""
    async with ActorSystem() as system:
        cls = Worker.options(name="single", get_if_exists=True)

        async def grab() -> Any:
            await asyncio.sleep(0)
            return cls.remote()

        handles = await asyncio.gather(*(grab() for _ in range(50)))
        threaded = await asyncio.gather(*(asyncio.to_thread(cls.remote) for _ in range(10)))
        assert len({h._core.actor_id for h in [*handles, *threaded]}) == 1
        assert len(system.list_actors()) == 1


async def test_init_and_shutdown_control_the_default_system() -> None:
    """init() creates the loop's default system; shutdown() stops its actors."""
    system = asyncactors.init(namespace="app")
    try:
        with pytest.raises(RuntimeError, match="already called"):
            asyncactors.init()
        assert asyncactors.init(ignore_reinit_error=True) is system
        w = Worker.remote()
        assert await w.echo.remote(5) == 5
        assert w._core.host.system is system
    finally:
        await asyncactors.shutdown()
    with pytest.raises(ActorDiedError, match="shut down"):
        await w.echo.remote(6)


async def test_first_remote_creates_default_system() -> None:
    """Outside any system, the first .remote() creates a default system for the loop."""
    w = Worker.remote()
    try:
        assert await w.echo.remote(1) == 1
        assert not w._core.host.system.closed
    finally:
        await asyncactors.shutdown()
    assert w._core.host.system.closed


def test_remote_without_loop_or_system_raises() -> None:
    """.remote() with no running loop and no system raises RuntimeError saying what to do."""
    with pytest.raises(RuntimeError, match="no running event loop and no actor system"):
        Worker.remote()


def test_init_outside_loop_raises() -> None:
    """init() needs a running loop."""
    with pytest.raises(RuntimeError, match="inside a running event loop"):
        asyncactors.init()


async def test_kill_from_another_thread() -> None:
    """kill() is thread-safe."""
    async with ActorSystem():
        w = Worker.remote()
        running = w.nap.remote(10)
        await asyncio.to_thread(asyncactors.kill, w)
        with pytest.raises(ActorDiedError, match="killed"):
            await running


async def test_no_stray_system_after_init_shutdown() -> None:
    """After init()'s system shut down, .remote() refuses instead of starting a stray system."""
    system = asyncactors.init()
    stopping = asyncio.ensure_future(system.shutdown(timeout=1))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match=r"shut down"):
        Worker.remote()
    await stopping
    with pytest.raises(RuntimeError, match=r"call asyncactors\.init\(\) again"):
        Worker.remote()
    again = asyncactors.init()
    try:
        assert again is not system
        assert await Worker.remote().echo.remote(1) == 1
    finally:
        await asyncactors.shutdown()


@asyncactors.remote
class Gated:
    async def until(self, gate: asyncio.Future[Any], value: Any = None) -> Any:
        await gate
        return value


async def test_wait_leaves_no_callback_on_refs_still_pending() -> None:
    """Timed-out, satisfied and cancelled waits leave nothing attached to pending refs."""
    async with ActorSystem():
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        g = Gated.remote()
        pending = g.until.remote(gate)
        for _ in range(20):
            ready, not_ready = await asyncactors.wait([pending], timeout=0.001)
            assert (ready, not_ready) == ([], [pending])
        assert pending._waiters is None

        soon: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done = g.until.remote(soon)
        asyncio.get_running_loop().call_soon(soon.set_result, None)
        ready, _ = await asyncactors.wait([pending, done], num_returns=1)
        assert ready == [done]
        assert pending._waiters is None

        waiter = asyncio.ensure_future(asyncactors.wait([pending]))
        await asyncio.sleep(0)
        assert pending._waiters is not None  # it is waiting now
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert pending._waiters is None
        gate.set_result(None)
        await pending


async def test_wait_from_another_loop_leaves_no_callback_on_the_ref() -> None:
    """A wait() on a ref of another loop, in another thread, cleans up on the ref's loop."""
    async with ActorSystem():
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending = Gated.remote().until.remote(gate)
        outcome = await asyncio.to_thread(asyncio.run, asyncactors.wait([pending], timeout=0.001))
        assert outcome == ([], [pending])
        assert pending._waiters is None
        gate.set_result(None)
        await pending


async def test_wait_loop_returns_each_ref_once_in_completion_order() -> None:
    """A crawler's loop of wait(pending, num_returns=1) gets each ref once, as it finishes."""
    async with ActorSystem():
        loop = asyncio.get_running_loop()
        gates: list[asyncio.Future[None]] = [loop.create_future() for _ in range(50)]
        g = Gated.remote()
        refs = [g.until.remote(gate, i) for i, gate in enumerate(gates)]
        order = list(range(50))
        random.Random(8).shuffle(order)
        pending, seen = refs, []
        for i in order:
            gates[i].set_result(None)
            ready, pending = await asyncactors.wait(pending, num_returns=1)
            seen.append(await ready[0])
            assert all(r._waiters is None for r in pending)
        assert pending == []
        assert seen == order


# --- graceful stop: asyncactors.stop() and __ray_terminate__ ---------------------------------


class Journal:
    """A sync actor that records its calls and its __pre_destroy__ into a shared list."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def note(self, tag: str) -> str:
        self.log.append(tag)
        return tag

    def __pre_destroy__(self) -> None:
        self.log.append("pre_destroy")


async def test_stop_runs_after_the_calls_sent_before_and_fails_those_sent_after() -> None:
    """stop(): earlier calls run, later ones fail with ActorDiedError; the ref resolves at DEAD."""
    log: list[str] = []
    async with ActorSystem() as system:
        j = asyncactors.remote(Journal).remote(log)
        before = [j.note.remote(f"call{i}") for i in range(3)]
        stop = asyncactors.stop(j)
        after = j.note.remote("after")
        assert await stop is None
        assert system.list_actors()[0].state is asyncactors.ActorState.DEAD
        assert await asyncactors.get(before) == ["call0", "call1", "call2"]
        assert log == ["call0", "call1", "call2", "pre_destroy"]
        with pytest.raises(
            ActorDiedError, match=r"stopped by asyncactors\.stop\(\) before running the call"
        ):
            await after
        with pytest.raises(ActorDiedError, match=r"was stopped by asyncactors\.stop\(\)"):
            await j.note.remote("later")
        assert (await j.monitor()).reason == "was stopped by asyncactors.stop()"


async def test_stop_waits_for_running_calls_and_resolves_only_when_dead() -> None:
    """A call running when the stop runs finishes; the stop's ref stays pending until then."""

    class Job:
        async def work(self, gate: asyncio.Event, tag: str) -> str:
            await gate.wait()
            return tag

    async with ActorSystem():
        gate = asyncio.Event()
        job = asyncactors.remote(Job).remote()
        running = job.work.remote(gate, "running")
        stop = asyncactors.stop(job)
        queued = job.work.remote(gate, "queued")
        with pytest.raises(ActorDiedError, match=r"asyncactors\.stop\(\)"):
            await queued
        await asyncio.sleep(0)
        assert not stop.done()
        with pytest.raises(ActorDiedError, match=r"is stopping: asyncactors\.stop\(\) was called"):
            await job.work.remote(gate, "refused")
        gate.set()
        assert await running == "running"
        assert await stop is None


async def test_ray_terminate_is_a_queued_graceful_stop() -> None:
    """handle.__ray_terminate__.remote() is Ray's spelling of stop(), and errors name it."""
    log: list[str] = []
    async with ActorSystem():
        j = asyncactors.remote(Journal).remote(log)
        first = j.note.remote("first")
        assert await j.__ray_terminate__.remote() is None
        assert await first == "first"
        assert log == ["first", "pre_destroy"]
        with pytest.raises(ActorDiedError, match=r"was stopped by __ray_terminate__\(\)"):
            await j.note.remote("late")


async def test_stop_is_final_even_for_a_restartable_supervised_actor() -> None:
    """A stopped actor is not restarted, under a supervisor or with max_restarts=-1."""
    log: list[str] = []
    actor_class = asyncactors.remote(Journal)
    async with ActorSystem() as system:
        events = system.events()
        sup = asyncactors.Supervisor("one_for_one", max_restarts=5)
        supervised = actor_class.options(supervisor=sup, restart="permanent").remote(log)
        unlimited = actor_class.options(max_restarts=-1).remote(log)
        stops = [asyncactors.stop(supervised), asyncactors.stop(unlimited)]
        assert await asyncactors.get(stops) == [None, None]
    kinds = [event.kind async for event in events]
    assert kinds.count("stopped") == 2
    assert "restarting" not in kinds


async def test_stop_from_another_thread_queues_behind_that_threads_calls() -> None:
    """stop() is thread-safe: a thread's calls sent before it run, and result() sees None."""
    log: list[str] = []
    async with ActorSystem():
        j = asyncactors.remote(Journal).remote(log)

        def from_thread() -> Any:
            refs = [j.note.remote(f"t{i}") for i in range(3)]
            stopped = asyncactors.stop(j).result(timeout=5)
            return [ref.result(timeout=5) for ref in refs], stopped

        assert await asyncio.to_thread(from_thread) == (["t0", "t1", "t2"], None)
        assert log == ["t0", "t1", "t2", "pre_destroy"]


async def test_stop_of_a_dead_actor_fails_with_actor_died_error() -> None:
    """stop() of an actor that is already dead fails with ActorDiedError saying why."""
    async with ActorSystem():
        w = Worker.remote()
        asyncactors.kill(w)
        with pytest.raises(ActorDiedError, match="killed"):
            await asyncactors.stop(w)


async def test_cancelling_a_queued_stop_withdraws_it() -> None:
    """ref.cancel() on a stop that has not run yet leaves the actor serving."""
    async with ActorSystem():
        w = Worker.options(max_concurrency=1).remote()
        busy = w.nap.remote(0.01, "busy")
        stop = asyncactors.stop(w)
        assert stop.cancel()
        assert await busy == "busy"
        assert await w.echo.remote("still here") == "still here"


# --- runtime context -------------------------------------------------------------------------


async def test_is_canceled_lets_a_thread_method_see_its_call_was_cancelled() -> None:
    """A run_in_thread method polling is_canceled() sees True once its ref is cancelled."""

    class Poller:
        @asyncactors.method(run_in_thread=True)
        def poll(self, started: threading.Event, seen: threading.Event) -> None:
            ctx = asyncactors.get_runtime_context()
            assert not ctx.is_canceled()
            started.set()
            deadline = time.monotonic() + 5
            while not ctx.is_canceled() and time.monotonic() < deadline:
                time.sleep(0.001)
            if ctx.is_canceled():
                seen.set()

    async with ActorSystem():
        started, seen = threading.Event(), threading.Event()
        p = asyncactors.remote(Poller).remote()
        ref = p.poll.remote(started, seen)
        assert await asyncio.to_thread(started.wait, 5)
        assert ref.cancel()
        assert await asyncio.to_thread(seen.wait, 5)
        with pytest.raises(asyncactors.TaskCancelledError):
            await ref


async def test_is_canceled_in_async_methods() -> None:
    """is_canceled() is False in a call running normally and True in one being cancelled."""
    seen: list[bool] = []

    class Sleeper:
        async def ok(self) -> bool:
            await asyncio.sleep(0)
            return asyncactors.get_runtime_context().is_canceled()

        async def sleep(self, started: asyncio.Event, handled: asyncio.Event) -> None:
            started.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                seen.append(asyncactors.get_runtime_context().is_canceled())
                handled.set()
                raise

    async with ActorSystem():
        s = asyncactors.remote(Sleeper).remote()
        assert await s.ok.remote() is False
        started, handled = asyncio.Event(), asyncio.Event()
        ref = s.sleep.remote(started, handled)
        await started.wait()
        ref.cancel()
        with pytest.raises(asyncactors.TaskCancelledError):
            await ref
        await handled.wait()
        assert seen == [True]
        assert asyncactors.get_runtime_context().is_canceled() is False


async def test_runtime_context_has_rays_spellings() -> None:
    """get_actor_id(), get_actor_name(), was_current_actor_reconstructed and current_actor."""
    async with ActorSystem():
        w = Worker.options(name="me").remote()
        ctx = await w.context.remote()
        assert ctx.get_actor_id() == str(ctx.actor_id)
        assert ctx.get_actor_name() == "me"
        assert ctx.was_current_actor_reconstructed is False
        assert ctx.current_actor == w
        outside = asyncactors.get_runtime_context()
        assert outside.get_actor_id() is None
        with pytest.raises(RuntimeError, match="inside an actor"):
            _ = outside.current_actor


# --- the loop's default system after shutdown -------------------------------------------------


async def test_remote_after_shutdown_of_the_implicit_default_raises_until_init() -> None:
    """After shutdown() of the loop's implicit default, .remote() refuses until init()."""
    w = Worker.remote()
    assert await w.echo.remote(1) == 1
    await asyncactors.shutdown()
    with pytest.raises(RuntimeError, match=r"shut down; call asyncactors\.init\(\) again"):
        Worker.remote()
    with pytest.raises(RuntimeError, match=r"asyncactors\.init\(\)"):
        asyncactors.get_actor("anything")
    system = asyncactors.init()
    try:
        fresh = Worker.remote()
        assert fresh._core.host.system is system
        assert await fresh.echo.remote(2) == 2
    finally:
        await asyncactors.shutdown()


async def test_stop_is_not_refused_by_max_pending_calls() -> None:
    """An actor at its max_pending_calls cap still accepts a stop, queued behind its calls."""
    async with ActorSystem():
        w = Worker.options(max_pending_calls=1).remote()
        busy = w.nap.remote(0.01, "busy")
        with pytest.raises(asyncactors.PendingCallsLimitExceeded):
            w.echo.remote(1)
        assert await asyncactors.stop(w) is None
        assert await busy == "busy"


async def test_wait_on_no_refs_returns_two_empty_lists_as_ray_does() -> None:
    """wait([]) returns ([], []) at once, whatever num_returns, as ray.wait([]) does;
    it raised ValueError. A bad timeout is still refused."""
    assert await asyncactors.wait([]) == ([], [])
    assert await asyncactors.wait([], num_returns=3, timeout=0) == ([], [])
    with pytest.raises(ValueError, match="timeout"):
        await asyncactors.wait([], timeout=-1)
