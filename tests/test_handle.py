"""ActorHandle and ActorMethod: creating actors, calling methods, lifecycle hooks."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import pytest

import asyncactors
from asyncactors import ActorDiedError, ActorSystem


@asyncactors.remote
class Counter:
    def __init__(self, n: int = 0) -> None:
        self.n = n

    def incr(self, k: int = 1) -> int:
        self.n += k
        return self.n

    async def aincr(self, k: int = 1) -> int:
        await asyncio.sleep(0)
        self.n += k
        return self.n

    def value(self) -> int:
        return self.n

    def fail(self, message: str) -> None:
        raise ValueError(message)

    def _secret(self) -> None: ...


async def test_quickstart_counter() -> None:
    """The README's counter: await c.incr.remote(5) returns the new count."""
    async with ActorSystem():
        c = Counter.remote()
        assert await c.incr.remote(5) == 5
        assert await c.aincr.remote(2) == 7
        assert await c.value.remote() == 7


async def test_awaiting_handle_waits_for_init_and_post_create() -> None:
    """await Cls.remote() returns the handle after __init__ and __post_create__ ran."""
    steps: list[str] = []

    class Setup:
        def __init__(self) -> None:
            steps.append("init")

        async def __post_create__(self) -> None:
            await asyncio.sleep(0.01)
            steps.append("post_create")

        def ready(self) -> list[str]:
            return list(steps)

    async with ActorSystem():
        ref_before = None
        pending = asyncactors.remote(Setup).remote()
        ref_before = pending.ready.remote()  # queued behind creation
        handle = await pending
        assert handle is pending
        assert steps == ["init", "post_create"]
        assert await ref_before == ["init", "post_create"]


@pytest.mark.parametrize("hook", ["__init__", "__post_create__"])
async def test_failed_creation_fails_handle_and_every_call(hook: str) -> None:
    """If __init__ or __post_create__ raises, handle and calls raise ActorDiedError from it."""

    class Broken:
        def __init__(self) -> None:
            if hook == "__init__":
                raise KeyError("no config")

        async def __post_create__(self) -> None:
            if hook == "__post_create__":
                raise KeyError("no config")

        def m(self) -> int:
            return 1

    async with ActorSystem() as system:
        h = asyncactors.remote(Broken).remote()
        queued = h.m.remote()
        with pytest.raises(ActorDiedError, match=f"failed to start: {hook} raised KeyError") as e:
            await h
        assert isinstance(e.value.__cause__, KeyError)
        with pytest.raises(ActorDiedError) as e2:
            await queued
        assert isinstance(e2.value.__cause__, KeyError)
        with pytest.raises(ActorDiedError, match="failed to start"):
            await h.m.remote()
        assert system.list_actors()[0].state is asyncactors.ActorState.DEAD


async def test_pre_destroy_runs_on_graceful_stop_not_on_kill() -> None:
    """__pre_destroy__ (sync or async) runs at shutdown; kill() skips it."""
    destroyed: list[str] = []

    class SyncHook:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        def __pre_destroy__(self) -> None:
            destroyed.append(self.tag)

    class AsyncHook:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        async def __pre_destroy__(self) -> None:
            await asyncio.sleep(0)
            destroyed.append(self.tag)

    async with ActorSystem():
        await asyncactors.remote(SyncHook).remote("sync")
        await asyncactors.remote(AsyncHook).remote("async")
        killed = await asyncactors.remote(SyncHook).remote("killed")
        asyncactors.kill(killed)
    assert sorted(destroyed) == ["async", "sync"]


async def test_method_exception_reaches_caller_as_itself() -> None:
    """except ValueError at the caller catches the actor's ValueError; the actor keeps serving."""
    async with ActorSystem():
        c = Counter.remote()
        with pytest.raises(ValueError, match="boom") as e:
            await c.fail.remote("boom")
        frames = []
        tb = e.value.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame.f_code.co_name)
            tb = tb.tb_next
        assert "fail" in frames  # the actor's frame is in the traceback
        assert await c.incr.remote() == 1


