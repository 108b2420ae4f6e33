"""Module functions: get, wait, put, kill, get_actor, exit_actor, init/shutdown, runtime context."""

from __future__ import annotations

import asyncio
import random
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
        assert w._core.system is system
    finally:
        await asyncactors.shutdown()
    with pytest.raises(ActorDiedError, match="shut down"):
        await w.echo.remote(6)


async def test_first_remote_creates_default_system() -> None:
    """Outside any system, the first .remote() creates a default system for the loop."""
    w = Worker.remote()
    try:
        assert await w.echo.remote(1) == 1
        assert not w._core.system.closed
    finally:
        await asyncactors.shutdown()
    assert w._core.system.closed


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
