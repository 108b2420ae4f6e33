"""ActorPool: Ray's ray.util.ActorPool, async, losing nothing (issue 10, part 4)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import asyncactors
from asyncactors import ActorDiedError, ActorPool, ActorSystem, GetTimeoutError

from .test_properties import _run

ROOT = Path(__file__).resolve().parent.parent


class Gates:
    """Per-value events: ``started[v]`` is set when v's task starts; it ends when
    ``release[v]`` is set, setting ``returning[v]`` as it returns. ``finished``
    lists the values in the order they returned."""

    def __init__(self) -> None:
        self.started: defaultdict[Any, asyncio.Event] = defaultdict(asyncio.Event)
        self.release: defaultdict[Any, asyncio.Event] = defaultdict(asyncio.Event)
        self.returning: defaultdict[Any, asyncio.Event] = defaultdict(asyncio.Event)
        self.finished: list[Any] = []

    def open(self, *values: Any) -> None:
        for v in values:
            self.release[v].set()

    def started_values(self) -> list[Any]:
        return [v for v, e in self.started.items() if e.is_set()]


class Boom(Exception):
    pass


@asyncactors.remote
class Worker:
    """Counts how many of its calls run at once (``peak``)."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.values: list[Any] = []

    async def work(self, v: Any, gates: Gates, fail: bool = False) -> Any:
        self.running += 1
        self.peak = max(self.peak, self.running)
        self.values.append(v)
        try:
            gates.started[v].set()
            await gates.release[v].wait()
            gates.finished.append(v)
            gates.returning[v].set()
            if fail:
                raise Boom(v)
            return v * 10
        finally:
            self.running -= 1

    def double(self, v: int) -> int:
        self.values.append(v)
        return 2 * v

    def stats(self) -> tuple[int, list[Any]]:
        return self.peak, self.values


def work(gates: Gates) -> Any:
    return lambda a, v: a.work.remote(v, gates)


def double(a: Any, v: int) -> Any:
    return a.double.remote(v)


async def started(gates: Gates, *values: Any) -> None:
    for v in values:
        await gates.started[v].wait()


async def settle() -> None:
    """Let the loop run the callbacks and drains already scheduled."""
    for _ in range(5):
        await asyncio.sleep(0)


# -- ordering ---------------------------------------------------------------------------


async def test_get_next_returns_results_in_submission_order() -> None:
    """get_next() returns results in submission order even when later tasks finish first."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote() for _ in range(3)])
        for v in range(3):
            pool.submit(work(gates), v)
        await started(gates, 0, 1, 2)
        gates.open(2)
        gates.open(1)
        await settle()
        assert gates.finished == [2, 1]
        next_result = asyncio.ensure_future(pool.get_next())
        await settle()
        assert not next_result.done()  # it waits for value 0, not the finished ones
        gates.open(0)
        assert await next_result == 0
        assert [await pool.get_next(), await pool.get_next()] == [10, 20]
        assert not pool.has_next()


async def test_get_next_after_each_submit() -> None:
    """Ray's test_get_next: submit one value, then get its result, five times."""
    async with ActorSystem():
        pool = ActorPool([Worker.remote() for _ in range(4)])
        for i in range(5):
            pool.submit(double, i)
            assert await pool.get_next() == 2 * i


async def test_get_next_unordered_returns_whichever_finishes_first() -> None:
    """get_next_unordered() returns results in the order their tasks finish."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote() for _ in range(3)])
        for v in range(3):
            pool.submit(work(gates), v)
        await started(gates, 0, 1, 2)
        gates.open(1)
        assert await pool.get_next_unordered() == 10
        gates.open(2)
        assert await pool.get_next_unordered() == 20
        gates.open(0)
        assert await pool.get_next_unordered() == 0
        assert not pool.has_next()


async def test_map_yields_in_submission_order() -> None:
    """map() is an async iterator over the results in the order of the values."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote() for _ in range(4)])
        results = pool.map(work(gates), range(4))
        gates.open(3, 2, 1, 0)
        assert [r async for r in results] == [0, 10, 20, 30]
        assert [r async for r in pool.map(double, range(5))] == [0, 2, 4, 6, 8]


async def test_map_unordered_yields_in_finishing_order() -> None:
    """map_unordered() yields each result as its task finishes."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote() for _ in range(3)])
        results = pool.map_unordered(work(gates), [0, 1, 2])
        await started(gates, 0, 1, 2)
        gates.open(2)
        assert await anext(results) == 20
        gates.open(0, 1)
        assert [r async for r in results] == [0, 10]


async def test_map_submits_every_value_before_iteration() -> None:
    """As in Ray, map() submits at once; iterating only collects the results."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote() for _ in range(2)])
        results = pool.map(work(gates), range(2))
        await started(gates, 0, 1)
        gates.open(0, 1)
        assert [r async for r in results] == [0, 10]


