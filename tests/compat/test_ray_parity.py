"""Where asyncactors.compat.ray behaved differently from real Ray 2.60 for tasks and the
core API, found by running the same programs on both; each test pins Ray's behaviour.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
import threading
from types import ModuleType
from typing import Any

import pytest

from asyncactors.compat.ray import exceptions as rex

# How many times each test's task ran (tasks run in this process).
attempts: list[str] = []


@pytest.fixture(autouse=True)
def _fresh_attempts() -> None:
    attempts.clear()


def test_keyboard_interrupt_in_a_task_fails_it_as_cancelled_and_ray_goes_on(
    ray: ModuleType,
) -> None:
    """A task raising KeyboardInterrupt (how Ray cancels a running task) fails as
    RayTaskError(TaskCancelledError), instead of escaping into ray.get and stopping
    the loop for every later call."""

    @ray.remote
    def interrupted() -> None:
        raise KeyboardInterrupt

    @ray.remote
    def fine() -> int:
        return 1

    with pytest.raises(rex.TaskCancelledError) as info:
        ray.get(interrupted.remote(), timeout=5)
    assert isinstance(info.value, rex.RayTaskError)
    assert type(info.value).__name__ == "RayTaskError(TaskCancelledError)"
    assert "raise KeyboardInterrupt" in str(info.value)
    assert ray.get(fine.remote(), timeout=5) == 1


@pytest.mark.parametrize("is_async", [False, True])
def test_keyboard_interrupt_in_a_method_fails_the_call_and_the_actor_serves_on(
    ray: ModuleType, is_async: bool
) -> None:
    """An actor method raising KeyboardInterrupt fails that call as TaskCancelledError;
    the actor and the runtime go on."""

    @ray.remote
    class Threaded:
        def stop(self) -> None:
            raise KeyboardInterrupt

        def ping(self) -> str:
            return "pong"

    @ray.remote
    class Async:
        async def stop(self) -> None:
            raise KeyboardInterrupt

        async def ping(self) -> str:
            return "pong"

    actor = (Async if is_async else Threaded).remote()
    with pytest.raises(rex.TaskCancelledError):
        ray.get(actor.stop.remote(), timeout=5)
    assert ray.get(actor.ping.remote(), timeout=5) == "pong"


def test_sys_exit_in_a_task_is_a_worker_crash_retried_under_max_retries(ray: ModuleType) -> None:
    """sys.exit() in a task is Ray's dead worker: retried under max_retries whatever
    retry_exceptions says, then WorkerCrashedError; later tasks still run (the exit
    used to kill the one hidden actor running every task)."""

    @ray.remote(max_retries=1)
    def exits_once(tag: str) -> int:
        attempts.append(tag)
        if len(attempts) == 1:
            sys.exit(3)
        return len(attempts)

    assert ray.get(exits_once.remote("a"), timeout=5) == 2
    attempts.clear()

    @ray.remote(max_retries=0)
    def exits() -> None:
        attempts.append("b")
        sys.exit(3)

    with pytest.raises(rex.WorkerCrashedError, match=r"exits\(\).*SystemExit: 3") as info:
        ray.get(exits.remote(), timeout=5)
    assert type(info.value) is rex.WorkerCrashedError
    assert attempts == ["b"]
    assert ray.get(exits_once.remote("c"), timeout=5) == 2


def test_sys_exit_in_a_streaming_task_ends_its_stream_with_worker_crashed(
    ray: ModuleType,
) -> None:
    """A generator task that calls sys.exit() ends its stream with WorkerCrashedError
    after the items it yielded, and is not rerun (its items were taken)."""

    @ray.remote
    def stream() -> Any:
        attempts.append("run")
        yield 1
        sys.exit(1)

    refs = list(stream.remote())
    assert ray.get(refs[0], timeout=5) == 1
    with pytest.raises(rex.WorkerCrashedError):
        ray.get(refs[1], timeout=5)
    assert attempts == ["run"]


def test_task_error_text_is_rays_without_this_packages_frames(ray: ModuleType) -> None:
    """str() of a task's error is Ray's: 'ray::f() (pid=..., ip=...)' in place of the
    'Traceback' line, then the task's own frames only."""

    @ray.remote
    def fails() -> None:
        raise ValueError("bad value")

    with pytest.raises(ValueError, match="bad value") as info:
        ray.get(fails.remote(), timeout=5)
    lines = str(info.value).splitlines()
    assert lines[0].startswith("ray::fails() (pid=")
    assert lines[-1] == "ValueError: bad value"
    assert not any("Traceback" in line for line in lines)
    assert not any("asyncactors" in line for line in lines), lines
    assert any('raise ValueError("bad value")' in line for line in lines)


