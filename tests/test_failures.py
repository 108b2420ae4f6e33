"""How calls fail (issue 8): BaseExceptions, retries, exit_actor(), a sync method's coroutine.

- Any BaseException a method raises, other than KeyboardInterrupt and SystemExit, is
  that call's failure: the calls behind it run, and shutdown() returns.
- A CancelledError the method raised reaches its caller as TaskCancelledError; only a
  real cancellation of the actor's task from outside kills the actor.
- retry_exceptions reruns ordinary method exceptions; a crash reruns the calls it
  interrupted under max_task_retries alone.
- exit_actor() exits even when the method catches its exception, or runs in a task the
  method started.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import asyncactors
from asyncactors import ActorDiedError, ActorState, ActorSystem, Backoff, TaskCancelledError
from asyncactors._backends._local import ActorCore
from asyncactors._types import StopReason
from tests.test_properties import HANG_TIMEOUT, _run

FAST = Backoff(initial_s=0.001, max_s=0.002, jitter=0.0)

# Every test's actors must be done with well within this; a hang shows up as a timeout.
LIMIT = 5.0


class Boom(Exception):
    pass


@asynccontextmanager
async def system_within_limit() -> AsyncIterator[ActorSystem]:
    """An ActorSystem whose block, shutdown (no timeout) included, must end within LIMIT."""
    async with asyncio.timeout(LIMIT), ActorSystem() as system:
        yield system


async def failure(ref: asyncactors.ObjectRef[Any]) -> BaseException:
    """The exception a ref failed with, without raising it here (it may be a BaseException)."""
    fut = ref.future()
    await asyncio.wait([fut], timeout=LIMIT)
    assert fut.done(), f"{ref!r} never resolved"
    exc = fut.exception()
    assert exc is not None, f"{ref!r} succeeded with {fut.result()!r}"
    return exc


def state_of(handle: asyncactors.ActorHandle[Any]) -> ActorState:
    return handle._core.state


# -- 1. BaseExceptions are the call's failure ---------------------------------------------


class Raiser:
    def __init__(self) -> None:
        self.ran: list[int] = []

    def sync_raise(self, kind: type[BaseException]) -> None:
        raise kind()

    async def async_raise(self, kind: type[BaseException]) -> None:
        await asyncio.sleep(0)
        raise kind()

    def put(self, i: int) -> int:
        self.ran.append(i)
        return i

    async def aput(self, i: int) -> int:
        self.ran.append(i)
        return i

    async def inner_cancelled(self) -> None:
        inner = asyncio.ensure_future(asyncio.sleep(10))
        await asyncio.sleep(0)
        inner.cancel()
        await inner  # its CancelledError escapes the method

    async def hang(self) -> None:
        await asyncio.Event().wait()


@pytest.mark.parametrize(
    ("method", "kind", "options"),
    [
        ("sync_raise", GeneratorExit, {}),
        ("sync_raise", GeneratorExit, {"max_concurrency": 3}),
        ("async_raise", GeneratorExit, {"max_concurrency": 1}),
        ("async_raise", GeneratorExit, {}),
        ("sync_raise", BaseException, {}),
        ("async_raise", BaseException, {"max_concurrency": 1}),
    ],
)
async def test_generator_exit_or_base_exception_fails_only_its_call(
    method: str, kind: type[BaseException], options: dict[str, Any]
) -> None:
    """A method raising GeneratorExit (or a bare BaseException) fails its call; the calls
    queued behind it run and shutdown() without a timeout returns."""
    async with system_within_limit():
        r = asyncactors.remote(**options)(Raiser).remote()
        await r
        bad = getattr(r, method).remote(kind)
        behind = [r.put.remote(1), r.aput.remote(2), r.put.remote(3)]
        assert type(await failure(bad)) is kind
        assert await asyncio.wait_for(asyncactors.get(behind), LIMIT) == [1, 2, 3]
        assert state_of(r) is ActorState.ALIVE


@pytest.mark.parametrize("method", ["sync_raise", "async_raise"])
async def test_cancelled_error_raised_by_method_is_task_cancelled_error(method: str) -> None:
    """A CancelledError a method raises reaches its caller as TaskCancelledError naming the
    method, caused by the original; the actor serves the calls behind it."""
    async with system_within_limit():
        r = asyncactors.remote(max_concurrency=1)(Raiser).remote()
        bad = getattr(r, method).remote(asyncio.CancelledError)
        behind = r.aput.remote(1)
        with pytest.raises(TaskCancelledError, match=rf"call {method}\(\) on actor Raiser") as e:
            await bad
        assert isinstance(e.value.__cause__, asyncio.CancelledError)
        assert await asyncio.wait_for(behind, LIMIT) == 1
        assert await r.put.remote(2) == 2


async def test_stop_iteration_raised_by_a_sync_method_is_a_runtime_error() -> None:
    """StopIteration, which no future can hold, reaches the caller as RuntimeError naming
    the method, the original as __cause__; the calls behind it run."""
    async with system_within_limit():
        r = asyncactors.remote(Raiser).remote()
        bad = r.sync_raise.remote(StopIteration)
        behind = r.put.remote(1)
        with pytest.raises(RuntimeError, match=r"call sync_raise\(\) .* raised StopIteration") as e:
            await bad
        assert isinstance(e.value.__cause__, StopIteration)
        assert await asyncio.wait_for(behind, LIMIT) == 1


async def test_inner_task_cancellation_escaping_a_method_does_not_kill_the_actor() -> None:
    """An inner task's CancelledError escaping an async method fails that call only."""
    async with system_within_limit() as system:
        r = asyncactors.remote(Raiser).remote()
        with pytest.raises(TaskCancelledError, match=r"inner_cancelled\(\)") as e:
            await r.inner_cancelled.remote()
        assert isinstance(e.value.__cause__, asyncio.CancelledError)
        assert await r.aput.remote(1) == 1
        info = system.list_actors()[0]
        assert info.state is ActorState.ALIVE
        assert (info.calls_processed, info.calls_failed) == (2, 1)


