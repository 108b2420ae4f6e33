"""The fast path of pipelined calls to threaded actors keeps Ray's semantics.

Calls made in a burst and fetched with one ``ray.get`` of the list: arguments
and results copied as Ray copies them (immutable atoms passed as they are),
results in list order across actors, the first failure raised, timeouts and
cancellation; and the driver's event loop as asyncio's: callbacks in their
context, a callback's error reported, timers served on time during bursts of calls.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import statistics
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

import asyncactors.compat.ray as compat_ray
from asyncactors.compat.ray import exceptions as rex
from asyncactors.compat.ray._driver import _Item
from asyncactors.compat.ray._worker import runtime


@compat_ray.remote
class Keeper:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def keep(self, item: Any) -> Any:
        self.seen.append(item)
        return item

    def mutate(self, data: list[int]) -> list[int]:
        data.append(99)
        return data

    def tag(self, k: int, *, label: str = "") -> str:
        return f"{label}{k}"

    def fail_at(self, k: int, bad: int) -> int:
        if k == bad:
            raise ValueError(f"bad {k}")
        return k

    def sleep(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    def spin(self, seconds: float) -> float:
        """Keep this thread busy (holding the GIL) for ``seconds``."""
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
        return seconds


@compat_ray.remote
class Ticker:
    """An async actor whose background task sleeps a period again and again, noting
    how late each sleep wakes."""

    def __init__(self) -> None:
        self.late: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def start(self, period: float) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(period))

    async def _run(self, period: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + period
            await asyncio.sleep(period)
            self.late.append(loop.time() - due)

    async def stop(self) -> list[float]:
        """Stop the ticks; each one's lateness in seconds."""
        assert self.task is not None
        self.task.cancel()
        return self.late


def test_pipelined_mutable_arguments_are_copied_and_atoms_passed_as_they_are(
    ray: ModuleType,
) -> None:
    """In a burst of calls, each list argument reaches the actor as a copy (its
    mutation is not seen by the caller), while ints, strings and None arrive as the
    very objects sent."""
    k = Keeper.remote()
    data = [1, 2]
    results = ray.get([k.mutate.remote(data) for _ in range(20)])
    assert data == [1, 2]
    assert results == [[1, 2, 99]] * 20
    assert len({id(r) for r in results}) == 20  # each result is its own copy
    big = 10**30  # not a cached small int: identity shows it was not copied
    text = "".join(["pipe", "lined"])  # built at run time: not an interned constant
    assert all(v is big for v in ray.get([k.keep.remote(big) for _ in range(5)]))
    assert all(v is text for v in ray.get([k.keep.remote(text) for _ in range(5)]))
    assert ray.get([k.keep.remote(None) for _ in range(3)]) == [None] * 3


def test_pipelined_keyword_arguments_are_loaded_in_the_actor(ray: ModuleType) -> None:
    """A keyword argument (copied or not) reaches the method in a burst of calls."""
    k = Keeper.remote()
    refs = [k.tag.remote(i, label="n") for i in range(5)]
    assert ray.get(refs) == [f"n{i}" for i in range(5)]
    keys = [k.keep.remote(item={"i": i}) for i in range(3)]
    assert ray.get(keys) == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_refs_of_several_actors_resolve_in_list_order(ray: ModuleType) -> None:
    """ray.get of an interleaved list of refs to three threaded actors gives each
    value at its ref's place, and each actor ran its calls in the order sent."""
    actors = [Keeper.remote() for _ in range(3)]
    refs = [actors[i % 3].keep.remote(i) for i in range(60)]
    assert ray.get(refs) == list(range(60))
    for j, a in enumerate(actors):
        assert ray.get(a.keep.remote(-1)) == -1
        seen = ray.get(a.__ray_call__.remote(lambda obj: list(obj.seen)))
        assert seen == [*range(j, 60, 3), -1]


def test_pipelined_get_raises_the_first_failure_as_ray_does(ray: ModuleType) -> None:
    """A get raises as soon as one of its refs fails, even a ref after one still pending
    (as Ray 2.60's does); once several have failed, the first in the list's order.
    Either is a RayTaskError that is also a ValueError."""
    late = Keeper.remote()
    early = Keeper.remote()
    late.sleep.remote(0.2)  # holds late's next call back
    first = late.fail_at.remote(1, 1)
    second = early.fail_at.remote(2, 2)
    with pytest.raises(ValueError, match="bad 2") as info:
        ray.get([first, second])
    assert isinstance(info.value, rex.RayTaskError)
    assert not ray.wait([first], timeout=0)[0]
    ray.wait([first], timeout=5)
    with pytest.raises(ValueError, match="bad 1"):
        ray.get([first, second])
    with pytest.raises(ValueError, match="bad 2"):
        ray.get([second, first])


def test_pipelined_get_times_out_and_the_calls_go_on(ray: ModuleType) -> None:
    """A timed get of a burst whose calls take longer raises GetTimeoutError on
    time; a later get has every value."""
    k = Keeper.remote()
    refs = [k.sleep.remote(0.01) for _ in range(20)]
    start = time.monotonic()
    with pytest.raises(rex.GetTimeoutError):
        ray.get(refs, timeout=0.03)
    assert time.monotonic() - start < 0.3
    assert ray.get(refs) == [0.01] * 20