def test_error_of_a_task_got_inside_another_names_both_and_keeps_the_cause(
    ray: ModuleType,
) -> None:
    """A task that re-raises another task's error (ray.get inside it) fails as itself:
    its text names it and then the inner task; the cause is the original exception."""

    @ray.remote
    def inner() -> None:
        raise KeyError("missing")

    @ray.remote
    def outer() -> None:
        ray.get(inner.remote())

    with pytest.raises(KeyError) as info:
        ray.get(outer.remote(), timeout=5)
    err = info.value
    assert isinstance(err, rex.RayTaskError)
    assert type(err).__name__ == "RayTaskError(KeyError)"
    assert type(err.cause) is KeyError
    text = str(err)
    assert text.startswith("ray::outer() (pid=")
    assert "ray::inner() (pid=" in text
    assert text.index("ray::outer()") < text.index("ray::inner()")


def test_a_generator_with_num_returns_gives_its_first_items(ray: ModuleType) -> None:
    """A generator task with num_returns=n gives its first n items (one value for n=1),
    without running further; fewer than n items is Ray's ValueError."""

    @ray.remote
    def count(n: int) -> Any:
        for i in range(n):
            attempts.append(f"item {i}")
            yield i

    assert ray.get(count.options(num_returns=1).remote(3), timeout=5) == 0
    assert attempts == ["item 0"]
    assert ray.get(count.options(num_returns=2).remote(3), timeout=5) == [0, 1]
    with pytest.raises(ValueError, match=r"Task returned 1 objects, but num_returns=2\."):
        ray.get(count.options(num_returns=2).remote(1), timeout=5)

    @ray.remote
    class Source:
        async def items(self, n: int) -> Any:
            for i in range(n):
                yield i

    assert ray.get(Source.remote().items.options(num_returns=1).remote(3), timeout=5) == 0


def test_num_returns_on_a_result_that_is_not_a_sequence_is_a_type_error(ray: ModuleType) -> None:
    """num_returns=2 on a task returning an int fails with TypeError, Ray's class."""

    @ray.remote(num_returns=2)
    def one() -> int:
        return 1

    for ref in one.remote():
        with pytest.raises(TypeError, match="num_returns=2"):
            ray.get(ref, timeout=5)


def test_none_options_mean_rays_defaults(ray: ModuleType) -> None:
    """num_returns=None and max_retries=None are Ray's defaults (one value; 3 retries)."""

    @ray.remote(num_returns=None)
    def pair() -> tuple[int, int]:
        return 1, 2

    assert ray.get(pair.remote(), timeout=5) == (1, 2)

    @ray.remote(retry_exceptions=True)
    def flaky() -> None:
        attempts.append("try")
        raise ValueError("again")

    with pytest.raises(ValueError, match="again"):
        ray.get(flaky.options(max_retries=None, num_returns=None).remote(), timeout=5)
    assert len(attempts) == 4


def test_get_with_timeout_minus_one_waits_without_limit(ray: ModuleType) -> None:
    """ray.get(timeout=-1) waits as None does, as in Ray; other negative timeouts are
    refused with Ray's message (Ray itself crashes on them)."""
    release = threading.Event()

    @ray.remote
    def waits() -> str:
        release.wait(5)
        return "done"

    ref = waits.remote()
    threading.Timer(0.05, release.set).start()
    assert ray.get(ref, timeout=-1) == "done"
    with pytest.raises(ValueError, match="The 'timeout' argument must be nonnegative"):
        ray.get(ref, timeout=-0.5)
    with pytest.raises(ValueError, match="The 'timeout' argument must be nonnegative"):
        ray.wait([ref], timeout=-1)


