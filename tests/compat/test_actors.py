"""Ray's actor behaviour, through asyncactors.compat.ray in Ray's sync style.

After the behaviour Ray's own test_actor.py, test_asyncio.py and
test_actor_lifetime.py check; the tests are our own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import ModuleType
from typing import Any

import pytest

import asyncactors.compat.ray as compat_ray
from asyncactors.compat.ray import exceptions as rex


@compat_ray.remote
class Counter:
    def __init__(self, start: int = 0) -> None:
        self.n = start

    def incr(self, k: int = 1) -> int:
        self.n += k
        return self.n

    def value(self) -> int:
        return self.n

    def thread(self) -> int:
        return threading.get_ident()

    def _private(self) -> str:
        return "private"

    @staticmethod
    def static(x: int) -> int:
        return x * 10

    @classmethod
    def name_of(cls) -> str:
        return cls.__name__


@compat_ray.remote
class AsyncCounter:
    def __init__(self) -> None:
        self.n = 0
        self.event = asyncio.Event()

    async def incr(self) -> int:
        self.n += 1
        return self.n

    async def wait_event(self) -> str:
        await self.event.wait()
        return "released"

    async def set_event(self) -> None:
        self.event.set()

    def sync_value(self) -> int:
        return self.n

    def loop_running(self) -> bool:
        return asyncio.get_running_loop() is not None


def test_actor_state_is_kept_across_calls_in_order(ray: ModuleType) -> None:
    """Calls to one actor run in submission order and share its state."""
    c = Counter.remote(10)
    refs = [c.incr.remote() for _ in range(5)]
    assert ray.get(refs) == [11, 12, 13, 14, 15]
    assert ray.get(c.value.remote()) == 15


def test_actor_constructor_takes_arguments_and_keywords(ray: ModuleType) -> None:
    """`Cls.remote(*args, **kwargs)` passes them to `__init__`."""
    assert ray.get(Counter.remote(start=3).value.remote()) == 3


def test_static_class_and_private_methods_are_callable(ray: ModuleType) -> None:
    """Static methods, class methods and `_private` methods are actor methods, as in Ray."""
    c = Counter.remote()
    assert ray.get(c.static.remote(4)) == 40
    assert ray.get(c.name_of.remote()) == "Counter"
    assert ray.get(c._private.remote()) == "private"


def test_threaded_actor_methods_run_off_the_event_loop(ray: ModuleType) -> None:
    """A sync actor's methods run in a thread without a running event loop."""

    @ray.remote
    class Probe:
        def loop(self) -> bool:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return False
            return True

    assert ray.get(Probe.remote().loop.remote()) is False


def test_async_actor_runs_calls_concurrently(ray: ModuleType) -> None:
    """An async actor's calls interleave: one waits on an event that a later call sets."""
    a = AsyncCounter.remote()
    waiting = a.wait_event.remote()
    ready, _ = ray.wait([waiting], timeout=0.05)
    assert ready == []
    ray.get(a.set_event.remote())
    assert ray.get(waiting, timeout=5) == "released"


def test_sync_method_of_an_async_actor_runs_on_its_loop(ray: ModuleType) -> None:
    """In an async actor a sync method runs on the actor's event loop, as in Ray."""
    a = AsyncCounter.remote()
    ray.get(a.incr.remote())
    assert ray.get(a.sync_value.remote()) == 1
    assert ray.get(a.loop_running.remote()) is True


def test_default_max_concurrency_is_one_for_threaded_actors(ray: ModuleType) -> None:
    """Threaded actors run one call at a time unless max_concurrency says otherwise."""

    @ray.remote
    class Busy:
        def __init__(self) -> None:
            self.running = 0
            self.peak = 0
            self.lock = threading.Lock()

        def work(self) -> int:
            with self.lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
            time.sleep(0.01)
            with self.lock:
                self.running -= 1
            return self.peak

    serial = Busy.remote()
    assert max(ray.get([serial.work.remote() for _ in range(4)])) == 1
    parallel = Busy.options(max_concurrency=4).remote()
    assert max(ray.get([parallel.work.remote() for _ in range(4)])) > 1


