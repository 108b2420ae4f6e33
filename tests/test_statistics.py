"""handle.statistics() and system.statistics(): the engine's counters, and latency under metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import asyncactors
from asyncactors import (
    ActorState,
    ActorStatistics,
    ActorSystem,
    PendingCallsLimitExceeded,
    SystemStatistics,
)
from asyncactors._backends._local.call import Call
from asyncactors._metrics import LATENCY_BUCKETS, LATENCY_WINDOW, LatencyRecorder


class Boom(Exception):
    pass


@asyncactors.remote
class Gate:
    def __init__(self) -> None:
        self.open = asyncio.Event()

    async def wait(self) -> str:
        await self.open.wait()
        return "through"

    def fail(self) -> None:
        raise ValueError("no")

    def crash(self) -> None:
        raise Boom("crash")

    def ping(self) -> int:
        return 1


async def test_handle_statistics_reads_the_counters() -> None:
    """handle.statistics() gives state, mailbox depth/capacity/peak, processed, failed, restarts
    and running calls."""
    async with ActorSystem():
        supervisor = asyncactors.Supervisor(max_restarts=5)
        g = Gate.options(
            max_concurrency=1,
            mailbox_size=10,
            name="gate",
            supervisor=supervisor,
            restart_on=(Boom,),
        ).remote()
        await g
        with pytest.raises(Boom):
            await g.crash.remote()
        await g
        first = g.wait.remote()
        queued = [g.wait.remote() for _ in range(3)]
        await asyncio.sleep(0)
        stats = g.statistics()
        assert isinstance(stats, ActorStatistics)
        assert (stats.class_name, stats.name, stats.state) == ("Gate", "gate", ActorState.ALIVE)
        assert (stats.mailbox_depth, stats.mailbox_capacity, stats.running) == (3, 10, 1)
        assert stats.peak_depth >= 3
        assert stats.restarts == 1
        assert (stats.calls_processed, stats.calls_failed) == (1, 1)  # the crash
        assert stats.latency is None  # no metrics
        # Its one slot is taken: open the gate from outside the actor.
        g._core.instance.open.set()
        assert await asyncactors.get([first, *queued]) == ["through"] * 4
        with pytest.raises(ValueError, match="no"):
            await g.fail.remote()
        stats = g.statistics()
        assert (stats.mailbox_depth, stats.running) == (0, 0)
        assert (stats.calls_processed, stats.calls_failed) == (6, 2)


async def test_statistics_from_another_thread() -> None:
    """handle.statistics() and system.statistics() can be read from a thread other than
    the loop's."""
    async with ActorSystem() as system:
        g = Gate.remote()
        await g.ping.remote()
        stats, totals = await asyncio.to_thread(lambda: (g.statistics(), system.statistics()))
        assert stats.calls_processed == 1
        assert totals.calls_processed == 1


async def test_no_latency_and_plain_calls_without_metrics() -> None:
    """Without metrics=True calls are the engine's plain calls, and no latency is recorded."""
    async with ActorSystem() as system:
        g = Gate.remote()
        ref = g.ping.remote()
        assert type(ref) is Call
        assert g._core.pending is None
        await ref
        assert g.statistics().latency is None
        stats = system.statistics()
        assert stats.metrics is False
        assert all(group.latency is None for group in stats.groups)


async def test_metrics_time_every_call() -> None:
    """Under metrics=True each call's latency, from .remote() to its result, is recorded:
    percentiles per actor, and a histogram per class counting every call."""
    async with ActorSystem(metrics=True) as system:
        g = Gate.remote()
        for _ in range(20):
            await g.ping.remote()
        with pytest.raises(ValueError, match="no"):
            await g.fail.remote()
        slow = g.wait.remote()
        await asyncio.sleep(0.02)
        g._core.instance.open.set()
        await slow
        latency = g.statistics().latency
        assert latency is not None
        assert latency.samples == 22
        assert 0 < latency.p50_s <= latency.p90_s <= latency.p99_s <= latency.max_s
        assert latency.max_s >= 0.02  # the call that waited at the gate
        (group,) = system.statistics().groups
        assert group.latency is not None
        assert group.latency.count == 22
        assert group.latency.sum_s >= 0.02
        cumulative = group.latency.cumulative()
        assert cumulative[-1] == (float("inf"), 22)
        assert [n for _, n in cumulative] == sorted(n for _, n in cumulative)


async def test_metrics_keep_max_pending_calls() -> None:
    """Timed calls of an actor with max_pending_calls still count against the cap."""
    async with ActorSystem(metrics=True):
        g = await Gate.options(max_pending_calls=2, max_concurrency=1).remote()
        refs = [g.wait.remote(), g.wait.remote()]
        with pytest.raises(PendingCallsLimitExceeded):
            g.ping.remote()
        g._core.instance.open.set()
        assert await asyncactors.get(refs) == ["through", "through"]
        assert await g.ping.remote() == 1  # places were given back
        latency = g.statistics().latency
        assert latency is not None
        assert latency.samples == 3