async def test_unknown_and_private_methods_fail_at_call_site() -> None:
    """Unknown names suggest close ones; leading-underscore names are private."""
    async with ActorSystem():
        c = Counter.remote()
        with pytest.raises(AttributeError, match=r"no method 'inc'.*did you mean 'incr'"):
            c.inc.remote()
        with pytest.raises(AttributeError, match="'_secret' is private"):
            c._secret.remote()
        with pytest.raises(TypeError, match=r"Counter\.incr\(k=1\): too many positional"):
            c.incr.remote(1, 2)
        with pytest.raises(TypeError, match=r"use 'incr\.remote"):
            c.incr()


async def test_calls_run_in_submission_order_at_concurrency_one() -> None:
    """With max_concurrency=1, sync and async calls interleave strictly in submission order."""

    class Log:
        def __init__(self) -> None:
            self.seen: list[int] = []

        def s(self, i: int) -> None:
            self.seen.append(i)

        async def a(self, i: int) -> None:
            await asyncio.sleep(0)
            self.seen.append(i)

        def log(self) -> list[int]:
            return self.seen

    async with ActorSystem():
        h = asyncactors.remote(max_concurrency=1)(Log).remote()
        for i in range(50):
            (h.a if i % 3 else h.s).remote(i)
        assert await h.log.remote() == list(range(50))


async def test_fire_and_forget_calls_still_run() -> None:
    """A ref nobody awaits still runs its call (eager submission)."""
    async with ActorSystem():
        c = Counter.remote()
        for _ in range(10):
            c.incr.remote()
        assert await c.value.remote() == 10


async def test_handles_to_same_actor_are_equal_and_hashable() -> None:
    """get_actor returns a handle equal to the original, usable as a dict key."""
    async with ActorSystem():
        h = Counter.options(name="eq").remote()
        again = asyncactors.get_actor("eq")
        assert h == again
        assert hash(h) == hash(again)
        assert h != Counter.remote()
        assert "Counter" in repr(h)
        assert "incr" in dir(h)


async def test_full_mailbox_queues_in_order_without_dropping() -> None:
    """Past mailbox_size, .remote() still returns refs; every call runs once, in order."""

    class Gate:
        def __init__(self, gate: asyncio.Event) -> None:
            self.gate = gate
            self.seen: list[int] = []

        async def hold(self) -> None:
            await self.gate.wait()

        def put(self, i: int) -> None:
            self.seen.append(i)

        def log(self) -> list[int]:
            return self.seen

    async with ActorSystem() as system:
        gate = asyncio.Event()
        g = asyncactors.remote(max_concurrency=1, mailbox_size=4)(Gate).remote(gate)
        g.hold.remote()
        refs = [g.put.remote(i) for i in range(20)]
        await asyncio.sleep(0.01)
        info = system.list_actors()[0]
        assert info.mailbox_depth == 4
        assert info.mailbox_capacity == 4
        gate.set()
        await asyncactors.get(refs)
        assert await g.log.remote() == list(range(20))
        assert system.list_actors()[0].peak_depth == 4


async def test_submit_waits_for_room_and_submit_nowait_refuses() -> None:
    """submit() returns once the call is in the mailbox; submit_nowait raises MailboxFullError."""

    class Slow:
        def __init__(self, gate: asyncio.Event) -> None:
            self.gate = gate

        async def hold(self) -> None:
            await self.gate.wait()

        def put(self, i: int) -> int:
            return i

    async with ActorSystem():
        gate = asyncio.Event()
        s = asyncactors.remote(max_concurrency=1, mailbox_size=2)(Slow).remote(gate)
        await s
        s.hold.remote()
        await asyncio.sleep(0)
        first = await s.put.submit(1)
        second = s.put.submit_nowait(2)
        with pytest.raises(asyncactors.MailboxFullError, match=r"mailbox .* is full"):
            s.put.submit_nowait(3)
        waiting = asyncio.ensure_future(s.put.submit(3))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # no room until a call leaves the mailbox
        gate.set()
        third = await asyncio.wait_for(waiting, 2)
        assert await asyncactors.get([first, second, third]) == [1, 2, 3]