async def test_map_refuses_while_earlier_results_are_unretrieved() -> None:
    """map() raises ValueError rather than discarding earlier results as Ray does."""
    async with ActorSystem():
        pool = ActorPool([Worker.remote()])
        pool.submit(double, 5)
        with pytest.raises(ValueError, match=r"map\(\) would mix its results with 1 earlier"):
            pool.map(double, [1])
        with pytest.raises(ValueError, match=r"map_unordered\(\) would mix"):
            pool.map_unordered(double, [1])
        assert await pool.get_next() == 10  # the earlier result is still there
        assert [r async for r in pool.map_unordered(double, [1])] == [2]


async def test_map_with_no_values_yields_nothing() -> None:
    """map() over no values is an empty iterator."""
    async with ActorSystem():
        pool = ActorPool([Worker.remote()])
        assert [r async for r in pool.map(double, [])] == []


# -- queueing, push, pop_idle --------------------------------------------------------------


async def test_submissions_wait_while_every_actor_is_busy_and_start_in_order() -> None:
    """With every actor busy, submissions queue and start first-in first-out."""
    async with ActorSystem():
        gates = Gates()
        a, b = Worker.remote(), Worker.remote()
        pool = ActorPool([a, b])
        for v in range(5):
            pool.submit(work(gates), v)
        await started(gates, 0, 1)
        await settle()
        assert gates.started_values() == [0, 1]
        assert not pool.has_free()
        gates.open(1)
        await started(gates, 2)
        await settle()
        assert gates.started_values() == [0, 1, 2]
        gates.open(0, 2, 3, 4)
        assert [await pool.get_next() for _ in range(5)] == [0, 10, 20, 30, 40]


async def test_new_submission_does_not_overtake_queued_ones() -> None:
    """A value submitted just as an actor frees up waits behind those already queued."""
    async with ActorSystem():
        gates = Gates()
        a = Worker.remote()
        pool = ActorPool([a])
        pool.submit(work(gates), 0)
        pool.submit(work(gates), 1)
        gates.open(0)
        # Wakes in the loop iteration where value 0's task finishes, before the
        # pool has started value 1.
        await gates.returning[0].wait()
        pool.submit(work(gates), 2)
        gates.open(1, 2)
        assert [await pool.get_next() for _ in range(3)] == [0, 10, 20]
        assert (await a.stats.remote())[1] == [0, 1, 2]


async def test_queued_submissions_all_run_and_return_in_order() -> None:
    """Ten values on two actors: every value yields exactly one result, in order."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote(), Worker.remote()])
        for v in range(10):
            pool.submit(work(gates), v)
        gates.open(*range(9, -1, -1))
        assert [await pool.get_next() for _ in range(10)] == [v * 10 for v in range(10)]
        assert not pool.has_next()


async def test_each_actor_runs_one_pool_task_at_a_time_by_default() -> None:
    """An actor with max_concurrency 1000 still runs one pool task at a time, as in Ray."""
    async with ActorSystem():
        gates = Gates()
        actors = [Worker.remote(), Worker.remote()]
        pool = ActorPool(actors)
        results = pool.map(work(gates), range(8))
        gates.open(*range(8))
        assert [r async for r in results] == [v * 10 for v in range(8)]
        for actor in actors:
            peak, values = await actor.stats.remote()
            assert peak == 1
            assert values  # the work was spread over both actors


async def test_actor_is_free_again_when_its_task_finishes() -> None:
    """An actor is free as soon as its task finishes, before get_next() fetches the result."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote()])
        pool.submit(work(gates), 0)
        pool.submit(work(gates), 1)
        assert not pool.has_free()
        gates.open(0)
        await started(gates, 1)  # value 1 started without any get_next()
        gates.open(1)
        await settle()
        assert pool.has_free()
        assert [await pool.get_next(), await pool.get_next()] == [0, 10]


async def test_has_next_counts_queued_submissions() -> None:
    """has_next() is True from submit() until the result is retrieved, queued or not."""
    async with ActorSystem():
        pool = ActorPool([Worker.remote()])
        assert not pool.has_next()
        pool.submit(double, 1)
        pool.submit(double, 2)
        assert pool.has_next()
        assert await pool.get_next() == 2
        assert pool.has_next()
        assert await pool.get_next() == 4
        assert not pool.has_next()


async def test_pop_idle_as_in_ray() -> None:
    """Ray's test_pop_idle: None while the actor is busy; the actor once it is idle."""
    async with ActorSystem():
        a = Worker.remote()
        pool = ActorPool([a])
        pool.submit(double, 1)
        assert pool.pop_idle() is None
        assert pool.has_free() is False
        assert await pool.get_next() == 2
        assert pool.has_free()
        assert pool.pop_idle() == a
        assert pool.has_free() is False
        assert pool.pop_idle() is None