async def test_cancelling_the_worker_from_outside_kills_the_actor_with_a_clear_message() -> None:
    """Cancelling an actor's worker task from outside the system kills the actor, saying so."""
    async with system_within_limit():
        r = asyncactors.remote(Raiser).remote()
        hung = r.hang.remote()
        await asyncio.sleep(0.01)
        workers = r._core.workers
        assert workers
        (task,) = workers
        task.cancel()
        reason = r"actor Raiser\(id=\d+\) had its worker task cancelled from outside the actor"
        with pytest.raises(ActorDiedError, match=reason):
            await hung
        with pytest.raises(ActorDiedError, match=reason):
            await r.put.remote(1)


async def test_a_cancelled_call_whose_method_raises_another_error_is_not_retried() -> None:
    """ref.cancel() of a running call whose method turns the cancellation into another
    exception: the call stays cancelled and is not retried, and the worker's cancellation
    is cleared, so a later method's own CancelledError does not kill the actor."""
    runs: list[str] = []

    class Converts(Raiser):
        async def convert(self) -> None:
            runs.append("convert")
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                raise ValueError("converted") from None

    async with system_within_limit():
        c = asyncactors.remote(max_concurrency=1)(Converts).remote()
        ref = c.convert.options(max_task_retries=3, retry_exceptions=True).remote()
        await asyncio.sleep(0.01)
        assert ref.cancel()
        with pytest.raises(TaskCancelledError, match="was cancelled"):
            await ref
        with pytest.raises(TaskCancelledError, match="nobody cancelled the call"):
            await c.inner_cancelled.remote()
        assert await c.aput.remote(1) == 1
        assert runs == ["convert"]
        assert state_of(c) is ActorState.ALIVE


async def test_exit_actor_during_shutdown_does_not_restart_a_permanent_child() -> None:
    """exit_actor() while the system shuts down stops a permanent child for good instead of
    restarting it, and the shutdown completes."""
    starts: list[str] = []

    class Child(Quitter):
        def __init__(self, destroyed: list[str]) -> None:
            super().__init__(destroyed)
            starts.append("start")

        async def hold(self, gate: asyncio.Event) -> None:
            await gate.wait()

        def quit(self) -> None:
            asyncactors.exit_actor()

    destroyed: list[str] = []
    async with system_within_limit() as system:
        sup = asyncactors.Supervisor(backoff=FAST)
        q = asyncactors.remote(Child).options(supervisor=sup, max_concurrency=1).remote(destroyed)
        await q
        gate = asyncio.Event()
        held = q.hold.remote(gate)
        quit_ref = q.quit.remote()  # queued behind hold(): it runs during the shutdown
        shutdown = asyncio.ensure_future(system.shutdown())
        await asyncio.sleep(0.01)
        assert q._core.stopping == "shutdown"
        gate.set()
        await held
        with pytest.raises(ActorDiedError, match="exit_actor"):
            await quit_ref
        await shutdown
    assert starts == ["start"]
    assert destroyed == ["destroyed"]