async def test_cancelled_submit_withdraws_the_call() -> None:
    """Cancelling a submit() still waiting for room withdraws the call: it never runs."""

    class Slow:
        def __init__(self, gate: asyncio.Event) -> None:
            self.gate = gate
            self.ran: list[int] = []

        async def hold(self) -> None:
            await self.gate.wait()

        def put(self, i: int) -> None:
            self.ran.append(i)

        def log(self) -> list[int]:
            return self.ran

    async with ActorSystem():
        gate = asyncio.Event()
        s = asyncactors.remote(max_concurrency=1, mailbox_size=1)(Slow).remote(gate)
        s.hold.remote()
        await asyncio.sleep(0)
        s.put.remote(1)
        waiting = asyncio.ensure_future(s.put.submit(2))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        gate.set()
        assert await s.log.remote() == [1]


async def test_max_pending_calls_raises_at_once() -> None:
    """Beyond max_pending_calls, .remote() raises PendingCallsLimitExceeded; earlier calls run."""
    async with ActorSystem():
        c = Counter.options(max_pending_calls=3).remote()
        refs = [c.incr.remote() for _ in range(3)]
        with pytest.raises(asyncactors.PendingCallsLimitExceeded, match="max_pending_calls"):
            c.incr.remote()
        assert await asyncactors.get(refs) == [1, 2, 3]
        assert await c.incr.remote() == 4  # room again once they finished


async def test_remote_from_another_thread_is_safe() -> None:
    """.remote() from a plain thread hands off safely; result() blocks that thread."""
    async with ActorSystem():
        c = Counter.remote()
        await c
        results: list[Any] = []

        def worker() -> None:
            refs = [c.incr.remote() for _ in range(100)]
            results.append([r.result(timeout=5) for r in refs])

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            await asyncio.sleep(0.01)
        assert sorted(x for r in results for x in r) == list(range(1, 401))
        for r in results:
            assert r == sorted(r)  # one thread's calls run in its order


async def test_dropped_unnamed_actor_finishes_queued_calls_then_stops() -> None:
    """When every handle is gone, an unnamed actor runs what is queued, then stops."""
    stopped: list[int] = []

    class Worker:
        def __init__(self) -> None:
            self.done = 0

        async def work(self) -> int:
            await asyncio.sleep(0.001)
            self.done += 1
            return self.done

        def __pre_destroy__(self) -> None:
            stopped.append(self.done)

    async with ActorSystem() as system:
        h = asyncactors.remote(Worker).remote()
        refs = [h.work.remote() for _ in range(5)]
        del h
        gc.collect()
        assert await asyncactors.get(refs) == [1, 2, 3, 4, 5]
        for _ in range(20):
            await asyncio.sleep(0)
        assert stopped == [5]
        assert [a.state for a in system.list_actors()] == [asyncactors.ActorState.DEAD]


async def _until_dead(handle_core: Any) -> None:
    for _ in range(20):
        if handle_core.state is asyncactors.ActorState.DEAD:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{handle_core.describe()} is still {handle_core.state}")


def _on_a_thread(action: Any) -> None:
    thread = threading.Thread(target=action)
    thread.start()
    thread.join()


async def test_an_actor_whose_last_handle_dies_on_another_thread_stops() -> None:
    """A handle made on the loop's thread and dropped on another one counts as gone: the
    actor stops, and the engine keeps no count of it."""
    async with ActorSystem() as system:
        h = Counter.remote()
        assert await h.incr.remote() == 1
        core = h._core
        box = [h]
        del h
        _on_a_thread(box.clear)
        await _until_dead(core)
        assert system._host.local.foreign == {}


