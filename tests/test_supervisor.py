"""Supervision: strategies, intensity and escalation, restart types, backoff, nothing lost."""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import time
from typing import Any

import pytest

import asyncactors
from asyncactors import ActorDiedError, ActorState, ActorSystem, Backoff, Supervisor

from ._loop import pending_timers
from .conftest import pending_tasks

FAST = Backoff(initial_s=0.001, max_s=0.002, jitter=0.0)


class Boom(Exception):
    pass


class Worker:
    """Records each incarnation's start in a shared log."""

    def __init__(self, tag: str, log: list[str]) -> None:
        self.tag = tag
        self.log = log
        self.n = 0
        log.append(tag)

    def incr(self) -> int:
        self.n += 1
        return self.n

    def crash(self) -> None:
        raise Boom(self.tag)

    def quit(self) -> None:
        asyncactors.exit_actor()

    def context(self) -> tuple[int, bool]:
        ctx = asyncactors.get_runtime_context()
        return ctx.restart_count, ctx.was_restarted


def worker(**options: Any) -> asyncactors.ActorClass[Worker]:
    return asyncactors.remote(restart_on=(Boom,), **options)(Worker)


async def settle(handle: asyncactors.ActorHandle[Any]) -> None:
    """Wait until a restarting actor is ALIVE again."""
    for _ in range(1000):
        if handle._core.state is ActorState.ALIVE:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"{handle!r} did not come back")


async def test_root_restarts_within_max_restarts_then_dead() -> None:
    """Without a supervisor, an actor restarts up to max_restarts, then is DEAD."""
    log: list[str] = []
    async with ActorSystem() as system:
        w = worker(max_restarts=2).remote("w", log)
        for _ in range(2):
            with pytest.raises(Boom):
                await w.crash.remote()
            assert await w.incr.remote() == 1  # a fresh incarnation
        assert await w.context.remote() == (2, True)
        with pytest.raises(Boom):
            await w.crash.remote()
        with pytest.raises(ActorDiedError, match=r"ran out of restarts \(2\)") as e:
            await w.incr.remote()
        assert isinstance(e.value.__cause__, Boom)
        assert log == ["w", "w", "w"]
        assert system.list_actors()[0].state is ActorState.DEAD


async def test_default_keeps_rays_behaviour() -> None:
    """Without restart_on, a method's exception goes to the caller and the actor serves on."""
    async with ActorSystem():
        w = asyncactors.remote(Worker).remote("w", [])
        with pytest.raises(Boom):
            await w.crash.remote()
        assert await w.incr.remote() == 1
        assert await w.incr.remote() == 2


async def test_restart_on_with_no_restarts_left_is_dead() -> None:
    """restart_on with max_restarts=0 (Ray's default): the crash kills the actor."""
    async with ActorSystem():
        w = worker().remote("w", [])
        with pytest.raises(Boom):
            await w.crash.remote()
        with pytest.raises(ActorDiedError, match="crashed"):
            await w.incr.remote()


async def test_queued_calls_survive_a_crash_in_order() -> None:
    """1,000 queued calls survive a crash in the middle; each runs once, in order."""

    class Seq:
        def __init__(self, log: list[int]) -> None:
            self.log = log

        def put(self, i: int) -> int:
            self.log.append(i)
            return i

        def crash(self) -> None:
            raise Boom

    log: list[int] = []
    async with ActorSystem():
        a = asyncactors.remote(restart_on=(Boom,), max_restarts=1, mailbox_size=100)(Seq).remote(
            log
        )
        first = [a.put.remote(i) for i in range(500)]
        crash = a.crash.remote()
        second = [a.put.remote(i) for i in range(500, 1000)]
        assert await asyncactors.get(first + second) == list(range(1000))
        with pytest.raises(Boom):
            await crash
        assert log == list(range(1000))