async def test_pop_idle_returns_none_while_submissions_are_queued() -> None:
    """pop_idle() pops nothing while values wait for an actor (has_free() is False)."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote()], max_in_flight_per_actor=1)
        pool.push(Worker.remote())
        for v in range(3):
            pool.submit(work(gates), v)
        await started(gates, 0, 1)
        assert pool.pop_idle() is None
        gates.open(0, 1, 2)
        assert [await pool.get_next() for _ in range(3)] == [0, 10, 20]
        assert pool.pop_idle() is not None
        assert pool.pop_idle() is not None
        assert pool.pop_idle() is None


async def test_popped_actor_gets_no_more_work() -> None:
    """After pop_idle() the actor is out of the pool: later values go to the others."""
    async with ActorSystem():
        a, b = Worker.remote(), Worker.remote()
        pool = ActorPool([a, b])
        popped = pool.pop_idle()
        assert popped in (a, b)
        kept = b if popped == a else a
        assert [r async for r in pool.map(double, range(4))] == [0, 2, 4, 6]
        assert (await popped.stats.remote())[1] == []
        assert (await kept.stats.remote())[1] == [0, 1, 2, 3]


async def test_push_as_in_ray() -> None:
    """Ray's test_push: a pushed actor is free; it takes a queued value at once."""
    async with ActorSystem():
        gates = Gates()
        a1, a2, a3 = Worker.remote(), Worker.remote(), Worker.remote()
        pool = ActorPool([a1])
        pool.submit(work(gates), 0)
        assert pool.has_free() is False
        with pytest.raises(ValueError, match="Actor already belongs to current ActorPool"):
            pool.push(a1)
        pool.push(a2)
        assert pool.has_free()
        pool.submit(work(gates), 1)
        pool.submit(work(gates), 2)
        assert pool.has_free() is False
        pool.push(a3)  # takes value 2 now, not when a task finishes
        assert pool.has_free() is False
        await started(gates, 0, 1, 2)
        gates.open(0, 1, 2)
        assert [await pool.get_next() for _ in range(3)] == [0, 10, 20]
        assert (await a3.stats.remote())[1] == [2]


async def test_push_refuses_a_busy_member_and_non_handles() -> None:
    """push() raises ValueError for a member (busy or idle) and TypeError for a non-handle."""
    async with ActorSystem():
        a = Worker.remote()
        pool = ActorPool([a])
        with pytest.raises(ValueError, match="already belongs"):
            pool.push(a)
        with pytest.raises(TypeError, match=r"push\(\) takes ActorHandles, got int"):
            pool.push(3)  # type: ignore[arg-type]
        assert pool.pop_idle() == a
        pool.push(a)  # popped, it may come back
        assert pool.has_free()


# -- max_in_flight_per_actor ---------------------------------------------------------------


async def test_max_in_flight_per_actor_runs_that_many_tasks_on_each_actor() -> None:
    """With max_in_flight_per_actor=2 each actor runs two pool tasks at once, no more."""
    async with ActorSystem():
        gates = Gates()
        actors = [Worker.options(max_concurrency=4).remote() for _ in range(2)]
        pool = ActorPool(actors, max_in_flight_per_actor=2)
        for v in range(6):
            pool.submit(work(gates), v)
        await started(gates, 0, 1, 2, 3)
        await settle()
        assert sorted(gates.started_values()) == [0, 1, 2, 3]
        assert not pool.has_free()
        gates.open(*range(6))
        assert [await pool.get_next() for _ in range(6)] == [v * 10 for v in range(6)]
        for actor in actors:
            peak, values = await actor.stats.remote()
            assert peak == 2
            assert len(values) == 3


async def test_max_in_flight_spreads_the_first_tasks_over_the_actors() -> None:
    """Free slots are taken actor by actor, so two tasks on two actors run on both."""
    async with ActorSystem():
        gates = Gates()
        a, b = Worker.remote(), Worker.remote()
        pool = ActorPool([a, b], max_in_flight_per_actor=3)
        pool.submit(work(gates), 0)
        pool.submit(work(gates), 1)
        await started(gates, 0, 1)
        assert pool.has_free()
        assert pool.pop_idle() is None  # both actors run a task
        gates.open(0, 1)
        assert [await pool.get_next() for _ in range(2)] == [0, 10]
        assert {(await x.stats.remote())[0] for x in (a, b)} == {1}


async def test_pop_idle_with_max_in_flight_pops_only_an_actor_running_nothing() -> None:
    """pop_idle() never returns an actor that still runs a pool task."""
    async with ActorSystem():
        gates = Gates()
        a = Worker.options(max_concurrency=2).remote()
        pool = ActorPool([a], max_in_flight_per_actor=2)
        pool.submit(work(gates), 0)
        assert pool.has_free()
        assert pool.pop_idle() is None
        gates.open(0)
        assert await pool.get_next() == 0
        assert pool.pop_idle() == a


# -- errors -------------------------------------------------------------------------------