def test_get_of_an_object_ref_generator_gives_it_back(ray: ModuleType) -> None:
    """ray.get(ObjectRefGenerator) returns the generator itself, as Ray does."""

    @ray.remote
    def gen() -> Any:
        yield from (1, 2)

    stream = gen.remote()
    assert ray.get(stream) is stream
    assert [ray.get(r) for r in ray.get(stream)] == [1, 2]


def test_get_and_wait_refuse_bad_input_with_rays_messages(ray: ModuleType) -> None:
    """The errors of ray.get and ray.wait for the wrong input carry Ray's messages."""
    ref = ray.put(1)
    with pytest.raises(ValueError, match=r"Invalid type of object refs, <class 'tuple'>"):
        ray.get((ref,))
    with pytest.raises(ValueError, match="Wait requires a list of unique ray_waitables"):
        ray.wait([ref, ref])
    with pytest.raises(ValueError, match="greater than the number of ray_waitables"):
        ray.wait([ref], num_returns=2)
    with pytest.raises(TypeError, match=r"got <class 'tuple'>"):
        ray.wait((ref,))
    with pytest.raises(TypeError, match=r"got a single ray\.ObjectRef or ray\.ObjectRefGenerator"):
        ray.wait(ref)


def test_object_ref_task_id_job_id_call_site_and_as_future(ray: ModuleType) -> None:
    """ObjectRef has Ray's task_id() (an id with hex()), job_id() (the job's, as the
    runtime context names it), call_site() and as_future() (an asyncio future in the
    running loop)."""

    @ray.remote
    def seven() -> int:
        return 7

    ref = seven.remote()
    other = seven.remote()
    assert len(ref.task_id().hex()) == 48
    assert ref.task_id() == ref.task_id() != other.task_id()
    assert repr(ref.task_id()).startswith("TaskID(")
    assert ref.job_id().hex() == ray.get_runtime_context().get_job_id()
    assert ref.job_id() == ray.put(1).job_id()
    assert repr(ref.job_id()).startswith("JobID(")
    assert ref.call_site() == ""

    async def main() -> int:
        fut = ref.as_future()
        assert isinstance(fut, asyncio.Future)
        result: int = await fut
        return result

    assert asyncio.run(main()) == 7


def test_runtime_context_inside_a_task_has_no_actor(ray: ModuleType) -> None:
    """Inside a task get_actor_id() is None and current_actor raises, as in Ray (it was
    the id of the hidden actor that runs tasks); the task id is still set."""

    @ray.remote
    def where() -> tuple[Any, Any, bool]:
        ctx = ray.get_runtime_context()
        try:
            ctx.current_actor  # noqa: B018 - the property raises outside an actor
        except RuntimeError:
            raised = True
        else:
            raised = False
        return ctx.get_actor_id(), ctx.get_actor_name(), raised

    assert ray.get(where.remote(), timeout=5) == (None, None, True)

    @ray.remote
    def task_id() -> Any:
        return ray.get_runtime_context().get_task_id()

    assert len(ray.get(task_id.remote(), timeout=5)) == 48


def test_task_cancelled_error_text_is_rays() -> None:
    """TaskCancelledError() says nothing more than it is given, as Ray's does."""
    assert str(rex.TaskCancelledError()) == ""
    assert str(rex.TaskCancelledError("T1")) == "Task: T1 was cancelled. "
    assert str(rex.TaskCancelledError(error_message="why")) == "why"
    assert str(rex.WorkerCrashedError()).startswith("The worker died unexpectedly")