@pytest.mark.parametrize("method", ["sync_raise", "async_raise"])
async def test_system_exit_in_a_method_exits_the_actor(method: str) -> None:
    """SystemExit raised in a method exits the actor as exit_actor() does: __pre_destroy__
    runs, its caller and the queued calls get ActorDiedError."""
    destroyed: list[bool] = []

    class Exiting(Raiser):
        def __pre_destroy__(self) -> None:
            destroyed.append(True)

    async with system_within_limit():
        r = asyncactors.remote(max_concurrency=1)(Exiting).remote()
        bad = getattr(r, method).remote(SystemExit)
        queued = r.put.remote(1)
        with pytest.raises(ActorDiedError, match="raised SystemExit") as e:
            await bad
        assert isinstance(e.value.__cause__, SystemExit)
        with pytest.raises(ActorDiedError, match="SystemExit"):
            await queued
        await r._core.stopped()
        assert destroyed == [True]
        with pytest.raises(ActorDiedError, match="a method raised SystemExit"):
            await r.put.remote(2)


@pytest.mark.parametrize("method", ["sync_raise", "async_raise"])
def test_keyboard_interrupt_propagates_and_the_calls_behind_still_run(method: str) -> None:
    """KeyboardInterrupt in a method stops the loop as asyncio lets it; its caller gets it,
    and if the loop runs on, the calls behind it run."""
    _interrupt_then_run_on(method)
    # The task that ran an async method ended with KeyboardInterrupt, which nobody
    # retrieves (as in plain asyncio): collected now, asyncio logs it in this test
    # rather than in whichever test the garbage collector runs in next.
    gc.collect()


def _interrupt_then_run_on(method: str) -> None:
    system = ActorSystem()

    async def start() -> asyncactors.ActorHandle[Raiser]:
        await system.__aenter__()
        r = asyncactors.remote(max_concurrency=1)(Raiser).remote()
        await r.put.remote(0)
        return r

    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        r = runner.run(start())

        refs: list[asyncactors.ObjectRef[Any]] = []

        async def call_then_wait() -> None:
            refs.extend((getattr(r, method).remote(KeyboardInterrupt), r.put.remote(1)))
            await asyncio.sleep(LIMIT)

        with pytest.raises(KeyboardInterrupt):
            runner.run(call_then_wait())

        async def rest() -> Any:
            # No new call arrives to wake the actor: the call behind must run by itself.
            return await asyncio.wait_for(refs[1].future(), LIMIT)

        assert runner.run(rest()) == 1
        assert r._core.instance.ran == [0, 1]
        with pytest.raises(KeyboardInterrupt):
            refs[0].result(0)
        runner.run(system.shutdown())


async def test_base_exception_in_init_crashes_without_escaping_the_loop() -> None:
    """GeneratorExit raised by __init__ fails the start like any error; nothing escapes into
    the event loop's exception handler."""

    class BadInit:
        def __init__(self) -> None:
            raise GeneratorExit

    seen: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        async with system_within_limit():
            b = asyncactors.remote(BadInit).remote()
            with pytest.raises(ActorDiedError, match="__init__ raised GeneratorExit") as e:
                await b
            assert isinstance(e.value.__cause__, GeneratorExit)
    finally:
        loop.set_exception_handler(None)
    assert seen == []


async def test_cancelled_error_raised_in_post_create_is_a_failed_start() -> None:
    """A CancelledError __post_create__ raises itself fails the start naming it, like any
    other exception; only a real cancellation says the actor was cancelled."""

    class BadPost:
        async def __post_create__(self) -> None:
            raise asyncio.CancelledError("mine")

    async with system_within_limit():
        b = asyncactors.remote(BadPost).remote()
        with pytest.raises(ActorDiedError, match="__post_create__ raised CancelledError: mine"):
            await b