@asyncactors.remote
class Streamer:
    async def items(self, n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            yield i

    def ping(self) -> int:
        return 1


@pytest.mark.parametrize("cap", [-1, 2])
async def test_streams_under_metrics_stream_as_before(cap: int) -> None:
    """Under metrics=True a generator method's stream works as before, with or without
    max_pending_calls; its items are not timed as calls, plain calls are."""
    async with ActorSystem(metrics=True):
        s = Streamer.options(max_pending_calls=cap).remote()
        assert [x async for x in s.items.remote(3)] == [0, 1, 2]
        assert await (await s.items.submit(2)) == [0, 1]
        assert await s.ping.remote() == 1
        latency = s.statistics().latency
        assert latency is not None
        assert latency.samples == 1


def test_latency_window_keeps_the_latest_calls() -> None:
    """The percentiles cover the last LATENCY_WINDOW calls; the histogram counts them all."""
    recorder = LatencyRecorder()
    for _ in range(LATENCY_WINDOW):
        recorder.record(5.0)
    for _ in range(LATENCY_WINDOW):
        recorder.record(0.001)
    summary = recorder.summary()
    assert summary is not None
    assert summary.samples == LATENCY_WINDOW
    assert summary.max_s == 0.001
    assert recorder.counts[LATENCY_BUCKETS.index(5.0)] == LATENCY_WINDOW
    assert recorder.counts[LATENCY_BUCKETS.index(0.001)] == LATENCY_WINDOW


def test_latency_percentiles_by_nearest_rank() -> None:
    """p50/p90/p99 are the nearest-rank percentiles of the window."""
    recorder = LatencyRecorder()
    for ms in range(1, 101):
        recorder.record(ms / 1000)
    summary = recorder.summary()
    assert summary is not None
    assert (summary.p50_s, summary.p90_s, summary.p99_s, summary.max_s) == (
        0.05,
        0.09,
        0.099,
        0.1,
    )


async def test_system_statistics_groups_by_class_and_named_actor() -> None:
    """system.statistics() adds up actors per class, a named actor on its own, with totals."""
    async with ActorSystem(namespace="stats") as system:
        plain = [Gate.options(mailbox_size=5).remote() for _ in range(3)]
        named = Gate.options(name="front", mailbox_size=7).remote()
        await asyncactors.get([h.ping.remote() for h in [*plain, named]])
        stats = system.statistics()
        assert isinstance(stats, SystemStatistics)
        assert stats.namespace == "stats"
        assert stats.actors == 4
        assert dict(stats.states) == {ActorState.ALIVE: 4}
        assert (stats.calls_processed, stats.mailbox_capacity) == (4, 22)
        groups = {(g.class_name, g.name): g for g in stats.groups}
        assert set(groups) == {("Gate", None), ("Gate", "front")}
        assert (groups["Gate", None].actors, groups["Gate", None].mailbox_capacity) == (3, 15)
        assert groups["Gate", None].calls_processed == 3
        assert (groups["Gate", "front"].actors, groups["Gate", "front"].calls_processed) == (1, 1)
        assert len(system.actor_statistics()) == 4


async def test_system_counters_never_go_down_when_actors_stop() -> None:
    """Counts of actors stopped for good stay in their class's totals; a named actor's
    join its class's unnamed group, and DEAD counts them."""
    async with ActorSystem() as system:
        a = Gate.remote()
        named = Gate.options(name="n").remote()
        for h in (a, named):
            await h.ping.remote()
            with pytest.raises(ValueError, match="no"):
                await h.fail.remote()
        before = system.statistics()
        assert (before.calls_processed, before.calls_failed) == (4, 2)
        await asyncactors.stop(a)
        await asyncactors.stop(named)
        after = system.statistics()
        # The two stop calls ran as calls too.
        assert (after.calls_processed, after.calls_failed) == (6, 2)
        assert after.actors == 0
        assert dict(after.states) == {ActorState.DEAD: 2}
        (group,) = after.groups
        assert (group.class_name, group.name, group.calls_processed) == ("Gate", None, 6)


async def test_stopped_actors_keep_their_latency_and_restarts() -> None:
    """Under metrics, the latency of an actor stopped for good stays in its class's
    histogram, beside its restarts, and the system's totals are unchanged by the stop."""
    async with ActorSystem(metrics=True) as system:
        a = Gate.options(max_restarts=1).remote()
        b = Gate.remote()
        for h in (a, b):
            for _ in range(3):
                await h.ping.remote()
        asyncactors.kill(a, no_restart=False)
        await a.ping.remote()
        before = system.statistics()
        await asyncactors.stop(a)
        await asyncactors.stop(b)
        after = system.statistics()
        (group,) = after.groups
        assert (after.restarts, group.restarts) == (1, 1)
        assert dict(after.states) == {ActorState.DEAD: 2}
        # The stop calls ran as calls too, untimed: the 7 method calls were timed.
        assert group.calls_processed == before.calls_processed + 2 == 9
        (live,) = before.groups
        assert live.latency is not None
        assert group.latency is not None
        assert group.latency.count == live.latency.count == 7
        assert group.latency.sum_s == pytest.approx(live.latency.sum_s)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"metrics": 1}, TypeError, "metrics must be True or False"),
        ({"block_warning_s": 0}, ValueError, "block_warning_s must be > 0"),
        ({"block_warning_s": -1.0}, ValueError, "block_warning_s must be > 0"),
        ({"block_warning_s": "0.1"}, TypeError, "block_warning_s must be a number"),
        ({"block_warning_s": True}, TypeError, "block_warning_s must be a number"),
    ],
)
def test_bad_observability_options_are_refused(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    """ActorSystem refuses a metrics flag that is not a bool and a block_warning_s that is not
    a positive number or None."""
    with pytest.raises(error, match=match):
        ActorSystem(**options)