def test_rays_2_60_exception_classes_exist_with_their_bases() -> None:
    """ray.exceptions has Ray 2.60's classes that were missing, with Ray's bases."""
    assert issubclass(rex.AuthenticationError, rex.RayError)
    assert issubclass(rex.OufOfBandObjectRefSerializationException, rex.RayError)
    for name in (
        "RayChannelError",
        "RayCgraphCapacityExceeded",
        "RayDirectTransportError",
        "StreamingGeneratorReplayInconsistentError",
    ):
        assert issubclass(getattr(rex, name), rex.RaySystemError)
    assert issubclass(rex.RayChannelTimeoutError, rex.RayChannelError)
    assert issubclass(rex.RayChannelTimeoutError, TimeoutError)


def test_a_methods_error_text_names_the_actor_id_and_repr(ray: ModuleType) -> None:
    """A method's error text carries the actor's id and repr in its first line, as Ray's."""

    @ray.remote
    class Failing:
        def __repr__(self) -> str:
            return "Failing(7)"

        def fail(self) -> None:
            raise ValueError("bad")

    actor = Failing.remote()
    with pytest.raises(ValueError, match="bad") as info:
        ray.get(actor.fail.remote(), timeout=5)
    first = str(info.value).splitlines()[0]
    assert first.startswith("ray::Failing.fail() (pid=")
    assert first.endswith(f", actor_id={actor._actor_id.hex()}, repr=Failing(7))")


def test_nodes_have_rays_keys(ray: ModuleType) -> None:
    """ray.nodes()'s one node has every key Ray 2.60's has, and its id as a label."""
    (node,) = ray.nodes()
    assert set(node) == {
        "Alive",
        "DashboardAgentListenPort",
        "DeathReason",
        "DeathReasonMessage",
        "Labels",
        "MetricsAgentPort",
        "MetricsExportPort",
        "NodeID",
        "NodeManagerAddress",
        "NodeManagerHostname",
        "NodeManagerPort",
        "NodeName",
        "ObjectManagerPort",
        "ObjectStoreSocketName",
        "RayletSocketName",
        "Resources",
        "RuntimeEnvAgentPort",
        "alive",
    }
    assert node["Labels"] == {"ray.io/node-id": node["NodeID"]}


def test_a_custom_base_exception_from_a_task_is_a_ray_task_error(ray: ModuleType) -> None:
    """A task raising a BaseException subclass of the user's fails with
    RayTaskError(ThatClass), as in Ray, not with the bare exception."""

    class Halt(BaseException):
        pass

    @ray.remote
    def halts() -> None:
        raise Halt("stop")

    with pytest.raises(Halt) as info:
        ray.get(halts.remote(), timeout=5)
    assert isinstance(info.value, rex.RayTaskError)
    assert type(info.value.cause) is Halt


def test_an_exception_group_from_a_task_keeps_its_exceptions(ray: ModuleType) -> None:
    """A task raising an ExceptionGroup fails with RayTaskError(ExceptionGroup) whose
    exceptions are the group's (making it raised TypeError)."""

    @ray.remote
    def group() -> None:
        raise ExceptionGroup("several", [ValueError("a"), KeyError("b")])

    with pytest.raises(ExceptionGroup) as info:
        ray.get(group.remote(), timeout=5)
    assert isinstance(info.value, rex.RayTaskError)
    assert [type(e) for e in info.value.exceptions] == [ValueError, KeyError]
    assert info.value.message == "several"


def test_streaming_on_a_function_that_is_not_a_generator_is_refused(ray: ModuleType) -> None:
    """num_returns='streaming' on a plain function is refused when declared, with
    Ray's message (it failed at run time with an unreadable TypeError)."""

    def plain() -> int:
        return 1

    with pytest.raises(ValueError, match="can only be used with generator functions"):
        ray.remote(num_returns="streaming")(plain)
    with pytest.raises(ValueError, match="can only be used with generator functions"):
        ray.remote(plain).options(num_returns="streaming")