async def test_base_exception_in_pre_destroy_is_logged_and_the_actor_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """GeneratorExit raised by __pre_destroy__ is logged; the actor still stops."""

    class BadStop:
        def ping(self) -> int:
            return 1

        def __pre_destroy__(self) -> None:
            raise GeneratorExit

    with caplog.at_level(logging.ERROR, logger="asyncactors"):
        async with system_within_limit() as system:
            b = asyncactors.remote(BadStop).remote()
            assert await b.ping.remote() == 1
        assert system.list_actors()[0].state is ActorState.DEAD
    assert any("__pre_destroy__" in rec.getMessage() for rec in caplog.records)


# -- 4. retries ------------------------------------------------------------------------


class Flaky:
    """Fails its first ``fails`` attempts of ``work``, then succeeds."""

    def __init__(self, fails: int, error: type[Exception] = ValueError) -> None:
        self.fails = fails
        self.error = error
        self.log: list[str] = []

    def work(self, tag: str) -> str:
        self.log.append(tag)
        if self.fails:
            self.fails -= 1
            raise self.error(tag)
        return tag

    async def awork(self, tag: str) -> str:
        await asyncio.sleep(0)
        return self.work(tag)

    def put(self, tag: str) -> str:
        self.log.append(tag)
        return tag

    def crash(self, tag: str) -> None:
        self.log.append(tag)
        raise Boom(tag)

    def history(self) -> list[str]:
        return self.log


@pytest.mark.parametrize("method", ["work", "awork"])
async def test_retry_exceptions_reruns_an_ordinary_exception(method: str) -> None:
    """max_task_retries with retry_exceptions=True reruns a method that raised ValueError,
    ahead of the calls queued behind it; no restart happens."""
    async with system_within_limit() as system:
        f = asyncactors.remote(max_task_retries=2, max_concurrency=1)(Flaky).remote(2)
        call = getattr(f, method).options(retry_exceptions=True).remote("a")
        after = f.put.remote("b")
        assert await call == "a"
        assert await after == "b"
        assert await f.history.remote() == ["a", "a", "a", "b"]
        info = system.list_actors()[0]
        assert info.state is ActorState.ALIVE
        assert f._core.restarts == 0
        assert (info.calls_processed, info.calls_failed) == (3, 0)


async def test_retry_exceptions_stops_at_max_task_retries() -> None:
    """A method that keeps raising runs 1 + max_task_retries times; its caller gets the last
    exception."""
    async with system_within_limit():
        f = asyncactors.remote(Flaky).remote(100)
        with pytest.raises(ValueError, match="x"):
            await f.work.options(max_task_retries=3, retry_exceptions=True).remote("x")
        assert await f.history.remote() == ["x"] * 4


async def test_retry_exceptions_list_retries_only_those_types() -> None:
    """retry_exceptions=[types] reruns only exceptions of those types."""

    @asyncactors.remote(max_task_retries=1)
    class Typed(Flaky):
        @asyncactors.method(retry_exceptions=[KeyError])
        def work(self, tag: str) -> str:
            return super().work(tag)

    async with system_within_limit():
        retried = Typed.remote(1, KeyError)
        assert await retried.work.remote("k") == "k"
        assert await retried.history.remote() == ["k", "k"]
        not_retried = Typed.remote(1, ValueError)
        with pytest.raises(ValueError, match="v"):
            await not_retried.work.remote("v")
        assert await not_retried.history.remote() == ["v"]


async def test_without_retry_exceptions_an_exception_is_not_retried() -> None:
    """max_task_retries alone does not rerun a method exception (Ray's default)."""
    async with system_within_limit():
        f = asyncactors.remote(max_task_retries=3)(Flaky).remote(1)
        with pytest.raises(ValueError, match="a"):
            await f.work.remote("a")
        assert await f.history.remote() == ["a"]


async def test_crash_reruns_the_crashing_call_without_retry_exceptions() -> None:
    """A restart_on exception is a crash: the crashing call reruns on the next incarnation
    under max_task_retries, without retry_exceptions."""
    runs: list[int] = []

    class CrashOnce:
        def __init__(self) -> None:
            self.incarnation = len(runs)

        def work(self) -> int:
            runs.append(self.incarnation)
            if len(runs) == 1:
                raise Boom
            return self.incarnation

    async with system_within_limit():
        c = asyncactors.remote(restart_on=(Boom,), max_restarts=5, max_task_retries=1)(
            CrashOnce
        ).remote()
        assert await c.work.remote() == 1  # ran again, on the second incarnation
        assert runs == [0, 1]
        assert c._core.restarts == 1