def test_sync_method_may_block_in_get_without_stalling_other_actors(ray: ModuleType) -> None:
    """A threaded actor's method calls ray.get on another actor and gets its result."""

    @ray.remote
    class Caller:
        def call(self, other: Any) -> int:
            return ray.get(other.incr.remote(5)) + 1

    c = Counter.remote()
    assert ray.get(Caller.remote().call.remote(c)) == 6


def test_get_inside_async_method_raises_a_clear_error(ray: ModuleType) -> None:
    """ray.get on the event loop thread raises, telling to await instead."""

    @ray.remote
    class Bad:
        async def call(self, other: Any) -> int:
            return ray.get(other.incr.remote())  # type: ignore[no-any-return]

        async def good(self, other: Any) -> int:
            return await other.incr.remote()  # type: ignore[no-any-return]

    c = Counter.remote()
    b = Bad.remote()
    with pytest.raises(RuntimeError, match="await ref") as info:
        ray.get(b.call.remote(c))
    assert isinstance(info.value, rex.RayTaskError)
    assert ray.get(b.good.remote(c)) == 2


def test_wait_inside_async_method_raises_and_its_suggestion_works(ray: ModuleType) -> None:
    """ray.wait on the event loop thread raises; the asyncio.wait code its message
    suggests runs as written and waits for the refs."""

    @ray.remote
    class Waiter:
        async def bad(self, other: Any) -> Any:
            return ray.wait([other.incr.remote()])

        async def good(self, other: Any) -> int:
            refs = [other.incr.remote() for _ in range(3)]
            done, pending = await asyncio.wait([asyncio.ensure_future(r) for r in refs])
            return len(done) + 10 * len(pending)

    c = Counter.remote()
    w = Waiter.remote()
    with pytest.raises(RuntimeError, match=r"ray\.wait\(\) would block") as info:
        ray.get(w.bad.remote(c))
    suggestion = str(info.value).split("'")[-2]
    assert suggestion == "await asyncio.wait([asyncio.ensure_future(r) for r in refs])"
    assert ray.get(w.good.remote(c)) == 3


def test_await_a_ref_inside_an_async_actor(ray: ModuleType) -> None:
    """Inside an async method, `await ref` and `asyncio.gather` give the values."""

    @ray.remote
    class Fan:
        async def fan(self, others: list[Any]) -> list[int]:
            return list(await asyncio.gather(*[o.incr.remote() for o in others]))

    others = [Counter.remote(i) for i in range(3)]
    assert ray.get(Fan.remote().fan.remote(others)) == [1, 2, 3]


def test_named_actor_is_found_by_name_and_namespace(ray: ModuleType) -> None:
    """get_actor() finds a named actor in its namespace only; names are unique per namespace."""
    c = Counter.options(name="counter").remote()
    ray.get(c.incr.remote())
    found = ray.get_actor("counter")
    assert found == c
    assert ray.get(found.value.remote()) == 1
    with pytest.raises(ValueError, match="already"):
        Counter.options(name="counter").remote()
    other = Counter.options(name="counter", namespace="elsewhere").remote(100)
    assert ray.get(ray.get_actor("counter", namespace="elsewhere").value.remote()) == 100
    assert other != c
    with pytest.raises(ValueError, match="Failed to look up actor"):
        ray.get_actor("nobody")


def test_get_if_exists_returns_the_existing_actor(ray: ModuleType) -> None:
    """get_if_exists=True gives a handle to the live actor of that name."""
    a = Counter.options(name="once", get_if_exists=True).remote(1)
    b = Counter.options(name="once", get_if_exists=True).remote(99)
    assert a == b
    assert ray.get(b.value.remote()) == 1


def test_list_named_actors(ray: ModuleType) -> None:
    """ray.util.list_named_actors lists this namespace's names, or all with their namespaces."""
    keep = [
        Counter.options(name="a").remote(),
        Counter.options(name="b", namespace="x").remote(),
    ]
    assert ray.util.list_named_actors() == ["a"]
    assert {"name": "b", "namespace": "x"} in ray.util.list_named_actors(all_namespaces=True)
    assert len(keep) == 2