def test_task_resource_options_are_checked_as_rays(ray: ModuleType) -> None:
    """A task's negative num_cpus, or CPU inside resources, is refused as Ray refuses it;
    max_calls in .options() too."""

    def f() -> int:
        return 1

    with pytest.raises(ValueError, match="num_cpus"):
        ray.remote(num_cpus=-1)(f)
    with pytest.raises(ValueError, match="'CPU' cannot be set through 'resources'"):
        ray.remote(f).options(resources={"CPU": 1})
    with pytest.raises(ValueError, match=r"'max_calls' is not supported in '\.options\(\)'"):
        ray.remote(f).options(max_calls=2)


def test_a_task_whose_argument_failed_names_itself_then_the_argument(ray: ModuleType) -> None:
    """A task given a failed ref fails without running, with an error naming it and
    saying an input argument could not be computed, then the argument's error; the
    cause is the original exception (it was the argument's error as it was)."""

    @ray.remote
    def fails() -> None:
        raise ValueError("no input")

    @ray.remote
    def uses(x: Any) -> Any:
        attempts.append("ran")
        return x

    with pytest.raises(ValueError, match="no input") as info:
        ray.get(uses.remote(fails.remote()), timeout=5)
    lines = str(info.value).splitlines()
    assert lines[0].startswith("ray::uses() (pid=")
    assert lines[1] == "  At least one of the input arguments for this task could not be computed:"
    assert "ray::fails() (pid=" in lines[2]
    assert type(info.value.cause) is ValueError
    assert attempts == []


@pytest.mark.parametrize("failed_first", [False, True])
def test_a_task_given_its_own_functions_failed_ref_says_its_argument_failed(
    ray: ModuleType, failed_first: bool
) -> None:
    """``f.remote(f.remote(bad))``: the outer task never runs and its error says an input
    argument could not be computed, as Ray's, though both tasks have one name (pending
    or already failed when passed); a task that ran and re-raised another's error
    does not say so."""

    @ray.remote
    def f(x: Any) -> Any:
        if x == "bad":
            raise ValueError("bad input")
        return ray.get(x) if isinstance(x, list) else x

    inner = f.remote("bad")
    if failed_first:
        with pytest.raises(ValueError, match="bad input"):
            ray.get(inner, timeout=5)
    with pytest.raises(ValueError, match="bad input") as info:
        ray.get(f.remote(inner), timeout=5)
    lines = str(info.value).splitlines()
    assert lines[0].startswith("ray::f() (pid=")
    assert lines[1] == "  At least one of the input arguments for this task could not be computed:"
    with pytest.raises(ValueError, match="bad input") as ran:
        ray.get(f.remote([inner]), timeout=5)  # a ref inside a list: f runs, gets it
    assert "could not be computed" not in str(ran.value)


def test_util_as_completed_and_map_unordered(ray: ModuleType) -> None:
    """ray.util.as_completed and ray.util.map_unordered (Ray 2.60's helpers) yield every
    value as it is ready, refs with yield_obj_refs, and check their arguments."""

    @ray.remote
    def square(x: int) -> int:
        return x * x

    refs = [square.remote(i) for i in range(4)]
    assert sorted(ray.util.as_completed(refs, chunk_size=3)) == [0, 1, 4, 9]
    assert sorted(ray.util.map_unordered(square, range(5), backpressure_size=2)) == [0, 1, 4, 9, 16]
    got = list(ray.util.as_completed([square.remote(3)], yield_obj_refs=True))
    assert isinstance(got[0], ray.ObjectRef)
    assert ray.get(got[0]) == 9
    with pytest.raises(ValueError, match="chunk_size"):
        list(ray.util.as_completed(refs, chunk_size=0))
    with pytest.raises(ValueError, match="backpressure_size must be positive"):
        list(ray.util.map_unordered(square, [1], backpressure_size=0))