async def test_a_call_crashing_every_incarnation_is_bounded_by_max_restarts() -> None:
    """With unlimited max_task_retries, a call that crashes every incarnation runs
    1 + max_restarts times; then the actor is dead and the call fails with ActorDiedError."""
    runs: list[str] = []

    class Crasher:
        def crash(self) -> None:
            runs.append("x")
            raise Boom

    async with system_within_limit():
        c = asyncactors.remote(restart_on=(Boom,), max_restarts=2, max_task_retries=-1)(
            Crasher
        ).remote()
        with pytest.raises(ActorDiedError, match=r"ran out of restarts \(2\)") as e:
            await c.crash.remote()
        assert isinstance(e.value.__cause__, Boom)
        assert runs == ["x"] * 3


async def test_a_call_crashing_every_incarnation_is_bounded_by_max_task_retries() -> None:
    """With restarts to spare, a call that crashes every incarnation runs
    1 + max_task_retries times, then fails with its exception; the actor serves on."""
    runs: list[str] = []

    class Crasher:
        def crash(self) -> None:
            runs.append("x")
            raise Boom

        def ping(self) -> str:
            return "pong"

    async with system_within_limit():
        c = asyncactors.remote(restart_on=(Boom,), max_restarts=-1, max_task_retries=2)(
            Crasher
        ).remote()
        with pytest.raises(Boom):
            await c.crash.remote()
        assert runs == ["x"] * 3
        assert await c.ping.remote() == "pong"


# -- 4. exit_actor() -------------------------------------------------------------------


class Quitter:
    def __init__(self, destroyed: list[str]) -> None:
        self.destroyed = destroyed

    def caught(self) -> str:
        try:
            asyncactors.exit_actor()
        except BaseException:
            return "caught"
        return "unreachable"

    async def acaught(self) -> str:
        try:
            asyncactors.exit_actor()
        except BaseException:
            await asyncio.sleep(0)
            return "caught"
        return "unreachable"

    async def in_task(self, wait: bool) -> str:
        async def quit_later() -> None:
            asyncactors.exit_actor()

        task = asyncio.ensure_future(quit_later())
        if wait:
            await asyncio.wait([task])  # the task's own exception stays in the task
            assert task.exception() is not None
        return "returned"

    async def in_task_later(self) -> str:
        async def quit_later() -> None:
            await asyncio.sleep(0.005)  # the actor is idle by then
            asyncactors.exit_actor()

        self.quitting = asyncio.ensure_future(quit_later())
        return "returned"

    @asyncactors.method(run_in_thread=True)
    def caught_in_thread(self) -> str:
        try:
            asyncactors.exit_actor()
        except BaseException:
            return "caught"
        return "unreachable"

    def ping(self) -> str:
        return "pong"

    def __pre_destroy__(self) -> None:
        self.destroyed.append("destroyed")


@pytest.mark.parametrize("method", ["caught", "acaught", "caught_in_thread"])
async def test_exit_actor_exits_even_when_the_method_catches_it(method: str) -> None:
    """exit_actor() exits the actor even if the method catches its exception: the caller
    gets what the method returned, queued calls fail, __pre_destroy__ runs."""
    destroyed: list[str] = []
    async with system_within_limit():
        q = asyncactors.remote(max_concurrency=1)(Quitter).remote(destroyed)
        ref = getattr(q, method).remote()
        queued = q.ping.remote()
        assert await ref == "caught"
        with pytest.raises(ActorDiedError, match="exit_actor"):
            await queued
        await asyncio.wait_for(q._core.stopped(), LIMIT)
        assert destroyed == ["destroyed"]
        with pytest.raises(ActorDiedError, match="exit_actor"):
            await q.ping.remote()


@pytest.mark.parametrize("wait", [True, False])
async def test_exit_actor_in_a_task_the_method_started_exits_the_actor(wait: bool) -> None:
    """exit_actor() in a task an async method started finds the actor and exits it."""
    destroyed: list[str] = []
    async with system_within_limit():
        q = asyncactors.remote(Quitter).remote(destroyed)
        assert await q.in_task.remote(wait) == "returned"
        await asyncio.wait_for(q._core.stopped(), LIMIT)
        assert destroyed == ["destroyed"]
        with pytest.raises(ActorDiedError, match="exit_actor"):
            await q.ping.remote()


