"""Ray's failure behaviour through asyncactors.compat.ray: exceptions, kill, restart, cancel.

After the behaviour Ray's own test_failure.py, test_actor_failures.py and
test_cancel.py check; the tests are our own.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import pickle
import threading
import time
from types import ModuleType
from typing import Any

import pytest

import asyncactors.compat.ray as compat_ray
from asyncactors.compat.ray import exceptions as rex


class CustomError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"code {code}")
        self.code = code


@compat_ray.remote
class Faulty:
    def __init__(self) -> None:
        self.calls = 0

    def fail(self, msg: str) -> None:
        raise ValueError(msg)

    def custom(self, code: int) -> None:
        raise CustomError(code)

    def ok(self) -> str:
        return "ok"

    def flaky(self, times: int) -> int:
        self.calls += 1
        if self.calls <= times:
            raise ValueError(f"attempt {self.calls}")
        return self.calls

    def pid(self) -> int:
        return id(self)


def test_method_exception_is_a_ray_task_error_and_the_original_type(ray: ModuleType) -> None:
    """A method's exception arrives as RayTaskError and as its own class, cause attached."""
    f = Faulty.remote()
    with pytest.raises(ValueError, match="boom") as info:
        ray.get(f.fail.remote("boom"))
    err = info.value
    assert isinstance(err, rex.RayTaskError)
    assert isinstance(err, rex.RayError)
    assert type(err).__name__ == "RayTaskError(ValueError)"
    assert isinstance(err.cause, ValueError)
    assert str(err.cause) == "boom"
    assert "Faulty.fail" in str(err)
    assert "ValueError: boom" in str(err)
    # The actor serves on after a method's exception.
    assert ray.get(f.ok.remote()) == "ok"


def test_custom_exception_fields_read_through(ray: ModuleType) -> None:
    """A custom exception's own attributes are readable on the RayTaskError."""
    with pytest.raises(CustomError) as info:
        ray.get(Faulty.remote().custom.remote(42))
    assert info.value.code == 42  # type: ignore[attr-defined]


def test_task_error_pickles_and_keeps_both_types(ray: ModuleType) -> None:
    """RayTaskError(X) survives pickling as an instance of both classes."""
    with pytest.raises(ValueError, match="p") as info:
        ray.get(Faulty.remote().fail.remote("p"))
    again = pickle.loads(pickle.dumps(info.value))
    assert isinstance(again, rex.RayTaskError)
    assert isinstance(again, ValueError)


def test_failed_ref_as_argument_fails_the_dependent_call(ray: ModuleType) -> None:
    """A call whose ref argument failed does not run; it raises the same error."""
    f = Faulty.remote()
    bad = f.fail.remote("upstream")

    @ray.remote
    def consume(x: Any) -> Any:
        return x

    with pytest.raises(ValueError, match="upstream"):
        ray.get(consume.remote(bad))


def test_nested_error_keeps_the_original_type(ray: ModuleType) -> None:
    """An error got inside a task and re-raised reaches the driver with its type."""

    @ray.remote
    def inner() -> None:
        raise KeyError("deep")

    @ray.remote
    def outer() -> Any:
        return ray.get(inner.remote())

    with pytest.raises(KeyError):
        ray.get(outer.remote())


def test_error_in_constructor_kills_the_actor(ray: ModuleType) -> None:
    """An exception in __init__ makes every call raise ActorDiedError naming it."""

    @ray.remote
    class Broken:
        def __init__(self) -> None:
            raise ZeroDivisionError("in init")

        def m(self) -> int:
            return 1

    b = Broken.remote()
    with pytest.raises(rex.ActorDiedError, match="in init") as info:
        ray.get(b.m.remote())
    assert isinstance(info.value, rex.RayActorError)


def test_kill_fails_pending_and_later_calls(ray: ModuleType) -> None:
    """ray.kill fails the running call and every later one with ActorDiedError, whose
    message names ray.kill (not the native API compat calls)."""

    @ray.remote
    class Sleeper:
        async def sleep(self) -> None:
            await asyncio.sleep(30)

        def ok(self) -> int:
            return 1

    s = Sleeper.remote()
    assert ray.get(s.ok.remote()) == 1
    pending = s.sleep.remote()
    ray.kill(s)
    with pytest.raises(rex.ActorDiedError, match=r"was killed by ray\.kill\(\)"):
        ray.get(pending, timeout=5)
    with pytest.raises(rex.ActorDiedError, match=r"was killed by ray\.kill\(\)"):
        ray.get(s.ok.remote(), timeout=5)
    with pytest.raises(ValueError, match="only supported for actors"):
        ray.kill("not a handle")