def test_a_cancelled_call_in_a_burst_raises_and_the_others_run(ray: ModuleType) -> None:
    """Cancelling one queued call of a burst fails it with TaskCancelledError; the
    calls around it return their values."""
    k = Keeper.remote()
    first = k.sleep.remote(0.02)
    queued = [k.keep.remote(i) for i in range(5)]
    ray.cancel(queued[2])
    assert ray.get(first) == 0.02
    for i, ref in enumerate(queued):
        if i == 2:
            with pytest.raises(rex.TaskCancelledError):
                ray.get(ref)
        else:
            assert ray.get(ref) == i


def test_threaded_methods_are_awaited_without_a_coroutine_per_call(ray: ModuleType) -> None:
    """The engine runs a threaded actor's method through a plain function returning
    the awaitable item (no coroutine per call); the method still raises as Ray does."""
    k = Keeper.remote()
    spec = k._native._core.spec.methods["keep"]
    assert not inspect.iscoroutinefunction(spec.func)
    assert ray.get(k.keep.remote(3)) == 3
    with pytest.raises(rex.RayTaskError):
        ray.get(k.fail_at.remote(1, 1))


def _tick_lateness(ray: ModuleType, burst: Callable[[Any], None]) -> tuple[int, float]:
    """Run ``burst(keeper)`` beside a Ticker with a 1 ms period: how many ticks it saw
    and their median lateness in seconds."""
    k = Keeper.remote()
    t = Ticker.remote()
    ray.get([k.keep.remote(0), t.start.remote(0.001)])
    burst(k)
    late = ray.get(t.stop.remote())
    return len(late), statistics.median(late) if late else float("inf")


# The median lateness allowed: the loop polls for timers about every millisecond
# (the ticks' own period); a generous bound for a loaded 2-core machine, far below
# what a poll every 64 callbacks gave (about 64 ms with 1 ms items).
_LATE_BOUND = 0.03


def test_timers_fire_on_time_during_a_burst_of_long_items(ray: ModuleType) -> None:
    """While the driver runs a ~200 ms burst of 1 ms calls to a threaded actor
    itself, the loop still polls for timers about every millisecond: an async
    actor's 1 ms ticker wakes with a median lateness well under 30 ms."""

    def burst(k: Any) -> None:
        ray.get([k.spin.remote(0.001) for _ in range(200)])

    ticks, median = _tick_lateness(ray, burst)
    assert ticks >= 10
    assert median < _LATE_BOUND


def test_timers_fire_on_time_during_sequential_calls(ray: ModuleType) -> None:
    """While the driver makes ~200 ms of sequential near-instant calls (driving the
    loop briefly for each), the loop still polls for timers about every
    millisecond: an async actor's 1 ms ticker keeps waking on time."""

    def burst(k: Any) -> None:
        end = time.perf_counter() + 0.2
        while time.perf_counter() < end:
            ray.get(k.keep.remote(0))

    ticks, median = _tick_lateness(ray, burst)
    assert ticks >= 5
    assert median < _LATE_BOUND


def test_driver_loop_call_soon_runs_callbacks_in_their_context(ray: ModuleType) -> None:
    """call_soon on the driver's loop runs a callback in a copy of the caller's
    context, or in the context given, with its arguments; a cancelled handle does
    not run."""
    driver = runtime().driver
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen: list[str] = []
    var.set("caller")
    given = contextvars.copy_context()
    given.run(var.set, "given")

    def schedule() -> None:
        driver.loop.call_soon(lambda: seen.append(var.get()))
        driver.loop.call_soon(lambda: seen.append(var.get()), context=given)
        driver.loop.call_soon(seen.append, "cancelled").cancel()
        driver.loop.call_soon(seen.append, "with arguments")

    driver.call_on_loop(schedule)
    k = Keeper.remote()
    ray.get(k.keep.remote(0))
    assert seen == ["caller", "given", "with arguments"]


def test_a_callbacks_error_goes_to_the_loops_exception_handler(ray: ModuleType) -> None:
    """A callback that raises on the driver's loop is reported to the loop's exception
    handler, as asyncio reports it, and the loop goes on."""
    driver = runtime().driver
    reported: list[dict[str, Any]] = []
    driver.loop.set_exception_handler(lambda loop, context: reported.append(context))

    def boom() -> None:
        raise RuntimeError("boom")

    driver.call_on_loop(driver.loop.call_soon, boom)
    k = Keeper.remote()
    assert ray.get([k.keep.remote(i) for i in range(3)]) == [0, 1, 2]
    assert len(reported) == 1
    assert reported[0]["message"].startswith("Exception in callback ")
    assert "boom" in reported[0]["message"]
    assert isinstance(reported[0]["exception"], RuntimeError)
    assert isinstance(reported[0]["handle"], asyncio.Handle)


@compat_ray.remote(num_cpus=0)  # no CPUs held: every task of a list is queued at once
def plus_one(x: int) -> int:
    return x + 1


def test_a_long_list_of_tasks_is_run_without_rescanning_the_queue(
    ray: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Running a list of 1000 tasks itself, the driver looks at each queued item's
    ``share`` flag about once, not once per item run before it (which made a list
    of n tasks cost n * n / 2 looks)."""
    slot = _Item.__dict__["share"]
    looks = 0

    class Counted:
        def __get__(self, obj: Any, owner: Any = None) -> Any:
            nonlocal looks
            looks += 1
            return slot.__get__(obj, owner)

        def __set__(self, obj: Any, value: Any) -> None:
            slot.__set__(obj, value)

    ray.get(plus_one.remote(0))
    monkeypatch.setattr(_Item, "share", Counted())
    n = 1000
    assert ray.get([plus_one.remote(i) for i in range(n)]) == list(range(1, n + 1))
    assert looks <= 2 * n