async def test_crashed_call_is_retried_when_allowed() -> None:
    """The crashing call reruns on the new incarnation if max_task_retries allows, with or
    without retry_exceptions: a crash is a system failure."""

    class Flaky:
        def __init__(self, attempts: list[str]) -> None:
            self.attempts = attempts

        @asyncactors.method(retry_exceptions=[Boom])
        def once(self) -> str:
            self.attempts.append("once")
            if len(self.attempts) == 1:
                raise Boom
            return "second time lucky"

        def plain(self) -> None:
            self.attempts.append("plain")
            raise Boom

    attempts: list[str] = []
    async with ActorSystem():
        cls = asyncactors.remote(restart_on=(Boom,), max_restarts=5, max_task_retries=1)(Flaky)
        f = cls.remote(attempts)
        assert await f.once.remote() == "second time lucky"
        assert attempts == ["once", "once"]
        # Without retry_exceptions too; once retries run out the caller gets the exception.
        attempts.clear()
        with pytest.raises(Boom):
            await f.plain.remote()
        assert attempts == ["plain", "plain"]
        # Per-call options override the method's and the actor's.
        attempts.clear()
        with pytest.raises(Boom):
            await f.once.options(max_task_retries=0).remote()
        assert attempts == ["once"]


async def test_other_running_calls_are_retried_or_fail() -> None:
    """Calls running beside the crash are cancelled: retried if allowed, else ActorDiedError."""

    class Busy:
        def __init__(self) -> None:
            self.started = 0

        async def slow(self) -> str:
            self.started += 1
            await asyncio.sleep(0.05)
            return "done"

        async def crash(self) -> None:
            await asyncio.sleep(0.005)
            raise Boom

    async with ActorSystem():
        cls = asyncactors.remote(restart_on=(Boom,), max_restarts=3, max_concurrency=4)(Busy)
        b = cls.remote()
        doomed = b.slow.remote()
        kept = b.slow.options(max_task_retries=1).remote()
        with pytest.raises(Boom):
            await b.crash.remote()
        with pytest.raises(ActorDiedError, match="restarted during the call"):
            await doomed
        assert await kept == "done"


async def test_kill_without_no_restart_is_a_crash() -> None:
    """kill(no_restart=False) restarts the actor; its queued calls survive."""
    log: list[str] = []
    async with ActorSystem():
        w = worker(max_restarts=1, max_concurrency=1).remote("w", log)

        async def hold() -> None:
            await asyncio.sleep(0)

        await w
        queued = [w.incr.remote() for _ in range(3)]
        asyncactors.kill(w, no_restart=False)
        assert await asyncactors.get(queued) == [1, 2, 3]
        assert log == ["w", "w"]


async def test_init_failures_count_as_restart_attempts() -> None:
    """A failing __init__ is retried under max_restarts; awaiting the handle waits it out."""
    failures = [Boom("1"), Boom("2")]

    class Shaky:
        def __init__(self) -> None:
            if failures:
                raise failures.pop(0)

        def ok(self) -> str:
            return "ok"

    async with ActorSystem():
        s = await asyncactors.remote(max_restarts=2)(Shaky).remote()
        assert await s.ok.remote() == "ok"
        assert s._core.restarts == 2
        failures.extend([Boom("a"), Boom("b"), Boom("c")])
        t = asyncactors.remote(max_restarts=2)(Shaky).remote()
        with pytest.raises(ActorDiedError, match="failed to start") as e:
            await t
        assert isinstance(e.value.__cause__, Boom)


async def test_restarting_state_is_visible_during_backoff() -> None:
    """While waiting out its backoff, an actor is RESTARTING in list_actors()."""
    slow = Backoff(initial_s=0.2, max_s=0.2, jitter=0.0)
    async with ActorSystem() as system:
        sup = Supervisor(backoff=slow)
        w = worker(supervisor=sup).remote("w", [])
        await w
        w.crash.remote()
        await asyncio.sleep(0.02)
        assert system.list_actors()[0].state is ActorState.RESTARTING
        queued = w.incr.remote()  # accepted during the restart
        assert await queued == 1
        assert system.list_actors()[0].state is ActorState.ALIVE