def test_get_of_several_refs_raises_once_one_fails_while_others_are_pending(
    ray: ModuleType,
) -> None:
    """ray.get of a list raises a call's error as soon as it fails, as Ray's does, instead
    of waiting for every other call first: here, forever, for a call blocked until a later
    one opens it."""

    @ray.remote(max_concurrency=3)
    class Gate:
        def __init__(self) -> None:
            self.opened = threading.Event()

        def wait(self) -> str:
            self.opened.wait(10)
            return "opened"

        def open(self) -> None:
            self.opened.set()

        def boom(self) -> None:
            raise KeyError("boom")

    gate = Gate.remote()
    waiting = gate.wait.remote()
    with pytest.raises(KeyError, match="boom"):
        ray.get([waiting, gate.boom.remote(), gate.wait.remote()], timeout=5)
    assert not ray.wait([waiting], timeout=0)[0]  # the get did not wait for it
    ray.get(gate.open.remote())
    assert ray.get([waiting, gate.wait.remote()], timeout=5) == ["opened", "opened"]


def test_refs_of_one_call_share_its_task_id_which_its_code_sees(ray: ModuleType) -> None:
    """The refs of a num_returns=n task or method share their task's id, and
    get_runtime_context().get_task_id() in the code the call runs is that id, for a
    task, a threaded actor (one call at a time or several) and an async actor's
    async and sync methods, as in Ray (each ref had an id of its own)."""

    @ray.remote(num_returns=2)
    def task() -> tuple[str | None, int]:
        return ray.get_runtime_context().get_task_id(), 2

    @ray.remote
    class Threaded:
        @ray.method(num_returns=2)
        def two(self) -> tuple[str | None, int]:
            return ray.get_runtime_context().get_task_id(), 2

    @ray.remote(max_concurrency=2)
    class Concurrent:
        def one(self) -> str | None:
            return ray.get_runtime_context().get_task_id()

    @ray.remote
    class Async:
        async def one(self) -> str | None:
            return ray.get_runtime_context().get_task_id()

        def sync(self) -> str | None:
            return ray.get_runtime_context().get_task_id()

    refs = [task.remote(), Threaded.remote().two.remote()]
    for first, second in refs:
        assert first.task_id() == second.task_id()
        assert ray.get(first, timeout=5) == first.task_id().hex()
    assert refs[0][0].task_id() != refs[1][0].task_id()
    concurrent, actor = Concurrent.remote(), Async.remote()
    for ref in (concurrent.one.remote(), actor.one.remote(), actor.sync.remote()):
        assert ray.get(ref, timeout=5) == ref.task_id().hex()


def test_a_task_an_async_method_starts_has_the_methods_task_id(ray: ModuleType) -> None:
    """get_task_id() in an asyncio task that an async method started (and in one that
    task started) is the method's, as Ray's context carries it, even after the method
    returned; another call's is its own."""

    @ray.remote
    class Starter:
        async def start(self) -> str | None:
            async def inner() -> str | None:
                return ray.get_runtime_context().get_task_id()

            async def outer() -> str | None:
                await asyncio.sleep(0)
                return await asyncio.create_task(inner())

            self.later = asyncio.create_task(outer())
            return ray.get_runtime_context().get_task_id()

        async def collect(self) -> tuple[str | None, str | None]:
            return await self.later, ray.get_runtime_context().get_task_id()

    actor = Starter.remote()
    ref = actor.start.remote()
    assert ray.get(ref, timeout=5) == ref.task_id().hex()
    collect = actor.collect.remote()
    assert ray.get(collect, timeout=5) == (ref.task_id().hex(), collect.task_id().hex())