def test_kill_without_restart_ends_even_a_restartable_actor(ray: ModuleType) -> None:
    """ray.kill (no_restart=True by default) is final even with max_restarts."""
    f = Faulty.options(max_restarts=3).remote()
    ray.get(f.ok.remote())
    ray.kill(f)
    with pytest.raises(rex.ActorDiedError):
        ray.get(f.ok.remote(), timeout=5)


def test_kill_with_restart_brings_back_a_fresh_actor(ray: ModuleType) -> None:
    """ray.kill(no_restart=False) restarts within max_restarts: state lost, handle kept."""

    @ray.remote(max_restarts=1)
    class Stateful:
        def __init__(self) -> None:
            self.n = 0

        def incr(self) -> int:
            self.n += 1
            return self.n

        def restarted(self) -> bool:
            return ray.get_runtime_context().was_current_actor_reconstructed

    s = Stateful.remote()
    assert ray.get([s.incr.remote(), s.incr.remote()]) == [1, 2]
    assert ray.get(s.restarted.remote()) is False
    ray.kill(s, no_restart=False)
    assert ray.get(s.incr.remote(), timeout=5) == 1
    assert ray.get(s.restarted.remote()) is True
    # The restart used up max_restarts=1: the next one is final.
    ray.kill(s, no_restart=False)
    with pytest.raises(rex.ActorDiedError, match=r"killed by ray\.kill\(no_restart=False\)"):
        ray.get(s.incr.remote(), timeout=5)


def test_max_task_retries_reruns_calls_interrupted_by_a_restart(ray: ModuleType) -> None:
    """A call running when the actor dies is retried on the restarted actor (max_task_retries)."""

    @ray.remote(max_restarts=1, max_task_retries=1)
    class Slow:
        def __init__(self) -> None:
            self.incarnation = time.monotonic()

        async def slow(self, release: Any) -> float:
            await release.wait.remote()
            return self.incarnation

        async def first(self) -> float:
            return self.incarnation

    @ray.remote
    class Gate:
        def __init__(self) -> None:
            self.event = asyncio.Event()

        async def wait(self) -> None:
            await self.event.wait()

        async def open(self) -> None:
            self.event.set()

    gate = Gate.remote()
    s = Slow.remote()
    before = ray.get(s.first.remote())
    ref = s.slow.remote(gate)
    ray.wait([ref], timeout=0.05)
    ray.kill(s, no_restart=False)
    ray.get(gate.open.remote())
    assert ray.get(ref, timeout=5) != before


def test_method_retry_exceptions_reruns_a_failing_method(ray: ModuleType) -> None:
    """max_task_retries with retry_exceptions=True reruns a method that raised."""
    f = Faulty.options(max_task_retries=2).remote()
    assert ray.get(f.flaky.options(retry_exceptions=True).remote(2)) == 3
    g = Faulty.options(max_task_retries=2).remote()
    with pytest.raises(ValueError, match="attempt 1"):
        ray.get(g.flaky.remote(2))


def test_retry_exceptions_list_retries_only_those_types(ray: ModuleType) -> None:
    """retry_exceptions=[KeyError] does not retry a ValueError."""
    f = Faulty.options(max_task_retries=5).remote()
    with pytest.raises(ValueError, match="attempt 1"):
        ray.get(f.flaky.options(retry_exceptions=[KeyError]).remote(1))
    h = Faulty.options(max_task_retries=5).remote()
    assert ray.get(h.flaky.options(retry_exceptions=[ValueError]).remote(1)) == 2


def test_exit_actor_ends_the_actor_after_the_method(ray: ModuleType) -> None:
    """ray.actor.exit_actor() ends the actor: later calls raise ActorDiedError."""

    @ray.remote
    class Quitter:
        def quit(self) -> None:
            ray.actor.exit_actor()

        def ok(self) -> int:
            return 1

    q = Quitter.remote()
    assert ray.get(q.ok.remote()) == 1
    with pytest.raises(rex.RayActorError):
        ray.get(q.quit.remote())
    with pytest.raises(rex.ActorDiedError):
        ray.get(q.ok.remote(), timeout=5)
    with pytest.raises(TypeError):
        ray.actor.exit_actor()