def test_unnamed_actor_stops_when_its_handles_are_gone(ray: ModuleType) -> None:
    """An actor whose handles all went out of scope is stopped, as Ray kills it."""

    @ray.remote
    class Marker:
        def __init__(self, box: Any) -> None:
            self.box = box

    box = Counter.options(name="box").remote()
    m = Marker.remote(box)
    ray.get(m.__ray_ready__.remote())
    core = m._native._core
    del m
    for _ in range(100):
        if core.state.value == "DEAD":
            break
        ray.get(box.value.remote())
        time.sleep(0.005)
    assert core.state.value == "DEAD"


def test_detached_actor_outlives_its_handles(ray: ModuleType) -> None:
    """A detached actor stays alive without handles and is found by name."""
    Counter.options(name="keeper", lifetime="detached").remote(7)
    assert ray.get(ray.get_actor("keeper").value.remote()) == 7


def test_get_with_timeout_raises_get_timeout_error(ray: ModuleType) -> None:
    """ray.get(timeout=) raises GetTimeoutError (a TimeoutError) and the call goes on."""
    a = AsyncCounter.remote()
    ref = a.wait_event.remote()
    with pytest.raises(rex.GetTimeoutError):
        ray.get(ref, timeout=0.02)
    with pytest.raises(TimeoutError):
        ray.get([ref], timeout=0)
    ray.get(a.set_event.remote())
    assert ray.get(ref) == "released"


def test_wait_returns_ready_and_not_ready_in_input_order(ray: ModuleType) -> None:
    """ray.wait returns at most num_returns ready refs, each list in input order."""
    a = AsyncCounter.remote()
    slow = a.wait_event.remote()
    fast = [Counter.remote().incr.remote() for _ in range(3)]
    refs = [fast[0], slow, fast[1], fast[2]]
    ready, not_ready = ray.wait(refs, num_returns=2, timeout=5)
    # Which two of the fast calls finish first is the threads' to decide.
    assert len(ready) == 2
    assert set(ready) <= set(fast)
    assert ready == [r for r in refs if r in ready]
    assert not_ready == [r for r in refs if r not in ready]
    ray.get(fast)  # done, however busy the machine: the timed wait below waits for slow
    ready, not_ready = ray.wait(refs, num_returns=4, timeout=0.02)
    assert ready == fast
    assert not_ready == [slow]
    ray.get(a.set_event.remote())
    ready, not_ready = ray.wait(refs, num_returns=4)
    assert ready == refs
    assert not_ready == []


def test_wait_checks_its_arguments(ray: ModuleType) -> None:
    """ray.wait refuses duplicates, a bad num_returns and a single ref."""
    ref = ray.put(1)
    with pytest.raises(ValueError, match="unique"):
        ray.wait([ref, ref])
    with pytest.raises(ValueError, match="num_returns"):
        ray.wait([ref], num_returns=2)
    with pytest.raises(TypeError):
        ray.wait(ref)
    assert ray.wait([]) == ([], [])


def test_get_checks_its_arguments(ray: ModuleType) -> None:
    """ray.get refuses a non-ref, with Ray's exception types."""
    with pytest.raises(ValueError, match="ObjectRef"):
        ray.get(1)
    with pytest.raises(TypeError):
        ray.get([1])
    assert ray.get([]) == []


def test_actor_cannot_be_instantiated_or_called_directly(ray: ModuleType) -> None:
    """Calling the class or a method without .remote raises TypeError, as in Ray."""
    with pytest.raises(TypeError, match=r"Counter\.remote\(\)"):
        Counter()
    c = Counter.remote()
    with pytest.raises(TypeError, match=r"incr\.remote\(\)"):
        c.incr()
    with pytest.raises(AttributeError):
        c.missing.remote()
    with pytest.raises(TypeError):
        c.incr.remote(1, 2, 3)