def test_the_nil_object_ref_is_rays(ray: ModuleType) -> None:
    """ObjectRef.nil() is Ray's nil ref: all-ones ids, is_nil(); ray.get (alone or in a
    list, at once even behind a pending ref), ray.wait and passing it to a task raise
    ValueError, ray.cancel TypeError, job_id() ValueError, as in Ray."""

    @ray.remote
    def ident(x: Any) -> Any:
        return x

    release = threading.Event()

    @ray.remote
    def blocked() -> int:
        release.wait(30)
        return 1

    nil = ray.ObjectRef.nil()
    assert nil.is_nil()
    assert not ray.put(1).is_nil()
    assert nil == ray.ObjectRef.nil()
    assert hash(nil) == hash(ray.ObjectRef.nil())
    assert nil.hex() == "f" * 56
    assert nil.binary() == b"\xff" * 28
    assert repr(nil) == f"ObjectRef({'f' * 56})"
    assert nil.task_id().hex() == "f" * 48
    assert nil.task_id().is_nil()
    with pytest.raises(ValueError, match="TaskID is nil"):
        nil.job_id()
    owner_unknown = r"^You are trying to access Ray objects whose owner is unknown\."
    pending = blocked.remote()
    try:
        for refs in (nil, [nil], [ray.put(1), nil], [pending, nil]):
            # Had it waited for the pending ref: GetTimeoutError.
            with pytest.raises(ValueError, match=owner_unknown):
                ray.get(refs, timeout=2)
    finally:
        release.set()
    assert ray.get(pending, timeout=5) == 1
    with pytest.raises(ValueError, match=r"owner is unknown\(NIL_ID \)"):
        ray.wait([nil], timeout=0)
    for call in (
        lambda: ident.remote(nil),
        lambda: ident.remote(x=[nil]),
        lambda: ray.put([nil]),
        lambda: ray.put([lambda: 0, nil]),  # pickle fails on the lambda: cloudpickle
    ):
        with pytest.raises(ValueError, match=r"owner is unknown\(NIL_ID\)") as refused:
            call()
        assert type(refused.value) is ValueError
    assert pickle.loads(pickle.dumps(nil)).is_nil()  # outside a call, it pickles
    with pytest.raises(TypeError, match="No owner found for object"):
        ray.cancel(nil)


def test_get_of_several_refs_raises_at_once_for_one_that_failed_already(
    ray: ModuleType,
) -> None:
    """ray.get of a pending ref and one that failed before the get raises at once, as
    Ray's (it waited for the pending ones first)."""

    @ray.remote
    def fail() -> None:
        raise ValueError("early")

    release = threading.Event()

    @ray.remote
    def blocked() -> int:
        release.wait(30)
        return 1

    failed = fail.remote()
    with pytest.raises(ValueError, match="early"):
        ray.get(failed, timeout=5)
    pending = blocked.remote()
    try:
        # Had it waited for the pending ref: GetTimeoutError.
        with pytest.raises(ValueError, match="early"):
            ray.get([pending, failed], timeout=2)
    finally:
        release.set()
    assert ray.get(pending, timeout=5) == 1


def test_cancel_of_a_pending_task_waiting_for_its_argument(ray: ModuleType) -> None:
    """ray.cancel of a task still waiting for a ref passed to it gives a plain
    TaskCancelledError, as Ray's (a get of it raised AttributeError)."""
    release = threading.Event()

    @ray.remote
    def blocked() -> int:
        release.wait(5)
        return 1

    @ray.remote
    def ident(x: int) -> int:
        return x

    dep = blocked.remote()
    ref = ident.remote(dep)
    ray.cancel(ref)
    with pytest.raises(rex.TaskCancelledError) as info:
        ray.get(ref, timeout=5)
    assert type(info.value) is rex.TaskCancelledError
    release.set()
    assert ray.get(dep, timeout=5) == 1


@pytest.mark.parametrize("kind", ["task", "threaded", "async"])
def test_a_call_cancelled_while_it_runs_is_a_ray_task_error(ray: ModuleType, kind: str) -> None:
    """A task or actor call that ray.cancel() stops while it runs fails as
    RayTaskError(TaskCancelledError) naming its task id (Ray's interrupted task and
    cancelled async method); with force=True a task's is a plain TaskCancelledError,
    as Ray's killed worker's."""
    started = threading.Event()
    release = threading.Event()

    @ray.remote
    def task() -> int:
        started.set()
        release.wait(5)
        return 1

    @ray.remote
    class Threaded:
        def run(self) -> int:
            started.set()
            release.wait(5)
            return 1

    @ray.remote
    class Async:
        async def run(self) -> int:
            started.set()
            await asyncio.sleep(5)
            return 1

    def start() -> Any:
        if kind == "task":
            return task.remote()
        return (Threaded if kind == "threaded" else Async).remote().run.remote()

    try:
        ref = start()
        assert started.wait(5)
        ray.cancel(ref)
        with pytest.raises(rex.TaskCancelledError) as info:
            ray.get(ref, timeout=5)
        assert isinstance(info.value, rex.RayTaskError)
        assert type(info.value).__name__ == "RayTaskError(TaskCancelledError)"
        assert f"Task: TaskID({ref.task_id().hex()}) was cancelled." in str(info.value)
        if kind == "task":
            started.clear()
            ref = task.remote()
            assert started.wait(5)
            ray.cancel(ref, force=True)
            with pytest.raises(rex.TaskCancelledError) as info:
                ray.get(ref, timeout=5)
            assert type(info.value) is rex.TaskCancelledError
    finally:
        release.set()