def test_ray_terminate_stops_after_queued_calls(ray: ModuleType) -> None:
    """handle.__ray_terminate__.remote() lets queued calls finish, then stops the actor;
    its own ref fails with ActorDiedError, as Ray's does (the call ends its actor)."""
    f = Faulty.remote()
    first = f.ok.remote()
    with pytest.raises(rex.ActorDiedError):
        ray.get(f.__ray_terminate__.remote(), timeout=5)
    assert ray.get(first) == "ok"
    with pytest.raises(rex.ActorDiedError):
        ray.get(f.ok.remote(), timeout=5)


def test_cancel_a_queued_actor_call(ray: ModuleType) -> None:
    """A queued call that is cancelled never runs and raises TaskCancelledError."""

    @ray.remote
    class Gate:
        def __init__(self) -> None:
            self.event = asyncio.Event()
            self.ran: list[str] = []

        async def block(self) -> None:
            await self.event.wait()

        async def open(self) -> None:
            self.event.set()

    @ray.remote
    class Serial:
        def __init__(self) -> None:
            self.ran: list[int] = []

        def run(self, gate: Any, i: int) -> list[int]:
            if i == 0:
                ray.get(gate.block.remote())
            self.ran.append(i)
            return self.ran

    gate = Gate.remote()
    s = Serial.remote()
    first = s.run.remote(gate, 0)
    queued = s.run.remote(gate, 1)
    ray.cancel(queued)
    with pytest.raises(rex.TaskCancelledError):
        ray.get(queued, timeout=5)
    ray.get(gate.open.remote())
    assert ray.get(first) == [0]
    assert ray.get(s.run.remote(gate, 2)) == [0, 2]


def test_cancel_a_running_async_call(ray: ModuleType) -> None:
    """Cancelling a running async method cancels its task; the actor serves on."""

    @ray.remote
    class Waiter:
        async def forever(self) -> None:
            await asyncio.sleep(60)

        async def ok(self) -> str:
            return "ok"

    w = Waiter.remote()
    ref = w.forever.remote()
    ray.wait([ref], timeout=0.02)
    ray.cancel(ref)
    with pytest.raises(rex.TaskCancelledError):
        ray.get(ref, timeout=5)
    assert ray.get(w.ok.remote()) == "ok"
    with pytest.raises(ValueError, match="force=True"):
        ray.cancel(w.ok.remote(), force=True)


def test_running_sync_call_sees_is_canceled(ray: ModuleType) -> None:
    """A running threaded call cannot be interrupted; it sees is_canceled() and returns early."""
    started = threading.Event()

    @ray.remote
    class Poller:
        def poll(self) -> str:
            started.set()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if ray.get_runtime_context().is_canceled():
                    return "saw it"
                time.sleep(0.001)
            return "never saw it"

        def after(self) -> str:
            return "after"

    p = Poller.remote()
    ref = p.poll.remote()
    assert started.wait(5) or ray.wait([ref], timeout=5)
    ray.cancel(ref)
    with pytest.raises(rex.TaskCancelledError):
        ray.get(ref, timeout=5)
    assert ray.get(p.after.remote(), timeout=5) == "after"


def test_cancel_a_task(ray: ModuleType) -> None:
    """ray.cancel on a queued or running async task raises TaskCancelledError on get,
    naming the task (not the hidden actor that runs tasks)."""

    @ray.remote
    async def forever() -> None:
        await asyncio.sleep(60)

    ref = forever.remote()
    ray.wait([ref], timeout=0.02)
    ray.cancel(ref, force=True)
    with pytest.raises(rex.TaskCancelledError, match=r"task forever\(\) was cancelled"):
        ray.get(ref, timeout=5)


def test_cancel_a_task_with_num_returns_names_it_in_every_ref(ray: ModuleType) -> None:
    """ray.cancel on a task with num_returns=2: get() of either ref raises
    TaskCancelledError naming the task (not the hidden actor that runs tasks)."""

    @ray.remote(num_returns=2)
    async def forever2() -> tuple[int, int]:
        await asyncio.sleep(60)
        return 1, 2

    first, second = forever2.remote()
    ray.wait([first], timeout=0.02)
    ray.cancel(first, force=True)
    for ref in (first, second):
        with pytest.raises(rex.TaskCancelledError, match=r"task forever2\(\) was cancelled"):
            ray.get(ref, timeout=5)