async def test_backoff_waits_at_least_the_delay() -> None:
    """The restart waits the backoff delay; delays grow exponentially, capped."""
    b = Backoff(initial_s=0.03, max_s=0.1, multiplier=2.0, jitter=0.0)
    assert [b.delay(n) for n in (1, 2, 3, 4)] == [0.03, 0.06, 0.1, 0.1]
    assert b.delay(100_000) == 0.1  # no float overflow after many restarts
    assert Backoff(initial_s=0, max_s=0, jitter=0).delay(5000) == 0
    jittery = Backoff(initial_s=1.0, max_s=1.0, jitter=0.2)
    assert all(0.8 <= jittery.delay(1) <= 1.2 for _ in range(100))
    async with ActorSystem():
        sup = Supervisor(backoff=b, max_restarts=5)
        w = worker(supervisor=sup).remote("w", [])
        await w
        start = time.monotonic()
        with pytest.raises(Boom):
            await w.crash.remote()
        await w.incr.remote()
        assert time.monotonic() - start >= 0.03


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("one_for_one", ["a", "b", "c", "b"]),
        ("one_for_all", ["a", "b", "c", "a", "b", "c"]),
        ("rest_for_one", ["a", "b", "c", "b", "c"]),
    ],
)
async def test_strategies_restart_the_right_children_in_start_order(
    strategy: Any, expected: list[str]
) -> None:
    """one_for_one restarts the child; one_for_all all; rest_for_one it and later ones."""
    log: list[str] = []
    async with ActorSystem(), Supervisor(strategy=strategy, backoff=FAST) as sup:
        cls = worker(supervisor=sup)
        a, b, c = [await cls.remote(tag, log) for tag in "abc"]
        for h in (a, b, c):
            await h.incr.remote()
        with pytest.raises(Boom):
            await b.crash.remote()
        for h in (a, b, c):
            await settle(h)
        assert log == expected
        counts = [await h.incr.remote() for h in (a, b, c)]
        restarted = set(expected[3:])
        assert counts == [1 if t in restarted else 2 for t in "abc"]


async def test_intensity_exceeded_escalates_to_parent() -> None:
    """Past max_restarts within within_s, a child supervisor fails and its parent restarts it."""
    log: list[str] = []
    async with ActorSystem():
        top = Supervisor(strategy="one_for_one", max_restarts=5, backoff=FAST, name="top")
        inner = Supervisor(max_restarts=1, within_s=10, backoff=FAST, name="inner", parent=top)
        x = await worker(supervisor=inner).remote("x", log)
        y = await worker(supervisor=inner).remote("y", log)
        with pytest.raises(Boom):
            await x.crash.remote()  # restart 1: within intensity
        await settle(x)
        assert log == ["x", "y", "x"]
        with pytest.raises(Boom):
            await x.crash.remote()  # restart 2 > 1: inner gives up, top restarts its subtree
        await settle(x)
        await settle(y)
        assert log == ["x", "y", "x", "x", "y"]
        assert await y.incr.remote() == 1


class Stamped:
    """Records when each incarnation started; crashes on demand or while told to."""

    def __init__(self, starts: list[float], fail_starts: list[int] | None = None) -> None:
        starts.append(time.monotonic())
        if fail_starts:
            fail_starts.pop()
            raise Boom("crash on start")

    def ping(self) -> str:
        return "pong"

    def crash(self) -> None:
        raise Boom


def stamped(**options: Any) -> asyncactors.ActorClass[Stamped]:
    return asyncactors.remote(restart_on=(Boom,), **options)(Stamped)


class RecordingBackoff(Backoff):
    """A Backoff that records each attempt number it is asked to delay."""

    def delay(self, attempt: int) -> float:
        ATTEMPTS.append(attempt)
        return super().delay(attempt)


ATTEMPTS: list[int] = []


