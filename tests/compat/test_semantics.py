"""Where Ray's semantics differ from asyncactors' own: copies, pickling, futures, streaming.

Also the in-process event loop: threads that block in ray.get, and work that
goes on while no thread does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import pickle
import sys
import threading
import time
from types import ModuleType
from typing import Any

import pytest

import asyncactors.compat.ray as compat_ray
from asyncactors.compat.ray import exceptions as rex


@compat_ray.remote
class Box:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def keep(self, item: Any) -> int:
        self.items.append(item)
        return len(self.items)

    def items_now(self) -> list[Any]:
        return self.items

    def identity(self, x: Any) -> Any:
        return x


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


def test_arguments_are_copied_when_sent(ray: ModuleType) -> None:
    """Mutating an argument after .remote() does not change what the actor received."""
    b = Box.remote()
    data = {"a": [1]}
    ray.get(b.keep.remote(data))
    data["a"].append(2)
    assert ray.get(b.items_now.remote()) == [{"a": [1]}]


def test_immutable_arguments_pass_uncopied_and_mutable_insides_are_copied(
    ray: ModuleType,
) -> None:
    """A tuple of numbers and strings goes to the actor and back as the same object (a
    copy would be equal and immutable), while a tuple holding a list is still copied."""
    b = Box.remote()
    flat = (1, "two", 3.0, b"four", None)
    assert ray.get(b.identity.remote(flat)) is flat
    nested = (1, [2])
    ray.get(b.keep.remote(nested))
    nested[1].append(3)
    assert ray.get(b.items_now.remote()) == [(1, [2])]


def test_results_are_copied_when_returned(ray: ModuleType) -> None:
    """A result is a copy of the actor's state, made when the method returned."""
    b = Box.remote()
    ray.get(b.keep.remote("x"))
    mine = ray.get(b.items_now.remote())
    mine.append("mine")
    ray.get(b.keep.remote("y"))
    assert ray.get(b.items_now.remote()) == ["x", "y"]
    assert mine == ["x", "mine"]


def test_objects_keep_their_class_across_a_call(ray: ModuleType) -> None:
    """Instances of module-level classes and of local classes come back as their classes."""

    class Local:
        def __init__(self, v: int) -> None:
            self.v = v

    b = Box.remote()
    p = ray.get(b.identity.remote(Point(3)))
    assert isinstance(p, Point)
    assert p.x == 3
    local = ray.get(b.identity.remote(Local(4)))
    assert isinstance(local, Local)
    assert local.v == 4
    square = ray.get(b.identity.remote(lambda v: v * v))
    assert square(5) == 25


def test_unpicklable_argument_is_refused_at_the_call(ray: ModuleType) -> None:
    """An argument that cannot be serialized raises TypeError at .remote(), as in Ray."""
    b = Box.remote()
    with pytest.raises(TypeError, match="serialize"):
        b.keep.remote(threading.Lock())


def test_handles_and_refs_pickle(ray: ModuleType) -> None:
    """Handles and refs survive pickle.dumps/loads and stay usable."""
    b = Box.remote()
    ref = ray.put([1, 2])
    again_ref = pickle.loads(pickle.dumps(ref))
    again_b = pickle.loads(pickle.dumps(b))
    assert again_ref == ref
    assert ray.get(again_ref) == [1, 2]
    assert again_b == b
    assert ray.get(again_b.keep.remote(1)) == 1


def test_handles_and_refs_inside_arguments_stay_themselves(ray: ModuleType) -> None:
    """A handle or ref nested in an argument reaches the actor as the same handle or ref."""

    @ray.remote
    class User:
        def use(self, bag: dict[str, Any]) -> Any:
            return ray.get(bag["box"].keep.remote(ray.get(bag["ref"])))

    b = Box.remote()
    assert ray.get(User.remote().use.remote({"box": b, "ref": ray.put("v")})) == 1
    assert ray.get(b.items_now.remote()) == ["v"]


def test_future_is_a_concurrent_future(ray: ModuleType) -> None:
    """ref.future() is a concurrent.futures.Future with the value or the error."""
    b = Box.remote()
    fut = b.keep.remote("a").future()
    assert isinstance(fut, concurrent.futures.Future)
    assert fut.result(timeout=5) == 1

    @ray.remote
    def fail() -> None:
        raise ValueError("in future")

    with pytest.raises(ValueError, match="in future"):
        fail.remote().future().result(timeout=5)