async def test_a_failing_task_raises_from_get_next_and_frees_its_actor() -> None:
    """A method's exception comes out of get_next() as itself; the actor serves on."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote()])
        pool.submit(lambda a, v: a.work.remote(v, gates, fail=True), 1)
        pool.submit(work(gates), 2)
        gates.open(1, 2)
        with pytest.raises(Boom) as info:
            await pool.get_next()
        assert info.value.args == (1,)
        assert await pool.get_next() == 20
        assert pool.has_free()


async def test_a_failing_task_in_map_raises_and_keeps_later_results() -> None:
    """map() raises a task's exception; the results after it stay in the pool."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote(), Worker.remote()])
        results = pool.map(lambda a, v: a.work.remote(v, gates, fail=v == 1), range(3))
        gates.open(0, 1, 2)
        assert await anext(results) == 0
        with pytest.raises(Boom):
            await anext(results)
        assert [r async for r in results] == [20]


async def test_fn_errors_are_the_submissions_result() -> None:
    """fn raising, or returning a non-ObjectRef, fails that submission; the actor stays free."""

    def bad_method(a: Any, v: int) -> Any:
        return a.nope.remote(v)

    async with ActorSystem():
        pool = ActorPool([Worker.remote()])
        pool.submit(bad_method, 1)
        pool.submit(lambda a, v: v, 2)
        assert pool.has_free()
        pool.submit(double, 3)
        with pytest.raises(AttributeError, match="no method 'nope'"):
            await pool.get_next()
        with pytest.raises(TypeError, match=r"must return an ObjectRef.*got int"):
            await pool.get_next()
        assert await pool.get_next() == 6


async def test_fn_error_of_a_queued_submission_is_its_result() -> None:
    """A queued value whose fn raises when it starts fails alone; the next value runs."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote()])
        pool.submit(work(gates), 0)
        pool.submit(lambda a, v: a.nope.remote(v), 1)
        pool.submit(work(gates), 2)
        gates.open(0, 2)
        assert await pool.get_next() == 0
        with pytest.raises(AttributeError):
            await pool.get_next()
        assert await pool.get_next() == 20


async def test_get_next_with_nothing_submitted_raises_stop_async_iteration() -> None:
    """get_next() and get_next_unordered() raise StopAsyncIteration when no result is left."""
    async with ActorSystem():
        pool = ActorPool([Worker.remote()])
        with pytest.raises(StopAsyncIteration, match="No more results to get"):
            await pool.get_next()
        pool.submit(double, 1)
        assert await pool.get_next_unordered() == 2
        with pytest.raises(StopAsyncIteration, match="No more results to get"):
            await pool.get_next_unordered()


async def test_get_next_after_unordered_broke_the_order_raises_value_error() -> None:
    """As in Ray, get_next() is refused once get_next_unordered() returned a later result."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote(), Worker.remote()])
        pool.submit(work(gates), 0)
        pool.submit(work(gates), 1)
        gates.open(1)
        assert await pool.get_next_unordered() == 10
        with pytest.raises(ValueError, match=r"not allowed to call get_next\(\) after"):
            await pool.get_next()
        gates.open(0)
        assert await pool.get_next_unordered() == 0  # the result is not lost
        pool.submit(work(gates), 2)
        gates.open(2)
        assert await pool.get_next() == 20  # order is whole again


async def test_get_next_after_unordered_in_order_is_allowed() -> None:
    """get_next_unordered() returning the oldest result keeps get_next() usable."""
    async with ActorSystem():
        pool = ActorPool([Worker.remote()])
        pool.submit(double, 1)
        pool.submit(double, 2)
        assert await pool.get_next_unordered() == 2
        assert await pool.get_next() == 4


# -- timeouts -------------------------------------------------------------------------------


async def test_get_next_timeout_keeps_the_task() -> None:
    """A timeout raises GetTimeoutError (a TimeoutError); the result comes later."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote()])
        pool.submit(work(gates), 0)
        with pytest.raises(GetTimeoutError, match="Timed out waiting for result") as info:
            await pool.get_next(timeout=0.01)
        assert isinstance(info.value, TimeoutError)
        with pytest.raises(TimeoutError):
            await pool.get_next_unordered(timeout=0)
        assert pool.has_next()
        gates.open(0)
        assert await pool.get_next(timeout=5) == 0


async def test_timeout_zero_returns_a_ready_result() -> None:
    """timeout=0 polls: a result that is already there is returned."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote()])
        pool.submit(work(gates), 4)
        gates.open(4)
        await gates.returning[4].wait()  # wakes once the task's ref is resolved
        assert await pool.get_next(timeout=0) == 40


async def test_get_next_ignore_if_timedout_drops_the_task_and_its_actor_stays_busy() -> None:
    """ignore_if_timedout drops the result; its actor takes new work only once it finishes."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote()])
        pool.submit(work(gates), 0)
        pool.submit(work(gates), 1)
        with pytest.raises(GetTimeoutError, match="value 0 has been ignored; it keeps its actor"):
            await pool.get_next(timeout=0.01, ignore_if_timedout=True)
        assert pool.has_next()
        await settle()
        assert gates.started_values() == [0]  # one pool task per actor, even ignored
        gates.open(0, 1)
        assert await pool.get_next() == 10
        assert not pool.has_next()


async def test_ignored_queued_submission_never_runs() -> None:
    """A value ignored on timeout before it started is never run."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote()])
        pool.submit(work(gates), 0)
        pool.submit(work(gates), 1)
        pool.submit(work(gates), 2)
        with pytest.raises(GetTimeoutError):
            await pool.get_next(timeout=0.01, ignore_if_timedout=True)  # ignores 0
        with pytest.raises(GetTimeoutError, match="value 1 has been ignored; it will not run"):
            await pool.get_next(timeout=0, ignore_if_timedout=True)
        gates.open(0, 1, 2)
        assert await pool.get_next() == 20
        assert 1 not in gates.started