async def test_top_level_supervisor_past_intensity_comes_back_after_a_growing_backoff() -> None:
    """A crash-looping child takes its top-level supervisor down and back up, with growing
    delays; calls queued meanwhile run on the new tree."""
    backoff = Backoff(initial_s=0.01, max_s=0.04, multiplier=2.0, jitter=0.0)
    y_starts: list[float] = []
    x_starts: list[float] = []
    async with ActorSystem() as system:
        events = system.events()
        sup = Supervisor(max_restarts=1, within_s=5.0, backoff=backoff)
        y = await stamped(supervisor=sup).remote(y_starts)
        # x fails its first 6 starts: two per tree incarnation (one restart, then one
        # too many), so the tree fails three times in a row.
        x = stamped(supervisor=sup).remote(x_starts, [1] * 6)
        queued = [y.ping.remote() for _ in range(3)]
        assert await x.ping.remote() == "pong"
        assert await asyncactors.get(queued) == ["pong"] * 3
        assert len(x_starts) == 7
        assert len(y_starts) == 4
        # The root waited backoff.delay(n) before the n-th restart of the tree.
        gaps = [b - a for a, b in itertools.pairwise(y_starts)]
        for gap, delay in zip(gaps, [0.01, 0.02, 0.04], strict=True):
            assert gap >= delay, (gaps, delay)
        assert await y.ping.remote() == "pong"
        assert sup.children == [y, x]
    y_id = y._core.actor_id
    kinds = [e.kind async for e in events if e.actor_id == y_id]
    assert kinds == ["started"] + ["restarting", "restarted"] * 3 + ["stopped"]


async def test_top_level_backoff_starts_over_after_a_quiet_within_s() -> None:
    """Failures of a top-level tree in a row count up its backoff; a quiet within_s resets it."""
    ATTEMPTS.clear()
    async with ActorSystem():
        sup = Supervisor(max_restarts=0, within_s=0.2, backoff=RecordingBackoff(0, 0, jitter=0))
        x = await stamped(supervisor=sup).remote([])
        for _ in range(2):
            with pytest.raises(Boom):
                await x.crash.remote()
            assert await x.ping.remote() == "pong"
        await asyncio.sleep(0.25)
        with pytest.raises(Boom):
            await x.crash.remote()
        assert await x.ping.remote() == "pong"
    assert ATTEMPTS == [1, 2, 1]


async def test_escalating_supervisor_drops_its_own_pending_restarts() -> None:
    """A child waiting out its own backoff comes back with the whole tree, not alone."""
    seen: list[tuple[str, list[ActorState]]] = []

    class Peer:
        def __init__(self, tag: str, system: ActorSystem) -> None:
            seen.append((tag, [a.state for a in system.list_actors() if a.name == "b"]))

        def crash(self) -> None:
            raise Boom

        def ping(self) -> str:
            return "pong"

    backoff = Backoff(initial_s=0.05, max_s=1.0, multiplier=2.0, jitter=0.0)
    async with ActorSystem() as system:
        sup = Supervisor(max_restarts=1, backoff=backoff)
        cls = asyncactors.remote(restart_on=(Boom,), supervisor=sup)(Peer)
        a = await cls.remote("a", system)
        b = await cls.options(name="b").remote("b", system)
        # The second time round the tree's backoff (0.1 s) outlasts a's own (0.05 s).
        for _ in range(2):
            with pytest.raises(Boom):
                await a.crash.remote()  # restart 1: a would be back after 0.05 s ...
            with pytest.raises(Boom):
                await b.crash.remote()  # ... but restart 2 takes the whole tree down
            assert await asyncactors.get([a.ping.remote(), b.ping.remote()]) == ["pong"] * 2
    # Each restart of a sees b starting with it, not still waiting to restart.
    assert [states for tag, states in seen if tag == "a"][1:] == [[ActorState.PENDING_CREATION]] * 2