def test_refs_are_awaitable_from_a_driver_event_loop(ray: ModuleType) -> None:
    """`await ref` works in the driver's own asyncio code."""
    b = Box.remote()

    async def main() -> list[int]:
        first = await b.keep.remote(1)
        rest = await asyncio.gather(b.keep.remote(2), b.keep.remote(3))
        return [first, *rest]

    assert asyncio.run(main()) == [1, 2, 3]


def test_streaming_generator_yields_refs_as_items_come(ray: ModuleType) -> None:
    """A generator method returns an ObjectRefGenerator whose refs come one by one."""

    @ray.remote
    class Producer:
        def produce(self, n: int, gate: Any) -> Any:
            for i in range(n):
                if i == 2:
                    ray.get(gate.wait.remote())
                yield i * i

    @ray.remote
    class Gate:
        def __init__(self) -> None:
            self.event = asyncio.Event()

        async def wait(self) -> None:
            await self.event.wait()

        async def open(self) -> None:
            self.event.set()

    gate = Gate.remote()
    gen = Producer.remote().produce.remote(4, gate)
    assert isinstance(gen, ray.ObjectRefGenerator)
    assert ray.get(next(gen)) == 0
    assert ray.get(next(gen)) == 1
    # The third item waits for the gate: the first two came before the generator ended.
    assert not gen.is_finished()
    ray.get(gate.open.remote())
    assert [ray.get(r) for r in gen] == [4, 9]
    assert gen.is_finished()
    assert ray.get(gen.completed()) is None


def test_streaming_generator_error_is_the_last_item(ray: ModuleType) -> None:
    """An exception in the generator comes as a ref that raises it, then the stream ends."""

    @ray.remote
    def gen_task() -> Any:
        yield 1
        raise KeyError("stream broke")

    gen = gen_task.remote()
    assert ray.get(next(gen)) == 1
    bad = next(gen)
    with pytest.raises(KeyError):
        ray.get(bad)
    with pytest.raises(StopIteration):
        next(gen)


def test_async_generator_method_streams_into_async_for(ray: ModuleType) -> None:
    """An async generator method streams; an async actor consumes another's stream."""

    @ray.remote
    class Source:
        async def items(self, n: int) -> Any:
            for i in range(n):
                await asyncio.sleep(0)
                yield i

    @ray.remote
    class Sink:
        async def total(self, source: Any) -> int:
            total = 0
            async for ref in source.items.remote(5):
                total += await ref
            return total

    assert ray.get(Sink.remote().total.remote(Source.remote())) == 10
    assert [ray.get(r) for r in Source.remote().items.remote(3)] == [0, 1, 2]


def test_generator_with_fixed_num_returns(ray: ModuleType) -> None:
    """A generator with num_returns=n returns n refs, one per yielded value."""

    @ray.remote(num_returns=3)
    def three() -> Any:
        yield from ("a", "b", "c")

    assert ray.get(three.remote()) == ["a", "b", "c"]


def test_streaming_generator_of_a_dead_actor_ends_with_its_error(ray: ModuleType) -> None:
    """The stream of a call that never ran ends with the call's error."""

    @ray.remote
    class Gen:
        def g(self) -> Any:
            yield 1

    a = Gen.remote()
    ray.kill(a)
    gen = a.g.remote()
    with pytest.raises(rex.ActorDiedError):
        ray.get(next(gen), timeout=5)


def test_many_threads_block_in_get_at_once(ray: ModuleType) -> None:
    """Driver threads calling ray.get at the same time all get their values."""
    b = Box.remote()
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            v = ray.get(b.identity.remote(1))
            with lock:
                results.append(v)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [1] * 200


def test_a_thread_waiting_for_the_loops_owner_is_woken_when_its_refs_are_done(
    ray: ModuleType,
) -> None:
    """While one thread drives the loop for a call that waits on another, a second thread's
    ray.get returns as soon as its own call is done, not when the first thread lets go."""

    @ray.remote
    class Gate:
        def __init__(self) -> None:
            self.opened = asyncio.Event()

        async def wait_open(self) -> str:
            await self.opened.wait()
            return "through"

        async def open(self) -> None:
            self.opened.set()

        async def ping(self) -> str:
            return "pong"

    gate = Gate.remote()
    assert ray.get(gate.ping.remote()) == "pong"  # created, its loop idle
    owner_in = threading.Event()
    outcome: list[str] = []

    def owner() -> None:
        ref = gate.wait_open.remote()
        owner_in.set()
        outcome.append(ray.get(ref, timeout=10))

    t = threading.Thread(target=owner)
    t.start()
    assert owner_in.wait(5)
    # This thread waits behind the owner (or drives itself if it is first): either
    # way its get returns at once, not at its timeout, and only then does it open
    # the gate the owner waits on.
    started = time.monotonic()
    assert ray.get(gate.ping.remote(), timeout=10) == "pong"
    assert time.monotonic() - started < 5
    ray.get(gate.open.remote(), timeout=5)
    t.join(10)
    assert outcome == ["through"]