async def test_exit_actor_in_a_task_that_outlives_the_call_stops_the_idle_actor() -> None:
    """exit_actor() in a task a method left running, once the actor is idle, still stops
    it: __pre_destroy__ runs and the actor is DEAD (it used to refuse calls forever)."""
    destroyed: list[str] = []
    async with system_within_limit():
        q = asyncactors.remote(Quitter).remote(destroyed)
        assert await q.in_task_later.remote() == "returned"
        await asyncio.wait_for(q._core.stopped(), LIMIT)
        assert destroyed == ["destroyed"]
        assert state_of(q) is ActorState.DEAD


@pytest.mark.parametrize("method", ["caught", "acaught"])
async def test_exit_actor_caught_by_a_permanent_child_restarts_it(method: str) -> None:
    """A permanent child whose method catches exit_actor()'s exception is restarted all the
    same; the caller gets what the method returned, and queued calls run on the new
    incarnation."""
    destroyed: list[str] = []
    async with system_within_limit():
        sup = asyncactors.Supervisor(backoff=FAST)
        q = asyncactors.remote(Quitter).options(supervisor=sup, max_concurrency=1).remote(destroyed)
        await q
        ref = getattr(q, method).remote()
        queued = q.ping.remote()
        assert await ref == "caught"
        assert await queued == "pong"
        assert q._core.restarts == 1


async def test_exit_actor_in_init_stops_without_pre_destroy() -> None:
    """exit_actor() in __init__: awaiting the handle raises ActorDiedError, and
    __pre_destroy__ does not run, there being no instance."""
    destroyed: list[str] = []

    class InitQuits(Quitter):
        def __init__(self, destroyed: list[str]) -> None:
            super().__init__(destroyed)
            asyncactors.exit_actor()

    async with system_within_limit():
        q = asyncactors.remote(InitQuits).remote(destroyed)
        queued = q.ping.remote()
        with pytest.raises(ActorDiedError, match=r"exited in __init__ via exit_actor\(\)"):
            await q
        with pytest.raises(ActorDiedError, match="exit"):
            await queued
    assert destroyed == []


async def test_exit_actor_caught_in_init_stops_with_pre_destroy() -> None:
    """exit_actor() in an __init__ that catches its exception and returns stops the actor
    before any call, and __pre_destroy__ runs: there is an instance."""
    destroyed: list[str] = []

    class InitCatches(Quitter):
        def __init__(self, destroyed: list[str]) -> None:
            super().__init__(destroyed)
            with suppress(BaseException):
                asyncactors.exit_actor()

    async with system_within_limit():
        q = asyncactors.remote(InitCatches).remote(destroyed)
        queued = q.ping.remote()
        with pytest.raises(ActorDiedError, match=r"exited in __init__ via exit_actor\(\)"):
            await q
        with pytest.raises(ActorDiedError, match="exit"):
            await queued
        await asyncio.wait_for(q._core.stopped(), LIMIT)
    assert destroyed == ["destroyed"]


async def test_exit_actor_in_post_create_runs_pre_destroy() -> None:
    """exit_actor() in __post_create__ stops the actor and runs __pre_destroy__, as the
    README says for exit_actor()."""
    destroyed: list[str] = []

    class PostQuits(Quitter):
        async def __post_create__(self) -> None:
            asyncactors.exit_actor()

    async with system_within_limit():
        q = asyncactors.remote(PostQuits).remote(destroyed)
        with pytest.raises(ActorDiedError, match=r"exited in __post_create__ via exit_actor"):
            await q
        await asyncio.wait_for(q._core.stopped(), LIMIT)
    assert destroyed == ["destroyed"]


async def test_exit_actor_in_pre_destroy_does_not_break_the_stop() -> None:
    """exit_actor() in __pre_destroy__ asks for the stop under way: nothing escapes, the
    actor stops and the system shuts down."""

    class QuitsTwice(Quitter):
        def __pre_destroy__(self) -> None:
            super().__pre_destroy__()
            asyncactors.exit_actor()

    destroyed: list[str] = []
    async with system_within_limit() as system:
        q = asyncactors.remote(QuitsTwice).remote(destroyed)
        assert await q.ping.remote() == "pong"
    assert destroyed == ["destroyed"]
    assert system.list_actors()[0].state is ActorState.DEAD


# -- 7. a sync method returning a coroutine --------------------------------------------