async def test_get_next_unordered_ignore_if_timedout_drops_the_oldest() -> None:
    """get_next_unordered(ignore_if_timedout=True) ignores the oldest pending result."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote(), Worker.remote()])
        pool.submit(work(gates), 0)
        pool.submit(work(gates), 1)
        with pytest.raises(GetTimeoutError, match="value 0 has been ignored"):
            await pool.get_next_unordered(timeout=0.01, ignore_if_timedout=True)
        gates.open(0, 1)
        assert await pool.get_next_unordered() == 10
        assert not pool.has_next()


async def test_ignored_failure_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A task ignored on timeout that then fails is logged, not silently dropped."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote()])
        pool.submit(lambda a, v: a.work.remote(v, gates, fail=True), 7)
        with pytest.raises(GetTimeoutError):
            await pool.get_next(timeout=0.01, ignore_if_timedout=True)
        with caplog.at_level(logging.ERROR, logger="asyncactors"):
            gates.open(7)
            await settle()
            gc.collect()
        records = [r for r in caplog.records if r.name == "asyncactors"]
        assert len(records) == 1
        assert "nobody awaited it" in records[0].getMessage()
        assert records[0].exc_info is not None
        assert isinstance(records[0].exc_info[1], Boom)


# -- actors dying --------------------------------------------------------------------------


async def test_actor_dying_mid_task_surfaces_actor_died_error_and_leaves_the_pool() -> None:
    """A killed actor's task raises ActorDiedError; its queued values go to the survivor."""
    async with ActorSystem():
        gates = Gates()
        a, b = Worker.remote(), Worker.remote()
        pool = ActorPool([a, b])
        for v in range(4):
            pool.submit(work(gates), v)
        await started(gates, 0, 1)
        victim, survivor = (a, b) if (await a.stats.remote())[1] == [0] else (b, a)
        asyncactors.kill(victim)
        gates.open(1, 2, 3)
        with pytest.raises(ActorDiedError):
            await pool.get_next()
        assert [await pool.get_next() for _ in range(3)] == [10, 20, 30]
        assert (await survivor.stats.remote())[1] == [1, 2, 3]
        assert pool.pop_idle() == survivor
        assert pool.pop_idle() is None  # the dead actor is no longer in the pool


async def test_dead_idle_actor_is_skipped() -> None:
    """A value is never handed to an actor known to be dead while another is alive."""
    async with ActorSystem():
        a, b = Worker.remote(), Worker.remote()
        pool = ActorPool([a, b])
        asyncactors.kill(a)
        assert [r async for r in pool.map(double, range(4))] == [0, 2, 4, 6]
        assert (await b.stats.remote())[1] == [0, 1, 2, 3]


async def test_no_actors_left_for_queued_work_raises_instead_of_hanging() -> None:
    """With every actor dead and values queued, get_next() says so; push() recovers them."""
    async with ActorSystem():
        gates = Gates()
        a = Worker.remote()
        pool = ActorPool([a])
        pool.submit(work(gates), 0)
        pool.submit(double, 1)
        await started(gates, 0)
        asyncactors.kill(a)
        with pytest.raises(ActorDiedError):
            await pool.get_next()
        assert pool.has_next()
        with pytest.raises(RuntimeError, match="no actors to run its 1 queued submission"):
            await pool.get_next_unordered(timeout=5)
        pool.push(Worker.remote())
        assert await pool.get_next() == 2


async def test_waiting_get_next_learns_when_the_last_actor_dies() -> None:
    """A get_next() waiting for a queued value raises once the pool's last actor dies."""
    async with ActorSystem():
        gates = Gates()
        a = Worker.remote()
        pool = ActorPool([a])
        pool.submit(work(gates), 0)
        pool.submit(double, 1)
        with pytest.raises(GetTimeoutError):
            await pool.get_next(timeout=0.01, ignore_if_timedout=True)  # 0 runs on, ignored
        waiter = asyncio.ensure_future(pool.get_next())
        await settle()
        assert not waiter.done()
        asyncactors.kill(a)
        with pytest.raises(RuntimeError, match="no actors to run its 1 queued submission"):
            await waiter


async def test_empty_pool_with_queued_work_raises_and_push_runs_it() -> None:
    """ActorPool([]) queues submissions until push(); get_next() meanwhile raises."""
    async with ActorSystem():
        pool: ActorPool[int] = ActorPool([])
        pool.submit(double, 21)
        assert pool.has_next()
        assert not pool.has_free()
        with pytest.raises(RuntimeError, match="push"):
            await pool.get_next()
        pool.push(Worker.remote())
        assert await pool.get_next() == 42