def test_work_goes_on_while_no_thread_blocks(ray: ModuleType) -> None:
    """Calls made without ray.get run anyway: the loop's helper thread runs them."""
    done = threading.Event()

    @ray.remote
    class Side:
        async def effect(self) -> None:
            await asyncio.sleep(0.001)
            done.set()

    Side.remote().effect.remote()
    assert done.wait(5)


def test_threaded_actors_run_in_parallel_threads(ray: ModuleType) -> None:
    """Two threaded actors blocked at once both progress: each is its own thread."""
    barrier = threading.Barrier(2, timeout=5)

    @ray.remote
    class Meet:
        def meet(self) -> bool:
            barrier.wait()
            return True

    assert ray.get([Meet.remote().meet.remote(), Meet.remote().meet.remote()]) == [True, True]


def test_sync_tasks_got_together_run_in_parallel_threads(ray: ModuleType) -> None:
    """Two sync tasks in one ray.get both progress at once, as on Ray's two CPUs (the
    getting thread ran the first, and the helper, running the loop meanwhile, never
    gave the second to the pool: it started when the first had finished)."""
    barrier = threading.Barrier(2, timeout=5)

    @ray.remote
    def meet(other: bool) -> bool:
        if other:
            barrier.wait()
        return True

    # Its first call has gone through: the next two start in one turn of the loop.
    assert ray.get(meet.remote(False))
    # No timeout, so that this thread runs the tasks it waits for (the barrier's
    # timeout ends the test if they do not meet).
    assert ray.get([meet.remote(True), meet.remote(True)]) == [True, True]


def test_pool_worker_blocked_in_get_leaves_room_for_others(ray: ModuleType) -> None:
    """Nested blocking gets from many sync tasks do not starve the thread pool."""

    @ray.remote
    def leaf(i: int) -> int:
        return i

    @ray.remote
    def mid(i: int) -> int:
        return ray.get(leaf.remote(i)) + 1

    assert ray.get([mid.remote(i) for i in range(20)], timeout=10) == list(range(1, 21))


@compat_ray.remote
class Quick:
    async def one(self) -> int:
        return 1


@compat_ray.remote
class QuickThreaded:
    def one(self) -> int:
        return 1


def test_other_threads_run_while_a_thread_keeps_the_loop_busy(ray: ModuleType) -> None:
    """A thread sleeping 1 ms at a time wakes about a hundred times in a second while
    the driver keeps the loop busy with calls, to an async and to a threaded actor
    (the driver polled I/O every millisecond, and CPython never handed such a thread
    the GIL: it woke one to three times)."""
    for actor in (Quick.remote(), QuickThreaded.remote()):
        ray.get(actor.one.remote())
        ticks = _ticks_while(lambda a=actor: ray.get([a.one.remote() for _ in range(50)]))
        assert ticks >= 20, f"the other thread woke {ticks} times in 1 s"


def test_a_busy_loop_polls_at_most_once_per_switch_interval(ray: ModuleType) -> None:
    """While calls keep the loop busy, it polls for I/O about once per two switch
    intervals (it polled every millisecond, about 270 times in 0.3 s, and each poll
    that gives the GIL back so soon keeps other threads from ever asking for it)."""
    from asyncactors.compat.ray._worker import current

    quick = Quick.remote()
    ray.get(quick.one.remote())
    rt = current()
    assert rt is not None
    loop: Any = rt.driver.loop
    run_once = loop._run_once
    polls = 0

    def counted() -> None:
        nonlocal polls
        polls += 1
        run_once()

    loop._run_once = counted
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < 0.3:
            ray.get([quick.one.remote() for _ in range(50)])
    finally:
        del loop._run_once
    elapsed = time.perf_counter() - start
    assert polls <= elapsed / sys.getswitchinterval() + 3, (polls, elapsed)