def test_cancelled_error_raised_by_code_itself_is_rays(ray: ModuleType) -> None:
    """CancelledError raised by a sync task or a threaded actor's method is an error as
    any other, RayTaskError(CancelledError) (retried under retry_exceptions); raised by
    an async actor's method, async or sync, it is RayTaskError(TaskCancelledError), as
    Ray's (all were a plain TaskCancelledError)."""

    @ray.remote(max_retries=1, retry_exceptions=True)
    def task() -> None:
        attempts.append("task")
        raise asyncio.CancelledError("mine")

    @ray.remote
    class Threaded:
        def run(self) -> None:
            raise asyncio.CancelledError("mine")

    @ray.remote
    class Async:
        async def run(self) -> None:
            raise asyncio.CancelledError("mine")

        def sync(self) -> None:
            raise asyncio.CancelledError("mine")

        async def ping(self) -> str:
            return "pong"

    for ref in (task.remote(), Threaded.remote().run.remote()):
        with pytest.raises(asyncio.CancelledError, match="mine") as info:
            ray.get(ref, timeout=5)
        assert type(info.value).__name__ == "RayTaskError(CancelledError)"
    assert attempts == ["task", "task"]
    actor = Async.remote()
    for ref in (actor.run.remote(), actor.sync.remote()):
        with pytest.raises(rex.TaskCancelledError) as cancelled:
            ray.get(ref, timeout=5)
        assert type(cancelled.value).__name__ == "RayTaskError(TaskCancelledError)"
        assert "raise asyncio.CancelledError" in str(cancelled.value)
    assert ray.get(actor.ping.remote(), timeout=5) == "pong"


def test_task_id_in_an_event_loop_of_the_tasks_own_is_the_tasks(ray: ModuleType) -> None:
    """get_task_id() in a coroutine that a sync task or threaded actor's method runs on
    an event loop of its own (asyncio.run()) is the call's id, as in Ray (it was a
    number per actor and count of finished calls, which changed as the actor ran others)."""

    async def inner() -> str | None:
        return ray.get_runtime_context().get_task_id()

    @ray.remote
    def task() -> str | None:
        return asyncio.run(inner())

    @ray.remote
    class Serial:
        def run(self) -> str | None:
            return asyncio.run(inner())

    @ray.remote(max_concurrency=2)
    class Threaded:
        def run(self) -> str | None:
            return asyncio.run(inner())

    for ref in (task.remote(), Serial.remote().run.remote(), Threaded.remote().run.remote()):
        assert ray.get(ref, timeout=5) == ref.task_id().hex()


def test_a_nil_refs_error_keeps_no_other_raises_context(ray: ModuleType) -> None:
    """The error of awaiting one nil ref inside an except block is not the error of
    another nil ref: that one's carries no context, and the handled error is freed
    (all nil refs shared one error, which kept its last raise's context for good)."""

    class Handled(Exception):
        pass

    async def main() -> tuple[BaseException, BaseException | None]:
        try:
            raise Handled
        except Handled:
            with pytest.raises(ValueError, match="owner is unknown") as first:
                await ray.ObjectRef.nil()
        with pytest.raises(ValueError, match="owner is unknown") as second:
            await ray.ObjectRef.nil()
        return first.value, second.value.__context__

    first, context = asyncio.run(main())
    assert isinstance(first.__context__, Handled)
    assert context is None