async def test_restarting_actor_stays_in_the_pool() -> None:
    """An actor killed with no_restart=False comes back and keeps serving the pool."""
    async with ActorSystem():
        gates = Gates()
        a = Worker.options(max_restarts=1).remote()
        pool = ActorPool([a])
        pool.submit(work(gates), 0)
        pool.submit(double, 1)
        await started(gates, 0)
        asyncactors.kill(a, no_restart=False)
        with pytest.raises(ActorDiedError):
            await pool.get_next()
        assert await pool.get_next() == 2
        assert pool.pop_idle() == a


# -- concurrency of retrieval --------------------------------------------------------------


async def test_concurrent_get_next_calls_each_get_a_different_result() -> None:
    """Several tasks awaiting get_next() at once get each result exactly once."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote() for _ in range(3)])
        for v in range(3):
            pool.submit(work(gates), v)
        getters = [asyncio.ensure_future(pool.get_next()) for _ in range(3)]
        extra = asyncio.ensure_future(pool.get_next_unordered())
        await settle()
        gates.open(2, 0, 1)
        outcomes = await asyncio.gather(*getters, extra, return_exceptions=True)
        values = [o for o in outcomes if not isinstance(o, BaseException)]
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        assert sorted(values) == [0, 10, 20]
        assert len(errors) == 1
        assert isinstance(errors[0], StopAsyncIteration)


async def test_cancelled_get_next_loses_no_result() -> None:
    """Cancelling a waiting get_next() leaves its result for the next call."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote()])
        pool.submit(work(gates), 0)
        waiter = asyncio.ensure_future(pool.get_next())
        await settle()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        gates.open(0)
        assert await pool.get_next() == 0


async def test_fn_may_submit_more_work() -> None:
    """A submission made from inside fn comes after the one that made it."""
    async with ActorSystem():
        pool: ActorPool[int] = ActorPool([Worker.remote()])

        def fan(a: Any, v: int) -> Any:
            if v < 2:
                pool.submit(fan, v + 1)
            return a.double.remote(v)

        pool.submit(fan, 0)
        assert [await pool.get_next() for _ in range(3)] == [0, 2, 4]
        assert not pool.has_next()


async def test_retrieved_tasks_do_not_pile_up() -> None:
    """After every result is retrieved in order, the pool holds no finished task."""
    async with ActorSystem():
        gates = Gates()
        pool = ActorPool([Worker.remote() for _ in range(3)])
        results = pool.map(work(gates), range(30))
        gates.open(*range(29, -1, -1))
        assert [r async for r in results] == [v * 10 for v in range(30)]
        assert not pool._completed
        assert not pool._order


async def test_actors_on_another_event_loop() -> None:
    """A pool on this loop drives actors whose system runs on another thread's loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    system = ActorSystem()

    async def start() -> list[Any]:
        await system.__aenter__()
        return [Worker.remote(), Worker.remote()]

    def there(coro: Any) -> Any:
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    try:
        actors = await there(start())
        pool = ActorPool(actors)
        assert [r async for r in pool.map(double, range(6))] == [0, 2, 4, 6, 8, 10]
        unordered = [r async for r in pool.map_unordered(double, range(6))]
        assert sorted(unordered) == [0, 2, 4, 6, 8, 10]
        assert pool.has_free()
    finally:
        await there(system.__aexit__(None, None, None))
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join)
        loop.close()


# -- bad input ------------------------------------------------------------------------------


async def test_bad_arguments_are_refused_clearly() -> None:
    """Wrong types and values name the argument and what it takes."""
    async with ActorSystem():
        a = Worker.remote()
        with pytest.raises(ValueError, match="max_in_flight_per_actor must be >= 1, got 0"):
            ActorPool([a], max_in_flight_per_actor=0)
        with pytest.raises(TypeError, match="max_in_flight_per_actor must be an int, got bool"):
            ActorPool([a], max_in_flight_per_actor=True)
        with pytest.raises(TypeError, match="takes a list of ActorHandles, got one ActorHandle"):
            ActorPool(a)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"ActorPool\(\) takes ActorHandles, got str"):
            ActorPool(["a"])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="already belongs"):
            ActorPool([a, a])
        pool = ActorPool([a])
        with pytest.raises(TypeError, match="submit\\(\\) takes fn\\(actor, value\\)"):
            pool.submit(None, 1)  # type: ignore[arg-type]
        pool.submit(double, 1)
        with pytest.raises(ValueError, match="timeout must be >= 0"):
            await pool.get_next(timeout=-1)
        with pytest.raises(TypeError, match="ignore_if_timedout must be a bool"):
            await pool.get_next(ignore_if_timedout=1)  # type: ignore[arg-type]
        assert await pool.get_next() == 2
        assert repr(pool) == "<ActorPool actors=1 free_slots=1 queued=0 unretrieved=0>"


def test_submit_outside_an_event_loop_raises() -> None:
    """submit() needs the running loop the pool belongs to."""

    async def make() -> tuple[ActorPool[Any], Any]:
        async with ActorSystem():
            a = Worker.remote()
            return ActorPool([a]), a

    pool, _ = asyncio.run(make())
    with pytest.raises(RuntimeError, match=r"submit\(\) must be called inside a running event"):
        pool.submit(double, 1)
    assert not pool.has_next()


async def test_pool_used_on_another_loop_raises() -> None:
    """A pool is bound to the loop it was first used on."""
    async with ActorSystem():
        pool = ActorPool([Worker.remote()])
        pool.submit(double, 1)
        assert await pool.get_next() == 2

        def elsewhere() -> None:
            async def use() -> None:
                pool.submit(double, 2)

            asyncio.run(use())

        with pytest.raises(RuntimeError, match="another event loop"):
            await asyncio.to_thread(elsewhere)


# -- types ------------------------------------------------------------------------------------

TYPED = """
from typing import Any
from asyncactors import ActorHandle, ActorPool, ObjectRef