def _ticks_while(step: Any) -> int:
    """How often a thread sleeping 1 ms at a time wakes while ``step()`` repeats for 1 s."""
    ticks = 0
    stop = threading.Event()

    def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            time.sleep(0.001)
            ticks += 1

    thread = threading.Thread(target=ticker)
    thread.start()
    deadline = time.perf_counter() + 1.0
    try:
        while time.perf_counter() < deadline:
            step()
    finally:
        stop.set()
        thread.join(5)
    return ticks


def test_a_thread_making_sequential_calls_does_not_starve_another(ray: ModuleType) -> None:
    """Two threads calling at once both progress: one's sequential gets to a threaded
    actor (each run in its own thread) leave the other thread's pipelined gets their
    turns at the GIL (the second thread finished 0 or 1 batches in a second)."""
    quick, threaded = Quick.remote(), QuickThreaded.remote()
    ray.get([quick.one.remote(), threaded.one.remote()])
    counts = {"sequential": 0, "pipelined": 0}
    deadline = time.perf_counter() + 1.0

    def sequential() -> None:
        while time.perf_counter() < deadline:
            ray.get(threaded.one.remote())
            counts["sequential"] += 1

    thread = threading.Thread(target=sequential)
    thread.start()
    try:
        while time.perf_counter() < deadline:
            ray.get([quick.one.remote() for _ in range(50)])
            counts["pipelined"] += 1
    finally:
        thread.join(10)
    assert counts["sequential"] >= 50, counts
    assert counts["pipelined"] >= 50, counts


def test_a_get_that_ends_with_work_queued_hands_it_on_after_another_threads_get(
    ray: ModuleType,
) -> None:
    """A get that fails fast with a sync task of its own still queued hands that task on,
    even after another thread's get ended while it waited (that get unregistered the
    first thread's empty queue, equal to its own: the first get then raised ValueError
    and the queued task never ran)."""
    from asyncactors.compat.ray._worker import current

    @ray.remote
    class Gate:
        def __init__(self) -> None:
            self.opened = asyncio.Event()

        async def wait_open(self) -> int:
            await self.opened.wait()
            return 0

        async def open(self) -> None:
            self.opened.set()

        async def ping(self) -> str:
            return "pong"

    @ray.remote
    async def fail(_: int) -> None:
        raise ValueError("boom")

    @ray.remote
    def other(_: int) -> str:
        return "other"

    gate = Gate.remote()
    assert ray.get(gate.ping.remote()) == "pong"
    opened = gate.wait_open.remote()
    # Both start in the same turn once the gate opens: the failure ends the get
    # with other()'s item still in the getting thread's queue.
    failing, queued = fail.remote(opened), other.remote(opened)
    outcome: list[BaseException] = []

    def first() -> None:
        try:
            ray.get([failing, queued])
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    rt = current()
    assert rt is not None
    deadline = time.monotonic() + 5
    while rt.driver._owner != thread.ident:  # its get drives the loop
        assert time.monotonic() < deadline, "the thread never drove the loop"
        time.sleep(0.001)
    # A second thread's get waits behind the first thread, which runs its call, and
    # ends first.
    later = Gate.remote()
    second = concurrent.futures.ThreadPoolExecutor(1)
    try:
        got = second.submit(ray.get, later.wait_open.remote())
        while not rt.driver._waiters:  # it waits for the loop's owner
            assert time.monotonic() < deadline, "the second thread never waited"
            time.sleep(0.001)
        later.open.remote()
        assert got.result(10) == 0
    finally:
        second.shutdown()
    gate.open.remote()
    thread.join(10)
    assert len(outcome) == 1
    # The task's error (a RayTaskError that is a ValueError), not the driver's.
    assert isinstance(outcome[0], rex.RayTaskError), outcome
    assert isinstance(outcome[0], ValueError), outcome
    assert ray.get(queued, timeout=10) == "other"


def test_ray_call_runs_a_function_on_the_actor(ray: ModuleType) -> None:
    """handle.__ray_call__.remote(fn) runs fn(instance) in the actor; __ray_ready__ is True."""
    b = Box.remote()
    ray.get(b.keep.remote(5))
    assert ray.get(b.__ray_call__.remote(lambda self: list(self.items))) == [5]
    assert ray.get(b.__ray_ready__.remote()) is True