async def test_children_added_during_the_backoff_start_with_the_tree() -> None:
    """An actor (or a supervisor's actor) created while its tree is down starts when it is up."""
    slow = Backoff(initial_s=0.05, max_s=0.05, jitter=0.0)
    async with ActorSystem() as system:
        events = system.events()
        sup = Supervisor(max_restarts=0, backoff=slow)
        x = await worker(supervisor=sup).remote("x", [])
        with pytest.raises(Boom):
            await x.crash.remote()
        late = worker(supervisor=sup).remote("late", [])
        inner = Supervisor(parent=sup)
        nested = worker(supervisor=inner).remote("nested", [])
        states = {i.actor_id: i.state for i in system.list_actors()}
        assert states[late._core.actor_id] is ActorState.RESTARTING
        assert states[nested._core.actor_id] is ActorState.RESTARTING
        queued = nested.incr.remote()
        assert await late.context.remote() == (0, False)  # a first start, not a restart
        assert await queued == 1
        assert x._core.state is ActorState.ALIVE
        await events.aclose()
    started = {e.actor_id async for e in events if e.kind == "started"}
    assert {late._core.actor_id, nested._core.actor_id} <= started


async def test_intensity_exceeded_under_root_temporary_stays_down() -> None:
    """A temporary top-level supervisor that gives up takes its actors down for good."""
    async with ActorSystem() as system:
        sup = Supervisor(max_restarts=0, backoff=FAST, restart="temporary")
        x = await worker(supervisor=sup).remote("x", [])
        y = await worker(supervisor=sup).remote("y", [])
        other = await worker().remote("other", [])
        with pytest.raises(Boom):
            await x.crash.remote()
        for h in (x, y):
            with pytest.raises(ActorDiedError, match=r"exceeded 0 restarts.*temporary supervisor"):
                await h.incr.remote()
        assert await other.incr.remote() == 1
        with pytest.raises(
            RuntimeError,
            match=r"has failed and stays down.*Create a new Supervisor.*restart='permanent'",
        ):
            worker(supervisor=sup).remote("z", [])
        assert len(system.list_actors()) == 3  # nothing half-created


async def test_temporary_nested_supervisor_is_not_restarted_by_its_parent() -> None:
    """A temporary child supervisor that fails stays down; its siblings serve on."""
    async with ActorSystem():
        top = Supervisor(max_restarts=5, backoff=FAST)
        inner = Supervisor(max_restarts=0, backoff=FAST, parent=top, restart="temporary")
        x = await worker(supervisor=inner).remote("x", [])
        sibling = await worker(supervisor=top).remote("s", [])
        with pytest.raises(Boom):
            await x.crash.remote()
        with pytest.raises(ActorDiedError, match="temporary supervisor, never restarted"):
            await x.incr.remote()
        assert await sibling.incr.remote() == 1
        assert top.children == [sibling]


async def test_shutdown_during_the_backoff_fails_waiting_callers_and_leaves_nothing() -> None:
    """Shutdown does not wait out a tree's backoff: waiting callers get ActorDiedError, and
    no timer or task is left."""
    long = Backoff(initial_s=30.0, max_s=30.0, jitter=0.0)
    async with ActorSystem() as system:
        sup = Supervisor(max_restarts=0, backoff=long)
        x = await worker(supervisor=sup).remote("x", [])
        y = await worker(supervisor=sup).remote("y", [])
        with pytest.raises(Boom):
            await x.crash.remote()
        late = worker(supervisor=sup).remote("late", [])
        waiting = [x.incr.remote(), y.incr.remote(), late.incr.remote()]
        await asyncio.wait_for(system.shutdown(), 2.0)
        for ref in waiting:
            with pytest.raises(ActorDiedError, match="while waiting out a restart backoff"):
                await ref
        with pytest.raises(ActorDiedError):
            await late
        assert pending_timers() == []
        assert pending_tasks() == set()