async def main(h: ActorHandle[Any]) -> None:
    pool = ActorPool([h])
    reveal_type(pool)
    typed: ActorPool[int] = ActorPool([h], max_in_flight_per_actor=2)
    typed.submit(lambda a, v: a.double.remote(v), 1)
    reveal_type(await typed.get_next())
    async for r in typed.map_unordered(lambda a, v: a.double.remote(v), [1, 2]):
        reveal_type(r)
    def text(a: ActorHandle[Any], v: str) -> ObjectRef[str]:
        return a.m.remote(v)
    typed.submit(text, "x")
"""


def test_pool_is_generic_over_its_result_type(tmp_path: Path) -> None:
    """ActorPool(...) is ActorPool[Any]; ActorPool[int] types results and refuses str refs."""
    (tmp_path / "snippet.py").write_text(TYPED)
    (tmp_path / "mypy.ini").write_text("[mypy]\nstrict = True\n")
    # No cache: writing one costs more than this one run saves. A subprocess, as
    # in test_typing: mypy's parse in this process can meet CPython gh-106905.
    config, snippet = str(tmp_path / "mypy.ini"), str(tmp_path / "snippet.py")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", config, "--cache-dir", os.devnull, snippet],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    out, err = done.stdout, done.stderr
    assert err == ""
    assert 'Revealed type is "asyncactors._pool.ActorPool[Any]"' in out
    assert len(re.findall(r'Revealed type is "(builtins\.)?int"', out)) == 2
    assert 'Argument 1 to "submit" of "ActorPool" has incompatible type' in out
    assert "Found 1 error" in out


# -- properties --------------------------------------------------------------------------------


@st.composite
def releases(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """The order in which the values' gates open, and the loop turns after each."""
    n = draw(st.integers(0, 16))
    order = draw(st.permutations(range(n)))
    yields = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    return list(order), yields


@st.composite
def pool_cases(draw: st.DrawFn) -> tuple[int, int, int, list[int], frozenset[int], list[int]]:
    actors = draw(st.integers(1, 4))
    limit = draw(st.integers(1, 3))
    order, yields = draw(releases())
    n = len(order)
    failing = draw(st.frozensets(st.integers(0, max(n - 1, 0)), max_size=n))
    return actors, limit, n, order, failing, yields


async def _release(gates: Gates, order: list[int], yields: list[int]) -> None:
    for v, k in zip(order, yields, strict=True):
        gates.open(v)
        for _ in range(k):
            await asyncio.sleep(0)


async def _check_pool(
    case: tuple[int, int, int, list[int], frozenset[int], list[int]], mode: str
) -> None:
    n_actors, limit, n, order, failing, yields = case
    gates = Gates()
    actors = [Worker.options(max_concurrency=3).remote() for _ in range(n_actors)]
    pool = ActorPool(actors, max_in_flight_per_actor=limit)
    fn = lambda a, v: a.work.remote(v, gates, fail=v in failing)  # noqa: E731
    outcomes: list[tuple[str, int]] = []
    for v in range(n):
        pool.submit(fn, v)

    async def consume() -> None:
        while pool.has_next():
            try:
                if mode == "ordered":
                    outcomes.append(("value", await pool.get_next()))
                else:
                    outcomes.append(("value", await pool.get_next_unordered()))
            except Boom as exc:
                outcomes.append(("error", exc.args[0] * 10))

    await asyncio.gather(_release(gates, order, yields), consume())
    expected = [("error" if v in failing else "value", v * 10) for v in range(n)]
    if mode == "ordered":
        assert outcomes == expected
    else:
        # Exactly once each, in the order the tasks finished.
        assert outcomes == [expected[v] for v in gates.finished]
        assert sorted(gates.finished) == list(range(n))
    assert not pool.has_next()
    for actor in actors:
        peak, _ = await actor.stats.remote()
        assert peak <= limit
    assert pool.has_free()