def test_ref_arguments_to_a_constructor_are_resolved(ray: ModuleType) -> None:
    """A ref passed to an actor's constructor arrives as its value."""

    @ray.remote
    class Holder:
        def __init__(self, value: Any) -> None:
            self.value = value

        def get(self) -> Any:
            return self.value

    assert ray.get(Holder.remote(ray.put({"k": 1})).get.remote()) == {"k": 1}


def test_runtime_env_installs_are_refused_and_placement_is_ignored(ray: ModuleType) -> None:
    """runtime_env pip is refused naming the feature; placement groups work on one node."""
    with pytest.raises(rex.UnsupportedFeatureError, match="pip"):
        Box.options(runtime_env={"pip": ["requests"]})
    pg = ray.util.placement_group([{"CPU": 1}, {"CPU": 1}], strategy="SPREAD")
    assert ray.get(pg.ready()) == pg
    assert pg.wait(1)
    strategy = ray.util.scheduling_strategies.PlacementGroupSchedulingStrategy(pg)
    b = Box.options(scheduling_strategy=strategy).remote()
    assert ray.get(b.keep.remote(1)) == 1
    with pytest.raises(rex.UnsupportedFeatureError, match="STRICT_SPREAD"):
        ray.util.placement_group([{"CPU": 1}, {"CPU": 1}], strategy="STRICT_SPREAD")
    with pytest.raises(ValueError, match="cannot fit"):
        ray.util.placement_group([{"CPU": 100}])
    ray.util.remove_placement_group(pg)


def test_a_timed_wait_returns_on_time_while_an_item_blocks(ray: ModuleType) -> None:
    """ray.wait(timeout=) returns at its deadline even while a sync method blocks."""
    release = threading.Event()

    @ray.remote
    class Blocker:
        def block(self) -> str:
            release.wait(5)
            return "released"

    ref = Blocker.remote().block.remote()
    start = time.monotonic()
    ready, _ = ray.wait([ref], timeout=0.05)
    elapsed = time.monotonic() - start
    release.set()
    assert ready == []
    assert elapsed < 1
    assert ray.get(ref, timeout=5) == "released"


def test_wait_inside_an_async_method_raises_unless_it_does_not_block(ray: ModuleType) -> None:
    """ray.wait with a timeout other than 0 inside an async method raises; timeout=0 polls."""

    @ray.remote
    class Poller:
        async def poll(self, refs: list[Any]) -> int:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            return len(ready)

        async def block(self, refs: list[Any]) -> None:
            ray.wait(refs)

    ref = ray.put(1)
    p = Poller.remote()
    assert ray.get(p.poll.remote([ref])) == 1
    with pytest.raises(RuntimeError, match="await"):
        ray.get(p.block.remote([Box.remote().identity.remote(1)]))


def test_job_env_vars_are_set_and_actor_env_vars_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ray.init(runtime_env={'env_vars'}) sets them here; an actor's own are refused."""
    monkeypatch.delenv("H13_JOB_VAR", raising=False)
    compat_ray.init(runtime_env={"env_vars": {"H13_JOB_VAR": "yes"}})
    try:
        import os

        assert os.environ["H13_JOB_VAR"] == "yes"
        with pytest.raises(rex.UnsupportedFeatureError, match="env_vars"):
            Box.options(runtime_env={"env_vars": {"X": "1"}})
        with pytest.raises(rex.UnsupportedFeatureError, match="working_dir"):
            Box.options(runtime_env={"working_dir": "/somewhere/else"})
        Box.options(runtime_env={"working_dir": "."})
    finally:
        compat_ray.shutdown()
        os.environ.pop("H13_JOB_VAR", None)


def test_dags_and_dynamic_returns_are_refused(ray: ModuleType) -> None:
    """.bind() and num_returns='dynamic' are refused, naming the feature."""
    with pytest.raises(rex.UnsupportedFeatureError, match="bind"):
        Box.bind()

    @ray.remote
    def f() -> int:
        return 1

    with pytest.raises(rex.UnsupportedFeatureError, match="bind"):
        f.bind()
    with pytest.raises(ValueError, match="dynamic"):
        f.options(num_returns="dynamic")


def test_a_thread_that_outlives_shutdown_cannot_restart_ray(ray: ModuleType) -> None:
    """User code still running after ray.shutdown() gets an error instead of a new Ray."""
    release = threading.Event()
    started = threading.Event()
    seen: list[BaseException] = []

    @ray.remote
    def lingering() -> None:
        started.set()
        release.wait(5)
        try:
            ray.put(1)
        except RuntimeError as exc:
            seen.append(exc)

    lingering.remote()
    assert started.wait(5)
    ray.shutdown()
    release.set()
    for _ in range(500):
        if seen:
            break
        time.sleep(0.002)
    assert not ray.is_initialized()
    assert seen
    assert "shutdown" in str(seen[0])
    ray.init()