def test_pending_calls_limit(ray: ModuleType) -> None:
    """Beyond max_pending_calls, .remote() raises PendingCallsLimitExceeded."""

    @ray.remote(max_pending_calls=1)
    class Slow:
        async def wait(self, gate: Any) -> None:
            await gate.wait.remote()

    @ray.remote
    class Gate:
        def __init__(self) -> None:
            self.event = asyncio.Event()

        async def wait(self) -> None:
            await self.event.wait()

        async def open(self) -> None:
            self.event.set()

    gate = Gate.remote()
    s = Slow.remote()
    first = s.wait.remote(gate)
    with pytest.raises(rex.PendingCallsLimitExceeded):
        s.wait.remote(gate)
    ray.get(gate.open.remote())
    ray.get(first)


def test_shutdown_fails_pending_calls(ray: ModuleType) -> None:
    """Calls still pending at ray.shutdown() fail with ActorDiedError."""

    @ray.remote
    class Forever:
        async def wait(self) -> None:
            await asyncio.sleep(60)

    ref = Forever.remote().wait.remote()
    ray.wait([ref], timeout=0.02)
    ray.shutdown()
    with pytest.raises(rex.ActorDiedError):
        ray.get(ref)
    ray.init()


def test_stop_iteration_from_a_task_or_method_arrives_as_a_ray_task_error(ray: ModuleType) -> None:
    """A sync task's or threaded method's StopIteration reaches the caller as a
    RayTaskError (a RuntimeError naming the function, caused by the StopIteration),
    not a bare RuntimeError naming no function."""

    @ray.remote
    def stops() -> None:
        raise StopIteration("x")

    @ray.remote
    class Stopper:
        def stop(self) -> None:
            raise StopIteration("y")

    for ref, name, arg in (
        (stops.remote(), "stops", "x"),
        (Stopper.remote().stop.remote(), "stop", "y"),
    ):
        with pytest.raises(rex.RayTaskError) as info:
            ray.get(ref, timeout=5)
        assert isinstance(info.value, RuntimeError)
        assert f"{name}() raised StopIteration({arg})" in str(info.value)
        assert isinstance(info.value.cause.__cause__, StopIteration)


def test_a_nan_timeout_is_refused_as_a_negative_one_is(ray: ModuleType) -> None:
    """NaN passed the >= 0 check (it compares false) and then waited as if no timeout."""
    ref = Faulty.remote().ok.remote()
    nan_timeout = "'timeout' must be a non-negative number, got nan"
    with pytest.raises(ValueError, match=nan_timeout):
        ray.get(ref, timeout=float("nan"))
    with pytest.raises(ValueError, match=nan_timeout):
        ray.wait([ref], timeout=float("nan"))
    assert ray.get(ref, timeout=5) == "ok"