async def test_a_handle_made_on_another_thread_keeps_the_actor_alive() -> None:
    """A method handle made off the loop's thread keeps the actor alive once the loop's
    own handles are gone; dropped on the loop's thread, it is the last, and the actor stops."""
    async with ActorSystem() as system:
        h = Counter.remote()
        core = h._core
        box: list[Any] = []
        _on_a_thread(lambda handle=h: box.append(handle.incr))
        # Each handle uncached, so that dropping h drops only h.
        object.__delattr__(h, "incr")
        del h
        gc.collect()
        for _ in range(5):
            await asyncio.sleep(0)
        assert core.state is asyncactors.ActorState.ALIVE
        assert await box[0].remote(2) == 2
        box.clear()
        await _until_dead(core)
        assert system._host.local.foreign == {}


async def test_named_and_detached_actors_survive_dropped_handles() -> None:
    """Named or detached actors are not stopped when their handles are collected."""
    async with ActorSystem() as system:
        Counter.options(name="keep").remote()
        Counter.options(lifetime="detached").remote()
        gc.collect()
        for _ in range(10):
            await asyncio.sleep(0)
        states = {a.state for a in system.list_actors()}
        assert states == {asyncactors.ActorState.ALIVE}
        assert await asyncactors.get_actor("keep").incr.remote() == 1


async def test_creating_and_dropping_many_actors_does_not_leak() -> None:
    """Creating and dropping actors in a loop leaves neither registry entries nor memory behind."""
    import tracemalloc

    async def batch(n: int) -> None:
        for _ in range(n):
            await Counter.remote().incr.remote()

    async with ActorSystem() as system:
        await batch(2000)  # warm up caches and free lists
        gc.collect()
        tracemalloc.start()
        try:
            await batch(2000)
            gc.collect()
            await asyncio.sleep(0)
            first, _ = tracemalloc.get_traced_memory()
            await batch(20000)
            gc.collect()
            await asyncio.sleep(0)
            second, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(system._actors) == 0
        # Ten times the actors must not cost ten times the memory: the graveyard of
        # recent dead actors is bounded, everything else is released.
        assert second - first < 2_000_000