@settings(max_examples=40, deadline=None)
@given(case=pool_cases(), mode=st.sampled_from(["ordered", "unordered"]))
def test_every_submission_yields_exactly_one_result(
    case: tuple[int, int, int, list[int], frozenset[int], list[int]], mode: str
) -> None:
    """For any pool size, in-flight limit, task count and completion order, every value
    yields exactly one outcome; get_next keeps submission order, get_next_unordered
    finishing order; no actor runs more than max_in_flight_per_actor pool tasks."""

    async def body(system: ActorSystem) -> None:
        await _check_pool(case, mode)

    _run(body)


@settings(max_examples=30, deadline=None)
@given(n_actors=st.integers(1, 4), release=releases(), unordered=st.booleans())
def test_map_preserves_order_whatever_the_completion_order(
    n_actors: int, release: tuple[list[int], list[int]], unordered: bool
) -> None:
    """map() yields f(v) for each value in order; map_unordered() each once, as they finish."""
    order, yields = release

    async def body(system: ActorSystem) -> None:
        gates = Gates()
        pool = ActorPool([Worker.remote() for _ in range(n_actors)])
        values = range(len(order))
        mapped = (pool.map_unordered if unordered else pool.map)(work(gates), values)

        async def collect() -> list[int]:
            return [r async for r in mapped]

        _, results = await asyncio.gather(_release(gates, order, yields), collect())
        if unordered:
            assert sorted(results) == [v * 10 for v in values]
            assert results == [v * 10 for v in gates.finished]
        else:
            assert results == [v * 10 for v in values]

    _run(body)


@settings(max_examples=40, deadline=None)
@given(
    n_actors=st.integers(1, 3),
    limit=st.integers(1, 2),
    release=releases(),
    kills=st.lists(st.tuples(st.integers(0, 15), st.integers(0, 2)), max_size=4),
)
def test_actors_dying_at_any_point_lose_no_submission(
    n_actors: int,
    limit: int,
    release: tuple[list[int], list[int]],
    kills: list[tuple[int, int]],
) -> None:
    """Killing actors at random points: each value still yields exactly one outcome, in
    order; only tasks running on a killed actor fail (at most max_in_flight_per_actor each);
    with no actor left, get_next() says so and push() carries on."""
    order, yields = release

    async def body(system: ActorSystem) -> None:
        gates = Gates()
        actors = [Worker.options(max_concurrency=2).remote() for _ in range(n_actors)]
        pool = ActorPool(actors, max_in_flight_per_actor=limit)
        for v in range(len(order)):
            pool.submit(work(gates), v)
        killed: set[int] = set()

        async def release_and_kill() -> None:
            for step, (v, k) in enumerate(zip(order, yields, strict=True)):
                for at, victim in kills:
                    if at == step and victim < n_actors:
                        asyncactors.kill(actors[victim])
                        killed.add(victim)
                gates.open(v)
                for _ in range(k):
                    await asyncio.sleep(0)

        outcomes: list[tuple[str, int]] = []

        async def consume() -> None:
            while pool.has_next():
                try:
                    outcomes.append(("value", await pool.get_next()))
                except ActorDiedError:
                    outcomes.append(("died", len(outcomes)))
                except RuntimeError as exc:
                    if "no actors" not in str(exc):
                        raise
                    pool.push(Worker.remote())

        await asyncio.gather(release_and_kill(), consume())
        assert len(outcomes) == len(order)
        for v, (kind, value) in enumerate(outcomes):
            assert (kind, value) in {("value", v * 10), ("died", v)}
        assert sum(kind == "died" for kind, _ in outcomes) <= limit * len(killed)

    _run(body)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("map", "ActorPool.map()'s fn for its value #1 (0)"),
        ("map_unordered", "ActorPool.map_unordered()'s fn for its value #1 (0)"),
        ("submit", "ActorPool.submit()'s fn for its submission #1 (0)"),
    ],
)
async def test_a_failure_of_fn_nobody_retrieved_is_logged_naming_the_method_and_value(
    caplog: pytest.LogCaptureFixture, method: str, expected: str
) -> None:
    """fn raising for a value whose result nobody gets is logged naming the pool's
    method and the value's position and repr, not as a bare 'ObjectRef'."""
    async with ActorSystem():
        pool: ActorPool[Any] = ActorPool([Worker.remote(), Worker.remote()])

        def fn(a: Any, v: int) -> Any:
            return 1 / v

        with caplog.at_level(logging.ERROR, logger="asyncactors"):
            if method == "submit":
                pool.submit(fn, 1)
                pool.submit(fn, 0)
                with pytest.raises(TypeError):
                    await pool.get_next()
            else:
                with pytest.raises(TypeError):  # fn returned a float for value 1
                    async for _ in getattr(pool, method)(fn, [1, 0]):
                        pass
            del pool
            gc.collect()
        (record,) = [r for r in caplog.records if r.name == "asyncactors"]
        assert record.getMessage() == f"{expected} failed and nobody awaited it"
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], ZeroDivisionError)