def test_runtime_context_inside_and_outside_actors(ray: ModuleType) -> None:
    """get_runtime_context() gives the job and namespace; in an actor, its id and handle."""

    @ray.remote
    class Who:
        def who(self) -> tuple[str | None, str | None, Any]:
            ctx = ray.get_runtime_context()
            return ctx.get_actor_id(), ctx.get_actor_name(), ctx.current_actor

    ctx = ray.get_runtime_context()
    assert ctx.get_actor_id() is None
    assert ctx.get_job_id()
    assert ctx.namespace
    w = Who.options(name="who").remote()
    actor_id, name, handle = ray.get(w.who.remote())
    assert actor_id == w._actor_id.hex()
    assert name == "who"
    assert handle == w


def test_init_twice_refuses_unless_ignored_and_remote_auto_inits() -> None:
    """ray.init twice raises; the first .remote() without init starts Ray, also after shutdown."""
    ray = compat_ray
    assert not ray.is_initialized()
    c = Counter.remote()
    try:
        assert ray.is_initialized()
        assert ray.get(c.incr.remote()) == 1
        with pytest.raises(RuntimeError, match="twice"):
            ray.init()
        ray.init(ignore_reinit_error=True)
    finally:
        ray.shutdown()
    assert not ray.is_initialized()
    with pytest.raises(rex.ActorDiedError):
        ray.get(c.incr.remote())
    try:
        assert ray.get(Counter.remote().incr.remote()) == 1
    finally:
        ray.shutdown()


def test_init_namespace_holds_named_actors() -> None:
    """ray.init(namespace=) is where names are registered and looked up."""
    ray = compat_ray
    with ray.init(namespace="ns1"):
        Counter.options(name="c").remote()
        assert ray.get_runtime_context().namespace == "ns1"
        assert ray.util.list_named_actors(all_namespaces=True) == [
            {"name": "c", "namespace": "ns1"}
        ]
    assert not ray.is_initialized()


def test_resources_and_nodes_describe_one_node(ray: ModuleType) -> None:
    """cluster_resources() is what init said; actors with num_cpus hold theirs while alive."""
    assert ray.cluster_resources()["CPU"] == 2.0
    assert ray.available_resources()["CPU"] == 2.0
    assert len(ray.nodes()) == 1
    assert ray.nodes()[0]["Alive"]
    c = Counter.options(num_cpus=1).remote()
    ray.get(c.value.remote())
    assert ray.available_resources()["CPU"] == 1.0
    ray.kill(c)
    for _ in range(100):
        if ray.available_resources()["CPU"] == 2.0:
            break
        time.sleep(0.005)
    assert ray.available_resources()["CPU"] == 2.0


def test_actor_that_does_not_fit_waits_for_resources(ray: ModuleType) -> None:
    """An actor needing CPUs held by another waits until they are free, as in Ray."""

    @ray.remote(num_cpus=2)
    class Big:
        def cpus(self) -> dict[str, float]:
            return ray.get_runtime_context().get_assigned_resources()

    first = Big.remote()
    held = ray.get(first.cpus.remote())
    assert held == {"CPU": 2.0}
    assert type(held) is dict  # as Ray gives it (the native API's is AssignedResources)
    second = Big.remote()
    ready, _ = ray.wait([second.cpus.remote()], timeout=0.05)
    assert ready == []
    ray.kill(first)
    assert ray.get(second.cpus.remote(), timeout=5) == {"CPU": 2.0}
    with pytest.raises(ValueError, match="more than"):
        Big.options(num_cpus=3).remote()


def test_running_tasks_hold_their_cpus(ray: ModuleType) -> None:
    """A running task's num_cpus shows as used in available_resources()."""
    started = threading.Event()
    release = threading.Event()

    @ray.remote(num_cpus=1.5)
    def busy() -> None:
        started.set()
        release.wait(5)

    ref = busy.remote()
    assert started.wait(5)
    assert ray.available_resources()["CPU"] == 0.5
    release.set()
    ray.get(ref)
    assert ray.available_resources()["CPU"] == 2.0
