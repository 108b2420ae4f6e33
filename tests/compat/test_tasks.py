"""Ray's tasks, ActorPool and concurrency groups through asyncactors.compat.ray.

After the behaviour Ray's own test_basic.py, test_actor_pool.py and
test_concurrency_group.py check; the tests are our own.
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
def double(x: int) -> int:
    return 2 * x


@compat_ray.remote
async def adouble(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


@compat_ray.remote(num_returns=2)
def pair(x: int) -> tuple[int, int]:
    return x, x + 1


def test_sync_and_async_tasks_return_their_values(ray: ModuleType) -> None:
    """Sync and async remote functions run as tasks; ray.get gives their results."""
    assert ray.get(double.remote(21)) == 42
    assert ray.get(adouble.remote(4)) == 8
    assert ray.get([double.remote(i) for i in range(5)]) == [0, 2, 4, 6, 8]


def test_task_refs_chain_as_arguments(ray: ModuleType) -> None:
    """A ref passed as an argument is resolved to its value before the task runs."""
    ref = double.remote(1)
    for _ in range(5):
        ref = double.remote(ref)
    assert ray.get(ref) == 64
    assert ray.get(double.remote(x=ray.put(5))) == 10


def test_nested_refs_stay_refs(ray: ModuleType) -> None:
    """A ref inside a list argument arrives as the same ref, not its value."""

    @ray.remote
    def first(refs: list[Any]) -> Any:
        return ray.get(refs[0])

    inner = ray.put("inner")
    assert ray.get(first.remote([inner])) == "inner"


def test_tasks_can_submit_and_wait_for_tasks(ray: ModuleType) -> None:
    """A task may call other tasks and block on them, recursively."""

    @ray.remote
    def fib(n: int) -> int:
        if n < 2:
            return n
        return sum(ray.get([fib.remote(n - 1), fib.remote(n - 2)]))

    assert ray.get(fib.remote(8)) == 21


def test_sync_tasks_run_in_parallel(ray: ModuleType) -> None:
    """Sync tasks that block run at the same time, not one after another."""
    barrier = threading.Barrier(3, timeout=5)

    @ray.remote
    def meet() -> bool:
        barrier.wait()
        return True

    assert ray.get([meet.remote() for _ in range(3)], timeout=10) == [True] * 3


def test_num_returns_gives_a_ref_per_value(ray: ModuleType) -> None:
    """num_returns=2 returns two refs; options(num_returns=) overrides per call."""
    a, b = pair.remote(1)
    assert ray.get(a) == 1
    assert ray.get(b) == 2

    @ray.remote
    def listify(xs: list[int]) -> list[int]:
        return list(xs)

    x, y, z = listify.options(num_returns=3).remote([1, 2, 3])
    assert ray.get([x, y, z]) == [1, 2, 3]


def test_num_returns_mismatch_fails_each_ref(ray: ModuleType) -> None:
    """A task returning the wrong number of values fails every one of its refs."""

    @ray.remote(num_returns=3)
    def two() -> tuple[int, int]:
        return 1, 2

    refs = two.remote()
    for r in refs:
        with pytest.raises(ValueError, match="num_returns=3"):
            ray.get(r)


def test_num_returns_zero_returns_none(ray: ModuleType) -> None:
    """num_returns=0 returns no ref; the task still runs."""
    done = threading.Event()

    @ray.remote(num_returns=0)
    def side_effect() -> None:
        done.set()

    assert side_effect.remote() is None
    assert ray.get(double.remote(1)) == 2
    assert done.wait(5)


def test_actor_method_num_returns(ray: ModuleType) -> None:
    """@ray.method(num_returns=2) and .options(num_returns=) on actor methods."""

    @ray.remote
    class Splitter:
        @ray.method(num_returns=2)
        def split(self, s: str) -> tuple[str, str]:
            head, _, tail = s.partition(" ")
            return head, tail

        def three(self) -> list[int]:
            return [1, 2, 3]

    s = Splitter.remote()
    head, tail = s.split.remote("hello world")
    assert ray.get([head, tail]) == ["hello", "world"]
    refs = s.three.options(num_returns=3).remote()
    assert ray.get(refs) == [1, 2, 3]


def test_task_retries_on_exception_with_retry_exceptions(ray: ModuleType) -> None:
    """retry_exceptions=True reruns a failing task up to max_retries times."""
    attempts: list[int] = []

    @ray.remote(max_retries=3, retry_exceptions=True)
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise ValueError("not yet")
        return len(attempts)

    assert ray.get(flaky.remote()) == 3

    tries: list[int] = []

    @ray.remote(max_retries=1, retry_exceptions=True)
    def hopeless() -> None:
        tries.append(1)
        raise ValueError("never")

    with pytest.raises(ValueError, match="never"):
        ray.get(hopeless.remote())
    assert len(tries) == 2


def test_task_without_retry_exceptions_is_not_retried(ray: ModuleType) -> None:
    """By default an application exception is not retried (retry_exceptions=False)."""
    tries: list[int] = []

    @ray.remote
    def once() -> None:
        tries.append(1)
        raise ValueError("once")

    with pytest.raises(ValueError, match="once"):
        ray.get(once.remote())
    assert tries == [1]


def test_retry_exceptions_as_a_list_of_types(ray: ModuleType) -> None:
    """retry_exceptions=[KeyError] retries KeyError only."""
    tries: list[int] = []

    @ray.remote(max_retries=2, retry_exceptions=[KeyError])
    def picky(exc: type[Exception]) -> None:
        tries.append(1)
        raise exc("x")

    with pytest.raises(ValueError, match="x"):
        ray.get(picky.remote(ValueError))
    assert len(tries) == 1
    with pytest.raises(KeyError):
        ray.get(picky.remote(KeyError))
    assert len(tries) == 4


def test_task_options_are_checked(ray: ModuleType) -> None:
    """Unknown and actor-only options are refused, as Ray refuses them."""
    with pytest.raises(ValueError, match="Invalid option keyword max_restarts"):
        double.options(max_restarts=1)
    with pytest.raises(ValueError, match="Invalid option keyword bogus"):
        compat_ray.remote(bogus=1)(lambda: None)
    with pytest.raises(TypeError, match="cannot be called directly"):
        double(1)
    assert (
        ray.get(double.options(num_cpus=0.5, name="d", scheduling_strategy="SPREAD").remote(2)) == 4
    )


def test_task_arguments_are_checked_at_the_call(ray: ModuleType) -> None:
    """A call whose arguments do not fit the function raises TypeError at .remote()."""
    with pytest.raises(TypeError):
        double.remote(1, 2)


def test_actor_pool_map_in_order_and_unordered(ray: ModuleType) -> None:
    """ActorPool.map yields in submission order, map_unordered as calls finish."""

    @ray.remote
    class Worker:
        def work(self, x: int) -> int:
            time.sleep(0.001 * (5 - x))
            return x * x

    pool = ray.util.ActorPool([Worker.remote() for _ in range(3)])
    assert list(pool.map(lambda a, v: a.work.remote(v), range(5))) == [0, 1, 4, 9, 16]
    assert sorted(pool.map_unordered(lambda a, v: a.work.remote(v), range(5))) == [
        0,
        1,
        4,
        9,
        16,
    ]


def test_actor_pool_submit_get_next_and_queueing(ray: ModuleType) -> None:
    """Submissions beyond the idle actors wait; get_next returns in order; has_next ends."""

    @ray.remote
    class Worker:
        def work(self, x: int) -> int:
            return x + 100

    pool = ray.util.ActorPool([Worker.remote()])
    for v in range(4):
        pool.submit(lambda a, v: a.work.remote(v), v)
    assert not pool.has_free()
    results = []
    while pool.has_next():
        results.append(pool.get_next())
    assert results == [100, 101, 102, 103]
    assert pool.has_free()
    with pytest.raises(StopIteration):
        pool.get_next()


def test_actor_pool_timeout_push_and_pop(ray: ModuleType) -> None:
    """get_next(timeout=) raises TimeoutError; pop_idle and push change the pool."""

    @ray.remote
    class Slow:
        async def work(self, gate: Any) -> str:
            await gate.wait.remote()
            return "done"

    @ray.remote
    class Gate:
        def __init__(self) -> None:
            self.event = asyncio.Event()

        async def wait(self) -> None:
            await self.event.wait()

        async def open(self) -> None:
            self.event.set()

    gate = Gate.remote()
    first = Slow.remote()
    pool = ray.util.ActorPool([first])
    pool.submit(lambda a, g: a.work.remote(g), gate)
    with pytest.raises(TimeoutError):
        pool.get_next(timeout=0.02)
    ray.get(gate.open.remote())
    assert pool.get_next(timeout=5) == "done"
    idle = pool.pop_idle()
    assert idle == first
    assert pool.pop_idle() is None
    pool.push(idle)
    with pytest.raises(ValueError, match="already"):
        pool.push(idle)


def test_actor_pool_get_next_after_unordered_is_refused(ray: ModuleType) -> None:
    """get_next() after get_next_unordered() took a later result raises ValueError."""

    @ray.remote
    class Worker:
        def work(self, x: int) -> int:
            return x

    pool = ray.util.ActorPool([Worker.remote(), Worker.remote()])
    pool.submit(lambda a, v: a.work.remote(v), 1)
    pool.submit(lambda a, v: a.work.remote(v), 2)
    got = pool.get_next_unordered(timeout=5)
    if pool.has_next():
        if got == 2:
            with pytest.raises(ValueError, match="get_next_unordered"):
                pool.get_next()
        else:
            assert pool.get_next() == 2


def test_concurrency_groups_limit_each_group(ray: ModuleType) -> None:
    """Methods of a concurrency group run at most its limit at a time, per group."""

    @ray.remote(concurrency_groups={"io": 2, "compute": 1})
    class Grouped:
        def __init__(self) -> None:
            self.running: dict[str, int] = {"io": 0, "compute": 0}
            self.peak: dict[str, int] = {"io": 0, "compute": 0}

        async def _track(self, group: str) -> None:
            self.running[group] += 1
            self.peak[group] = max(self.peak[group], self.running[group])
            await asyncio.sleep(0.01)
            self.running[group] -= 1

        @ray.method(concurrency_group="io")
        async def io(self) -> None:
            await self._track("io")

        @ray.method(concurrency_group="compute")
        async def compute(self) -> None:
            await self._track("compute")

        async def peaks(self) -> dict[str, int]:
            return self.peak

    g = Grouped.remote()
    ray.get([g.io.remote() for _ in range(6)] + [g.compute.remote() for _ in range(3)])
    assert ray.get(g.peaks.remote()) == {"io": 2, "compute": 1}


def test_concurrency_group_chosen_per_call(ray: ModuleType) -> None:
    """options(concurrency_group=) runs a call in another group; unknown groups are refused."""

    @ray.remote(concurrency_groups={"side": 1})
    class Busy:
        def __init__(self) -> None:
            self.event = asyncio.Event()

        async def block(self) -> str:
            await self.event.wait()
            return "unblocked"

        async def release(self) -> None:
            self.event.set()

    b = Busy.options(max_concurrency=1).remote()
    blocked = b.block.remote()
    # The default group's one slot is taken: the release must come through "side".
    ray.get(b.release.options(concurrency_group="side").remote(), timeout=5)
    assert ray.get(blocked, timeout=5) == "unblocked"
    with pytest.raises(ValueError, match="nope"):
        b.release.options(concurrency_group="nope").remote()


def test_concurrency_groups_on_a_threaded_actor(ray: ModuleType) -> None:
    """A threaded actor's groups run its sync methods in parallel, up to each limit."""
    barrier = threading.Barrier(2, timeout=5)

    @ray.remote(concurrency_groups={"pair": 2})
    class Threaded:
        @ray.method(concurrency_group="pair")
        def meet(self) -> bool:
            barrier.wait()
            return True

    t = Threaded.remote()
    assert ray.get([t.meet.remote(), t.meet.remote()], timeout=10) == [True, True]