def test_a_get_takes_the_loop_back_from_the_helper(ray: ModuleType) -> None:
    """After a pause long enough for the helper to run the loop, gets still work at once."""
    b = Box.remote()
    assert ray.get(b.keep.remote(1)) == 1
    time.sleep(0.1)  # the helper runs the loop meanwhile
    start = time.monotonic()
    assert ray.get([b.keep.remote(i) for i in range(100)]) == list(range(2, 102))
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("at_call", [1, 2], ids=["entering", "leaving"])
def test_ctrl_c_during_a_remote_call_leaves_the_loop_usable(
    ray: ModuleType, monkeypatch: pytest.MonkeyPatch, at_call: int
) -> None:
    """Ctrl-C raised right after .remote() sets (1) or unsets (2) the thread's running loop
    (SIGINT's handler raises after any call) leaves the loop free and unset in this thread:
    later gets work (the loop stayed locked, every get waiting forever, or set, every get
    raising that it would block the loop)."""
    from asyncactors.compat.ray import _driver

    b = Box.remote()
    assert ray.get(b.keep.remote(0)) == 1
    real = _driver._set_running_loop
    calls = 0

    def interrupted(loop: asyncio.AbstractEventLoop | None) -> None:
        nonlocal calls
        real(loop)
        calls += 1
        if calls == at_call:
            raise KeyboardInterrupt

    monkeypatch.setattr(_driver, "_set_running_loop", interrupted)
    with pytest.raises(KeyboardInterrupt):
        b.keep.remote(1)
    monkeypatch.setattr(_driver, "_set_running_loop", real)
    assert asyncio._get_running_loop() is None
    assert ray.get(b.keep.remote(2), timeout=5) in (2, 3)


def test_a_remote_call_takes_the_loop_back_from_the_helper(ray: ModuleType) -> None:
    """Once the helper runs the loop (no thread blocks on it), a .remote() takes the loop
    back, so that the calls after it go to the loop directly, each without waking the
    helper."""
    from asyncactors.compat.ray._worker import current

    b = Box.remote()
    assert ray.get(b.keep.remote(1)) == 1
    rt = current()
    assert rt is not None
    driver = rt.driver
    deadline = time.monotonic() + 5
    while driver._owner is None or driver._owner != driver._helper_ident:
        assert time.monotonic() < deadline, "the helper never ran the loop"
        time.sleep(0.005)
    assert driver.enter()  # what each .remote() does first
    driver.leave()
    assert ray.get(b.keep.remote(2)) == 2


def test_remote_calls_do_not_each_wait_for_a_loop_a_callback_holds(ray: ModuleType) -> None:
    """While the helper runs a method that holds the loop, .remote() asks it once to let
    go and sends its calls at once after that, instead of waiting again for each."""
    from asyncactors.compat.ray._worker import current

    release = threading.Event()
    holding = threading.Event()

    @ray.remote
    class Holder:
        async def hold(self) -> None:
            holding.set()
            release.wait(10)  # blocks the loop, on purpose

    b = Box.remote()
    assert ray.get(b.keep.remote(0)) == 1
    h = Holder.remote()
    ref = h.hold.remote()  # nobody blocks: the helper runs it
    assert holding.wait(5)
    rt = current()
    assert rt is not None
    assert rt.driver._owner == rt.driver._helper_ident
    start = time.monotonic()
    refs = [b.keep.remote(i) for i in range(100)]
    assert time.monotonic() - start < 1.0  # not 100 waits of up to 20 ms
    release.set()
    assert ray.get(refs, timeout=10) == list(range(2, 102))
    ray.get(ref, timeout=10)


def test_constructor_error_with_max_restarts_restarts_then_dies(ray: ModuleType) -> None:
    """An actor whose __init__ keeps raising is restarted within max_restarts, then dead."""
    attempts: list[int] = []

    @ray.remote(max_restarts=2)
    class Failing:
        def __init__(self) -> None:
            attempts.append(1)
            raise OSError("no disk")

        def m(self) -> None: ...

    with pytest.raises(rex.ActorDiedError, match="no disk"):
        ray.get(Failing.remote().m.remote(), timeout=10)
    assert len(attempts) == 3