async def churn_leaves_nothing(n: int) -> None:
    """Create, call and drop ``n`` actors in a loop; assert no objects are left behind."""
    import sys

    async def batch(n: int) -> None:
        for _ in range(n // 1000):
            await asyncactors.get([Counter.remote().incr.remote() for _ in range(1000)])

    async with ActorSystem() as system:
        await batch(20_000)  # fill caches, free lists and the bounded graveyard
        gc.collect()
        before = sys.getallocatedblocks()
        await batch(n)
        for _ in range(5):  # the last batch stops a few loop iterations later
            await asyncio.sleep(0)
        gc.collect()
        after = sys.getallocatedblocks()
        assert len(system._actors) == 0
        # A leak of even one object per actor would be n blocks.
        assert after - before < 50_000, after - before


async def test_many_actors_created_and_dropped_leave_no_objects() -> None:
    """Creating, calling and dropping 100,000 actors in a loop leaves no objects behind."""
    await churn_leaves_nothing(100_000)


@pytest.mark.slow
async def test_a_million_actors_created_and_dropped_leave_no_objects() -> None:
    """The same with a million actors (about 10 s; run with ``pytest -m slow``)."""
    await churn_leaves_nothing(1_000_000)


async def test_capped_remote_from_threads_returns_at_once_while_the_loop_is_blocked() -> None:
    """With max_pending_calls, .remote() from other threads never waits for the blocked
    loop, and across threads exactly max_pending_calls calls are accepted."""
    async with ActorSystem():
        c = await Counter.options(max_pending_calls=5).remote()
        accepted: list[Any] = []
        refused: list[BaseException] = []

        def caller() -> None:
            for _ in range(4):
                try:
                    accepted.append(c.incr.remote())
                except asyncactors.PendingCallsLimitExceeded as exc:
                    refused.append(exc)

        threads = [threading.Thread(target=caller, daemon=True) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=2)  # blocks the loop's thread on purpose
        assert not any(t.is_alive() for t in threads), ".remote() waited for the loop"
        assert (len(accepted), len(refused)) == (5, 7)
        assert "max_pending_calls" in str(refused[0])
        assert sorted(await asyncactors.get(accepted)) == [1, 2, 3, 4, 5]
        assert await c.incr.remote() == 6  # every place was given back


async def test_a_pending_call_gives_its_place_back_once_however_it_resolves() -> None:
    """With max_pending_calls=1, a call's place comes back when it returns, raises, is
    cancelled (queued or running) or is refused, and only once: a cancelled call whose
    method still returns does not free a second place."""
    started, finished = asyncio.Event(), asyncio.Event()

    class Stubborn:
        def fail(self) -> None:
            raise ValueError("no")

        async def ignore_cancel(self) -> str:
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                finished.set()
            return "finished anyway"

        async def hold(self, gate: asyncio.Future[None]) -> None:
            await gate

    async with ActorSystem():
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        s = asyncactors.remote(Stubborn).options(max_pending_calls=1).remote()
        assert s.hold.remote(gate).cancel()  # queued behind the actor's creation
        await s
        with pytest.raises(ValueError, match="no"):
            await s.fail.remote()
        running = s.ignore_cancel.remote()
        await started.wait()
        assert running.cancel()
        await finished.wait()  # the method returned after its call was settled
        held = s.hold.remote(gate)
        with pytest.raises(asyncactors.PendingCallsLimitExceeded):
            s.hold.remote(gate)
        held.cancel()
        asyncactors.kill(s)
        for _ in range(3):  # a dead actor's calls are refused and hold no place
            with pytest.raises(ActorDiedError):
                await s.fail.remote()


async def test_awaiting_a_method_instead_of_a_call_says_what_to_write() -> None:
    """'await handle.method' (without .remote()) raises a TypeError saying to write
    'await handle.method.remote(...)'."""
    async with ActorSystem():
        c = Counter.remote()
        with pytest.raises(TypeError, match=r"use 'await handle\.incr\.remote\(\.\.\.\)'"):
            await c.incr
        assert await c.incr.remote() == 1


async def test_calls_queued_while_a_worker_lingers_run_concurrently() -> None:
    """Two calls sent right after an awaited one both start at once when slots are free.

    The worker that served the first call lingers one loop turn; the calls sent
    meanwhile must not queue behind each other on it.
    """

    @asyncactors.remote
    class Sleeper:
        def __init__(self) -> None:
            self.running = 0
            self.peak = 0
            self.gate = asyncio.Event()

        async def nap(self) -> None:
            self.running += 1
            self.peak = max(self.peak, self.running)
            if self.running == 2:
                self.gate.set()
            await self.gate.wait()
            self.running -= 1

        async def quick(self) -> int:
            return self.peak

    async with ActorSystem():
        s = Sleeper.remote()
        await s.quick.remote()  # leaves a lingering worker behind
        both = asyncio.gather(s.nap.remote(), s.nap.remote())
        await asyncio.wait_for(both, timeout=5)
        assert await s.quick.remote() == 2


async def test_a_handle_dropped_while_the_interpreter_clears_the_engine_raises_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At exit the interpreter sets the engine module's globals to None; a handle
    dropped after that returns quietly instead of raising in __del__ (pytest makes
    an exception there an error)."""
    from asyncactors._backends._local import lifecycle

    @asyncactors.remote
    class Held:
        def ping(self) -> int:
            return 1

    async with asyncactors.ActorSystem():
        h = Held.remote()
        assert await h.ping.remote() == 1
        monkeypatch.setattr(lifecycle, "_get_ident", None)
        del h
        gc.collect()
        monkeypatch.undo()