def test_concurrency_groups_in_options_are_refused(ray: ModuleType) -> None:
    """ActorClass.options() refuses concurrency_groups, as Ray does."""

    @ray.remote
    class Plain:
        def m(self) -> None: ...

    with pytest.raises(ValueError, match="concurrency_groups"):
        Plain.options(concurrency_groups={"a": 1})
    with pytest.raises(ValueError, match="missing"):

        @ray.remote
        class Undeclared:
            @ray.method(concurrency_group="missing")
            def m(self) -> None: ...


def test_put_copies_and_get_gives_a_fresh_copy(ray: ModuleType) -> None:
    """ray.put copies the value; each ray.get returns a new copy."""
    data = [1, 2, 3]
    ref = ray.put(data)
    data.append(4)
    first = ray.get(ref)
    assert first == [1, 2, 3]
    first.append(99)
    assert ray.get(ref) == [1, 2, 3]
    with pytest.raises(TypeError, match="put"):
        ray.put(ref)


def test_get_timeout_on_a_task(ray: ModuleType) -> None:
    """ray.get of a slow task with a timeout raises GetTimeoutError."""

    @ray.remote
    async def slow() -> str:
        await asyncio.sleep(0.2)
        return "late"

    ref = slow.remote()
    with pytest.raises(rex.GetTimeoutError):
        ray.get(ref, timeout=0.01)
    assert ray.get(ref, timeout=5) == "late"