async def test_a_crash_during_shutdown_is_not_restarted() -> None:
    """An actor crashing while the system drains dies at once; its queued callers are told."""

    class Gated:
        def __init__(self, gate: asyncio.Event) -> None:
            self.gate = gate

        async def wait(self) -> str:
            await self.gate.wait()
            return "opened"

        async def crash(self) -> None:
            raise Boom

        async def ping(self) -> str:
            return "pong"

    gate = asyncio.Event()
    long = Backoff(initial_s=30.0, max_s=30.0, jitter=0.0)
    async with ActorSystem() as system:
        sup = Supervisor(max_restarts=5, backoff=long)
        g = await asyncactors.remote(restart_on=(Boom,), supervisor=sup, max_concurrency=1)(
            Gated
        ).remote(gate)
        opened, crash, after = g.wait.remote(), g.crash.remote(), g.ping.remote()
        stopping = asyncio.ensure_future(system.shutdown())
        await asyncio.sleep(0)
        gate.set()
        await asyncio.wait_for(stopping, 2.0)
        assert await opened == "opened"
        with pytest.raises(Boom):
            await crash
        with pytest.raises(ActorDiedError, match="while waiting out a restart backoff"):
            await after
        assert pending_timers() == []


async def test_restart_types() -> None:
    """temporary: never restarted; transient: not after exit_actor(); permanent: always."""
    log: list[str] = []
    async with ActorSystem(), Supervisor(backoff=FAST, max_restarts=10) as sup:
        temp = await worker(supervisor=sup, restart="temporary").remote("temp", log)
        trans = await worker(supervisor=sup, restart="transient").remote("trans", log)
        perm = await worker(supervisor=sup, restart="permanent").remote("perm", log)
        with pytest.raises(Boom):
            await temp.crash.remote()
        with pytest.raises(ActorDiedError, match="temporary"):
            await temp.incr.remote()
        with pytest.raises(Boom):
            await trans.crash.remote()
        await settle(trans)
        with pytest.raises(ActorDiedError):
            await trans.quit.remote()
        with pytest.raises(ActorDiedError, match="exit_actor"):
            await trans.incr.remote()
        with pytest.raises(ActorDiedError):
            await perm.quit.remote()
        await settle(perm)
        assert await perm.incr.remote() == 1
        assert log == ["temp", "trans", "perm", "trans", "perm"]


async def test_a_permanent_actor_under_the_root_stays_down_after_exit_actor() -> None:
    """Given no supervisor, even restart='permanent' is not restarted after exit_actor():
    the root, like Ray, restarts only after crashes (it is never asked about an exit)."""
    log: list[str] = []
    async with ActorSystem():
        perm = await worker(restart="permanent", max_restarts=-1).remote("perm", log)
        with pytest.raises(ActorDiedError, match="exit_actor"):
            await perm.quit.remote()
        await asyncio.wait_for(perm._core.stopped(), 1.0)  # not restarting
        assert perm._core.state is ActorState.DEAD
        assert perm._core.restarts == 0
        assert log == ["perm"]


async def test_supervisor_block_stops_children_newest_first() -> None:
    """Leaving `async with Supervisor()` stops its children in reverse start order."""
    stopped: list[str] = []

    class Tracked:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        def __pre_destroy__(self) -> None:
            stopped.append(self.tag)

        def name(self) -> str:
            return self.tag

    async with ActorSystem():
        async with Supervisor() as sup:
            handles = [await asyncactors.remote(supervisor=sup)(Tracked).remote(t) for t in "abc"]
        assert stopped == ["c", "b", "a"]
        with pytest.raises(ActorDiedError, match="stopped by its supervisor"):
            await handles[0].name.remote()


async def test_monitor_completes_only_when_stopped_for_good() -> None:
    """monitor() ignores restarts and reports the final state, reason and exception."""
    async with ActorSystem():
        w = worker(max_restarts=1, name="mon").remote("w", [])
        watch = asyncio.ensure_future(w.monitor())
        with pytest.raises(Boom):
            await w.crash.remote()
        await settle(w)
        assert not watch.done()
        with pytest.raises(Boom):
            await w.crash.remote()
        info = await asyncio.wait_for(watch, 2)
        assert (info.actor_id, info.name, info.state) == (w._core.actor_id, "mon", ActorState.DEAD)
        assert "ran out of restarts" in info.reason
        assert isinstance(info.exception, Boom)