def _unawaited(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    gc.collect()
    return [r for r in caplog.records if "nobody awaited" in r.getMessage()]


def test_shutdown_logs_nothing_for_the_calls_and_tasks_it_cut_off(
    ray: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    """ray.shutdown() with a task and a method still running, their refs dropped after
    a get() timed out, logs nothing above DEBUG (as Ray prints nothing); the DEBUG
    record of the task names it, not the hidden actor that runs tasks."""
    caplog.set_level(logging.DEBUG, logger="asyncactors")

    @ray.remote
    def hang() -> None:
        time.sleep(0.3)

    @ray.remote
    class Slow:
        async def hang(self) -> None:
            await asyncio.sleep(60)

    for ref in (hang.remote(), Slow.remote().hang.remote()):
        with pytest.raises(rex.GetTimeoutError):
            ray.get(ref, timeout=0.01)
    del ref
    ray.shutdown()
    records = _unawaited(caplog)
    assert [r.levelno for r in records] == [logging.DEBUG] * 2
    assert [r for r in caplog.records if r.levelno > logging.INFO] == []
    messages = sorted(r.getMessage() for r in records)
    assert messages[1] == "task ray::hang() failed and nobody awaited it"
    assert messages[0].startswith("call hang() on actor Slow(id=")
    ray.init()


def test_a_failed_task_nobody_got_is_logged_naming_the_task(
    ray: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    """A task's failure nobody retrieved is logged as 'task ray::f()', not as a call
    run() on the hidden actor _Tasks."""

    @ray.remote
    def fails() -> None:
        raise ValueError("lost")

    ref = fails.remote()
    ray.wait([ref])
    del ref
    (record,) = _unawaited(caplog)
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "task ray::fails() failed and nobody awaited it"


def test_a_task_cut_off_by_shutdown_raises_worker_crashed_naming_the_task(
    ray: ModuleType,
) -> None:
    """ray.get() of a task that ray.shutdown() stopped raises WorkerCrashedError naming
    the task (Ray's error for a task whose worker died), not an actor's death."""

    @ray.remote
    async def hang() -> None:
        await asyncio.sleep(60)

    ref = hang.remote()
    ray.shutdown()
    with pytest.raises(rex.WorkerCrashedError, match=r"task ray::hang\(\) did not finish") as e:
        ray.get(ref)
    assert "_Tasks" not in str(e.value)
    ray.init()


@pytest.mark.parametrize("is_async", [False, True])
def test_constructor_error_is_rays_creation_task_error(ray: ModuleType, is_async: bool) -> None:
    """A class whose __init__ raises gives Ray's ActorDiedError for a failed creation
    task: naming __init__ and the original error, actor_init_failed, no __post_create__."""

    class Bad:
        def __init__(self) -> None:
            raise ValueError("bad config")

        def ping(self) -> int:
            return 1

    if is_async:

        async def aping(self: Any) -> int:
            return 1

        Bad.aping = aping  # type: ignore[attr-defined]
    b = ray.remote(Bad).remote()
    with pytest.raises(rex.ActorDiedError) as e:
        ray.get(b.ping.remote())
    message = str(e.value)
    assert message.startswith(
        "The actor died because of an error raised in its creation task, ray::Bad.__init__()"
    )
    assert "ValueError: bad config" in message
    assert "__post_create__" not in message
    assert e.value.actor_init_failed


@pytest.mark.parametrize("value", [math.nan, math.inf, True, 1.5])
@pytest.mark.parametrize("option", ["max_retries", "max_calls"])
def test_task_int_options_refuse_nan_inf_bool_and_floats_naming_the_option(
    ray: ModuleType, option: str, value: object
) -> None:
    """A task's max_retries or max_calls that is not an int is refused, in @ray.remote
    and (max_retries; max_calls is refused there, as in Ray) in .options(), with an
    error naming the option (NaN was accepted)."""

    def f() -> int:
        return 1

    with pytest.raises(TypeError, match=f"option '{option}' must be an int"):
        ray.remote(**{option: value})(f)
    if option == "max_calls":
        with pytest.raises(ValueError, match=r"'max_calls' is not supported in '\.options\(\)'"):
            ray.remote(f).options(max_calls=1)
        return
    with pytest.raises(TypeError, match=f"option '{option}' must be an int"):
        ray.remote(f).options(**{option: value})
    with pytest.raises(ValueError, match=f"option '{option}' must be"):
        ray.remote(f).options(**{option: -2})


@pytest.mark.parametrize("value", [math.nan, True])
def test_ray_method_refuses_a_max_task_retries_that_is_not_an_int(
    ray: ModuleType, value: object
) -> None:
    """@ray.method(max_task_retries=nan or True) is refused naming the option."""
    with pytest.raises(TypeError, match="option 'max_task_retries' must be an int"):
        ray.method(max_task_retries=value)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"resources": {"x": "y"}},
            TypeError,
            r"resources=\.\.\.\): the amount of 'x' must be a number",
        ),
        (
            {"resources": {"x": math.nan}},
            ValueError,
            r"ray\.init\(resources=\.\.\.\): the amount of 'x' must be a finite number",
        ),
        ({"num_cpus": "2"}, TypeError, "the amount of 'num_cpus' must be a number"),
    ],
)
def test_init_names_the_resource_whose_amount_is_bad(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    """ray.init(resources={"x": "y"}) names the resource and says a number is expected
    (it raised float()'s 'could not convert string to float')."""
    with pytest.raises(error, match=match):
        compat_ray.init(**kwargs)
    assert not compat_ray.is_initialized()