class Forgetful:
    async def helper(self) -> int:
        return 1

    def forgot_async(self) -> Any:
        return self.helper()

    @asyncactors.method(run_in_thread=True)
    def forgot_in_thread(self) -> Any:
        return self.helper()

    def ping(self) -> str:
        return "pong"


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("forgot_async", {}),
        ("forgot_in_thread", {}),
        ("forgot_async", {"checkpoint_store": "memory"}),
    ],
)
async def test_sync_method_returning_a_coroutine_fails_the_call(
    method: str, options: dict[str, Any]
) -> None:
    """A sync method that returns an un-awaited coroutine fails its call with TypeError
    naming the method and 'async def'; the coroutine is closed, so no warning escapes."""
    if options.get("checkpoint_store") == "memory":
        options = {**options, "checkpoint_store": asyncactors.MemoryStore(), "checkpoint_every": 1}
    async with system_within_limit():
        f = asyncactors.remote(**options)(Forgetful).remote()
        with pytest.raises(TypeError, match=rf"Forgetful\.{method}\(\) .*'async def'"):
            await getattr(f, method).remote()
        assert await f.ping.remote() == "pong"


# -- property: no BaseException loses a call or hangs shutdown -------------------------

# What a method raises, and what its caller gets.
RAISES: dict[str, tuple[Callable[[], BaseException], type[BaseException]] | None] = {
    "value": None,
    "error": (lambda: ValueError("e"), ValueError),
    "generator_exit": (GeneratorExit, GeneratorExit),
    "cancelled": (asyncio.CancelledError, TaskCancelledError),
    "stop_iteration": (StopIteration, RuntimeError),
    "base": (BaseException, BaseException),
}


@asyncactors.remote
class Mixed:
    def __init__(self) -> None:
        self.ran: list[int] = []

    def sync_op(self, i: int, kind: str) -> int:
        self.ran.append(i)
        raises = RAISES[kind]
        if raises is not None:
            raise raises[0]()
        return i

    async def async_op(self, i: int, kind: str, yields: int) -> int:
        for _ in range(yields):
            await asyncio.sleep(0)
        return self.sync_op(i, kind)

    def log(self) -> list[int]:
        return self.ran


async def _mixed_body(
    system: ActorSystem, max_concurrency: int, plans: list[tuple[bool, str, int]]
) -> None:
    m = Mixed.options(max_concurrency=max_concurrency).remote()
    refs = [
        m.async_op.remote(i, kind, yields) if is_async else m.sync_op.remote(i, kind)
        for i, (is_async, kind, yields) in enumerate(plans)
    ]
    futures = [ref.future() for ref in refs]
    _, pending = await asyncio.wait(futures, timeout=HANG_TIMEOUT)
    assert not pending, f"{len(pending)} of {len(refs)} calls never resolved"
    for i, (fut, (_, kind, _)) in enumerate(zip(futures, plans, strict=True)):
        raises = RAISES[kind]
        if raises is None:
            assert fut.result() == i
        else:
            assert type(fut.exception()) is raises[1]
    assert sorted(await m.log.remote()) == list(range(len(plans)))
    assert system.list_actors()[0].state is ActorState.ALIVE


@settings(max_examples=40, deadline=None)
@given(
    max_concurrency=st.integers(1, 3),
    plans=st.lists(
        st.tuples(st.booleans(), st.sampled_from(sorted(RAISES)), st.integers(0, 2)),
        min_size=1,
        max_size=12,
    ),
)
def test_no_exception_a_method_raises_loses_a_call_or_hangs_shutdown(
    max_concurrency: int, plans: list[tuple[bool, str, int]]
) -> None:
    """Whatever mix of values, exceptions, GeneratorExit, CancelledError, StopIteration and
    BaseException the methods produce, every call resolves once, each ran once, the actor
    stays alive, and shutdown returns."""
    _run(_mixed_body, max_concurrency, plans)


async def test_exit_actor_from_a_thread_is_handed_to_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """exit_actor() in a method running in a thread acts on the actor on the loop's thread."""
    threads: list[int] = []
    original = ActorCore._exit

    def spy(core: ActorCore, how: StopReason) -> None:
        threads.append(threading.get_ident())
        original(core, how)

    monkeypatch.setattr(ActorCore, "_exit", spy)
    async with system_within_limit():
        q = asyncactors.remote(Quitter).remote([])
        assert await q.caught_in_thread.remote() == "caught"
        await asyncio.wait_for(q._core.stopped(), LIMIT)
    assert threads
    assert set(threads) == {threading.get_ident()}