async def test_events_report_the_lifecycle() -> None:
    """events() yields started, crashed, restarting, restarted, then stopped at shutdown."""
    async with ActorSystem() as system:
        events = system.events()
        w = worker(max_restarts=1).remote("w", [])
        await w
        with pytest.raises(Boom):
            await w.crash.remote()
        await settle(w)
    kinds = [(e.kind, e.restart_count) async for e in events]
    assert kinds == [
        ("started", 0),
        ("crashed", 0),
        ("restarting", 0),
        ("restarted", 1),
        ("stopped", 1),
    ]


async def test_supervisor_validates_its_arguments() -> None:
    """Bad strategies, intensities and option types are refused with clear messages."""
    with pytest.raises(ValueError, match="unknown strategy 'one_for_some'"):
        Supervisor(strategy="one_for_some")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_restarts must be an int >= 0"):
        Supervisor(max_restarts=-1)
    with pytest.raises(TypeError, match=r"option 'supervisor' must be an asyncactors\.Supervisor"):
        asyncactors.remote(supervisor="root")(Worker)
    with pytest.raises(ValueError, match="option 'restart' must be one of"):
        asyncactors.remote(restart="sometimes")(Worker)
    with pytest.raises(TypeError, match="'restart_on' must be a tuple of exception types"):
        asyncactors.remote(restart_on=(Boom, "x"))(Worker)
    with pytest.raises(ValueError, match="multiplier must be >= 1"):
        Backoff(multiplier=0.5)
    with pytest.raises(
        ValueError, match=r"unknown restart 'never'.*valid: 'permanent', 'temporary'"
    ):
        Supervisor(restart="never")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'transient' would act as 'permanent'"):
        Supervisor(restart="transient")  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["initial_s", "max_s", "multiplier", "jitter"])
@pytest.mark.parametrize("value", [math.nan, math.inf], ids=["nan", "inf"])
def test_backoff_refuses_a_field_that_is_not_finite(field: str, value: float) -> None:
    """NaN passed every range check (it compares false), and became a restart timer's delay."""
    with pytest.raises(ValueError, match=f"Backoff {field} must be a finite number, got {value}"):
        Backoff(**{field: value})


def test_backoff_refuses_a_field_that_is_not_a_number() -> None:
    with pytest.raises(TypeError, match="Backoff initial_s must be a number, got '1'"):
        Backoff(initial_s="1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("within_s", "error"), [(math.nan, ValueError), ("5", TypeError), (True, TypeError)]
)
def test_supervisor_refuses_a_within_s_that_is_no_positive_number(
    within_s: Any, error: type[Exception]
) -> None:
    """NaN passed the > 0 check (it compares false with everything)."""
    with pytest.raises(error, match="within_s must be"):
        Supervisor(within_s=within_s)


async def test_thousands_of_restarts() -> None:
    """An actor crashed thousands of times keeps coming back; every call resolves."""
    instant = Backoff(initial_s=0, max_s=0, jitter=0)
    async with ActorSystem():
        sup = Supervisor(max_restarts=3000, within_s=60, backoff=instant)
        w = await worker(supervisor=sup).remote("w", [])
        for _ in range(2000):
            with pytest.raises(Boom):
                await w.crash.remote()
            assert await w.incr.remote() == 1
        assert w._core.restarts == 2000


async def test_threads_reaching_the_root_at_once_get_one_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Threads that reach the system's root supervisor at the same moment (callers'
    threads and the loop's) all get the same one: it is made once, so no restart is
    left on a second root that shutdown does not see."""
    bind = Supervisor._bind

    def slow_bind(self: Supervisor, system: Any) -> None:
        # Widens the window between finding no root and storing the new one, so
        # that every thread is in it at once.
        time.sleep(0.002)
        bind(self, system)

    monkeypatch.setattr(Supervisor, "_bind", slow_bind)
    async with ActorSystem() as system:
        barrier = threading.Barrier(8)
        roots: list[Any] = []

        def reach() -> None:
            barrier.wait()
            roots.append(system._host.root)

        threads = [threading.Thread(target=reach) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        roots.append(system._host.root)  # the loop's thread
        assert len(roots) == 9
        assert all(r is roots[0] for r in roots)
        assert system._root_supervisor is roots[0]
