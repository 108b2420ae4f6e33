"""Actor behaviours where the in-process module once differed from Ray 2.60.

Each was found by running the same program on real Ray and on
``asyncactors.compat.ray`` and comparing what they printed; each test states
what Ray does.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import sys
import threading
import time
from types import ModuleType
from typing import Any

import pytest

import asyncactors.compat.ray as compat_ray


@compat_ray.remote
class Plain:
    def __init__(self) -> None:
        self.n = 0

    def ping(self) -> int:
        return 1


def test_runtime_context_in_a_task_names_no_actor(ray: ModuleType) -> None:
    """In a task, as in Ray, no actor runs: no actor id or name, ``current_actor``
    raises ``RuntimeError``, and ``get()`` has the task's id but no actor's."""

    @ray.remote
    def where() -> tuple[Any, ...]:
        ctx = ray.get_runtime_context()
        try:
            ctx.current_actor  # noqa: B018
        except RuntimeError as exc:
            current = str(exc)
        with pytest.warns(DeprecationWarning, match="get_xxx_id"):
            keys = sorted(ctx.get())
        return ctx.get_actor_id(), ctx.get_actor_name(), current, keys

    actor_id, name, current, keys = ray.get(where.remote())
    assert actor_id is None
    assert name is None
    assert current == "This method is only available in an actor."
    assert keys == ["job_id", "namespace", "node_id", "task_id"]


def test_was_current_actor_reconstructed_outside_an_actor_raises(ray: ModuleType) -> None:
    """``was_current_actor_reconstructed`` in the driver or a task raises
    ``AssertionError``, as Ray's assertion does, instead of answering ``False``."""

    @ray.remote
    def in_task() -> str:
        try:
            ray.get_runtime_context().was_current_actor_reconstructed  # noqa: B018
        except AssertionError as exc:
            return str(exc)
        return "no error"

    with pytest.raises(AssertionError, match="only available in an actor"):
        ray.get_runtime_context().was_current_actor_reconstructed  # noqa: B018
    assert "only available in an actor" in ray.get(in_task.remote())


@compat_ray.remote
class TaskIds:
    def sync_id(self) -> str | None:
        return compat_ray.get_runtime_context().get_task_id()

    def keys(self) -> list[str]:
        with pytest.warns(DeprecationWarning, match="get_xxx_id"):
            return sorted(compat_ray.get_runtime_context().get())


@compat_ray.remote
class AsyncTaskIds:
    async def async_id(self) -> str | None:
        await asyncio.sleep(0)
        return compat_ray.get_runtime_context().get_task_id()

    def sync_id(self) -> str | None:  # runs on the loop: an async actor's
        return compat_ray.get_runtime_context().get_task_id()


@compat_ray.remote
def task_id() -> str | None:
    return compat_ray.get_runtime_context().get_task_id()


def test_task_ids_differ_per_call_and_end_with_the_actors_id(ray: ModuleType) -> None:
    """``get_task_id()`` is one id per call (48 hex digits, the actor's id last), in
    threaded actors, async actors (async and sync methods) and tasks alike; ``None``
    in the driver. An actor's ``get()`` has the task's id beside the actor's."""
    t = TaskIds.remote()
    a = AsyncTaskIds.remote()
    groups = [
        ray.get([t.sync_id.remote() for _ in range(3)]),
        [ray.get(t.sync_id.remote()) for _ in range(3)],
        ray.get([a.async_id.remote() for _ in range(3)]),
        [ray.get(a.sync_id.remote()) for _ in range(3)],
        ray.get([task_id.remote() for _ in range(3)]),
    ]
    for ids in groups:
        assert len(set(ids)) == 3, ids
        assert all(len(i) == 48 and int(i, 16) for i in ids)
    assert all(i.endswith(t._actor_id.hex()) for i in groups[0] + groups[1])
    assert all(i.endswith(a._actor_id.hex()) for i in groups[2] + groups[3])
    assert ray.get_runtime_context().get_task_id() is None
    assert ray.get(t.keys.remote()) == ["actor_id", "job_id", "namespace", "node_id", "task_id"]


def test_runtime_context_namespace_is_the_jobs_in_an_actor_of_another_namespace() -> None:
    """``get_runtime_context().namespace`` is the job's namespace, also inside an
    actor created with ``namespace=`` another one, as in Ray."""
    compat_ray.init(num_cpus=1, namespace="job_ns")
    try:

        @compat_ray.remote
        class Where:
            def ns(self) -> str:
                return compat_ray.get_runtime_context().namespace

        w = Where.options(name="w", namespace="elsewhere").remote()
        assert compat_ray.get(w.ns.remote()) == "job_ns"
        assert compat_ray.get_actor("w", namespace="elsewhere") == w
    finally:
        compat_ray.shutdown()


def test_an_unnamed_actors_name_is_the_empty_string(ray: ModuleType) -> None:
    """``get_actor_name()`` in an unnamed actor is ``""`` (Ray's), its name in a named one."""
    p = Plain.remote()
    q = Plain.options(name="q").remote()
    assert ray.get(p.__ray_call__.remote(_actor_name)) == ""
    assert ray.get(q.__ray_call__.remote(_actor_name)) == "q"
    assert ray.get_runtime_context().get_actor_name() is None


def _actor_name(obj: Any) -> str | None:
    return compat_ray.get_runtime_context().get_actor_name()


def test_exit_actor_in_a_task_raises_type_error_and_tasks_go_on(ray: ModuleType) -> None:
    """``exit_actor()`` in a task raises ``TypeError`` (a task runs in no actor), as in
    Ray, instead of ending the runner of every task."""

    @ray.remote
    def leave() -> None:
        ray.actor.exit_actor()

    @ray.remote
    def one() -> int:
        return 1

    with pytest.raises(TypeError, match="exit_actor API is called on a non-actor worker"):
        ray.get(leave.remote())
    assert ray.get([one.remote() for _ in range(3)]) == [1, 1, 1]
    with pytest.raises(TypeError, match="non-actor worker"):
        ray.actor.exit_actor()


def test_an_async_init_is_awaited_and_makes_an_async_actor(ray: ModuleType) -> None:
    """An ``async def __init__`` is awaited on the actor's loop before any call, as
    Ray does, and makes the actor an async one (sync methods on the loop too)."""

    @ray.remote
    class Loaded:
        async def __init__(self, value: int) -> None:
            await asyncio.sleep(0)
            self.value = value
            self.loop = asyncio.get_running_loop()

        def on_its_loop(self) -> bool:
            return asyncio.get_running_loop() is self.loop

        def get(self) -> int:
            return self.value

    a = Loaded.remote(5)
    assert ray.get(a.get.remote()) == 5
    assert ray.get(a.on_its_loop.remote()) is True


def test_an_async_init_that_raises_kills_the_actor_naming_it(ray: ModuleType) -> None:
    """An ``async def __init__`` that raises is a creation error, as a sync one."""

    @ray.remote
    class Broken:
        async def __init__(self) -> None:
            raise KeyError("no config")

        def get(self) -> int:
            return 1

    with pytest.raises(ray.exceptions.ActorDiedError, match="no config"):
        ray.get(Broken.remote().get.remote())


def test_subclassing_an_actor_class_raises_actor_class_inheritance_exception(
    ray: ModuleType,
) -> None:
    """``class Sub(ActorCls)`` raises ``ActorClassInheritanceException``, a ``TypeError``
    with Ray's words, instead of a confusing one about ``ActorClass.__init__``."""
    with pytest.raises(
        ray.actor.ActorClassInheritanceException, match="Inheriting from actor classes"
    ) as info:

        class Sub(Plain):  # type: ignore[misc,valid-type]
            pass

    assert isinstance(info.value, TypeError)
    assert "'Plain'" in str(info.value)


def test_a_bare_ray_method_decorator_keeps_the_method(ray: ModuleType) -> None:
    """``@ray.method`` without parentheses is valid, as in Ray 2.60, and changes nothing."""

    @ray.remote
    class Bare:
        @ray.method
        def f(self, x: int) -> int:
            return x + 1

    assert ray.get(Bare.remote().f.remote(1)) == 2
    with pytest.raises(TypeError, match="keyword options"):
        ray.method(1, 2)


def test_get_if_exists_finds_an_actor_of_another_class_with_its_methods(ray: ModuleType) -> None:
    """``Other.options(name=n, get_if_exists=True).remote()`` where ``n`` is an actor of
    another class returns a handle to that actor, whose own methods work, as in Ray."""

    @ray.remote
    class Other:
        def other(self) -> str:
            return "other"

    p = Plain.options(name="taken").remote()
    h = Other.options(name="taken", get_if_exists=True).remote()
    assert h == p
    assert ray.get(h.ping.remote()) == 1
    with pytest.raises(AttributeError):
        h.other  # noqa: B018


def test_a_missing_special_attribute_of_a_handle_is_named_as_ray_does(ray: ModuleType) -> None:
    """A handle's missing ``__x__`` attribute raises Ray's ``AttributeError`` message;
    handles still pickle and copy."""
    p = Plain.remote()
    with pytest.raises(AttributeError, match="'ActorHandle' object has no attribute '__foo__'"):
        p.__foo__  # noqa: B018
    assert pickle.loads(pickle.dumps(p)) == p


@compat_ray.remote
class Probe:
    def __init__(self) -> None:
        ctx = compat_ray.get_runtime_context()
        self.init_names = ctx.get_task_name(), ctx.get_task_function_name()

    def ids(self) -> tuple[Any, ...]:
        ctx = compat_ray.get_runtime_context()
        with pytest.warns(DeprecationWarning, match="get_xxx_id"):
            info = ctx.get()
        return (
            {k: type(v).__name__ for k, v in info.items()},
            info["task_id"].hex() == ctx.get_task_id(),
            info["actor_id"].hex() == ctx.get_actor_id(),
            info["actor_id"] == compat_ray.get_runtime_context().current_actor._actor_id,
        )

    def names(self) -> tuple[str | None, str | None]:
        ctx = compat_ray.get_runtime_context()
        return ctx.get_task_name(), ctx.get_task_function_name()

    async def async_names(self) -> tuple[str | None, str | None]:
        ctx = compat_ray.get_runtime_context()
        return ctx.get_task_name(), ctx.get_task_function_name()


@compat_ray.remote
def task_names() -> tuple[str | None, str | None, dict[str, float]]:
    ctx = compat_ray.get_runtime_context()
    return ctx.get_task_name(), ctx.get_task_function_name(), ctx.get_assigned_resources()


def test_runtime_context_get_gives_id_objects_and_is_deprecated(ray: ModuleType) -> None:
    """``get()`` gives Ray's id objects (``.hex()`` is the ``get_*_id()`` string), and
    warns ``RayDeprecationWarning`` (a ``DeprecationWarning``), as do the id properties."""
    ctx = ray.get_runtime_context()
    with pytest.warns(ray.runtime_context.RayDeprecationWarning):
        info = ctx.get()
    assert {k: type(v).__name__ for k, v in info.items()} == {
        "job_id": "JobID",
        "node_id": "NodeID",
        "namespace": "str",
    }
    assert info["job_id"].hex() == ctx.get_job_id()
    assert info["node_id"].hex() == ctx.get_node_id()
    with pytest.warns(DeprecationWarning, match="get_job_id"):
        assert ctx.job_id == info["job_id"]
    with pytest.warns(DeprecationWarning, match="get_node_id"):
        assert ctx.node_id.hex() == ctx.get_node_id()
    with pytest.warns(DeprecationWarning, match="get_task_id"):
        assert ctx.task_id is None
    kinds, task_ok, actor_ok, same_actor = ray.get(Probe.remote().ids.remote())
    assert kinds == {
        "job_id": "JobID",
        "node_id": "NodeID",
        "namespace": "str",
        "task_id": "TaskID",
        "actor_id": "ActorID",
    }
    assert task_ok
    assert actor_ok
    assert same_actor


def _init_names(obj: Any) -> tuple[str | None, str | None]:
    names: tuple[str | None, str | None] = obj.init_names
    return names


def test_task_name_and_function_name_name_the_running_method_or_task(ray: ModuleType) -> None:
    """``get_task_name()`` is ``Class.method`` (``__init__`` too, or the task's function
    name) and ``get_task_function_name()`` adds the module, in sync and async methods
    and tasks; both ``None`` in the driver."""
    p = Probe.remote()
    module = __name__
    assert ray.get(p.names.remote()) == ("Probe.names", f"{module}.Probe.names")
    assert ray.get(p.__ray_call__.remote(_init_names)) == (
        "Probe.__init__",
        f"{module}.Probe.__init__",
    )
    assert ray.get(p.async_names.remote()) == (
        "Probe.async_names",
        f"{module}.Probe.async_names",
    )
    name, function, _ = ray.get(task_names.remote())
    assert (name, function) == ("task_names", f"{module}.task_names")
    ctx = ray.get_runtime_context()
    assert ctx.get_task_name() is None
    assert ctx.get_task_function_name() is None


def test_a_tasks_assigned_resources_are_what_it_asked_for(ray: ModuleType) -> None:
    """In a task, ``get_assigned_resources()`` is its ``num_cpus`` (1 by default), as in
    Ray, not the (empty) reservation of the actor that runs tasks."""
    assert ray.get(task_names.remote())[2] == {"CPU": 1.0}
    assert ray.get(task_names.options(num_cpus=2).remote())[2] == {"CPU": 2.0}


def _interrupting(driver: Any, monkeypatch: pytest.MonkeyPatch, thread: Any) -> threading.Event:
    """Make the next ``_drive`` of ``driver`` in ``thread`` (a ``threading.Thread``, or
    ``None`` for any) raise ``KeyboardInterrupt``, as a method or callback raising it in
    the loop does; the event is set once it did."""
    raised = threading.Event()
    drive = driver._drive

    def interrupted(*args: Any) -> bool:
        if not raised.is_set() and (thread is None or thread.ident == threading.get_ident()):
            raised.set()
            raise KeyboardInterrupt
        result: bool = drive(*args)
        return result

    monkeypatch.setattr(driver, "_drive", interrupted)
    return raised


def test_a_keyboard_interrupt_out_of_the_loop_leaves_it_unlocked(
    ray: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``KeyboardInterrupt`` that leaves the loop a ``ray.get`` runs (Ctrl-C, or a
    method raising it) interrupts that get and lets go of the loop: later gets, calls
    and tasks go on, as after an interrupted get in Ray."""
    p = Plain.remote()
    ref = p.ping.remote()
    driver = ref._driver
    raised = _interrupting(driver, monkeypatch, threading.current_thread())
    with pytest.raises(KeyboardInterrupt):
        # What ray.get does, waiting for what never comes: it drives the loop soon.
        driver._block(lambda: False, 5, None)
    assert raised.is_set()
    assert driver._owner != threading.get_ident()
    assert ray.get(ref, timeout=5) == 1
    assert ray.get(p.ping.remote(), timeout=5) == 1
    assert ray.get(one.remote(), timeout=5) == 1


# Set once _spin runs, with the thread it runs in (module globals: arguments are copied).
_spinning = threading.Event()
_spun_in: list[threading.Thread] = []


@compat_ray.remote
class Spinner:
    def spin(self) -> str:
        return _spin()


@compat_ray.remote
class AsyncSpinner:
    async def spin(self) -> str:
        return _spin()  # on the loop, which the get runs


def _spin() -> str:
    _spun_in.append(threading.current_thread())
    _spinning.set()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        time.sleep(0.002)
    return "finished"


@pytest.mark.parametrize("kind", ["task", "method", "async method"])
def test_ctrl_c_while_a_get_runs_user_code_raises_keyboard_interrupt_from_it(
    ray: ModuleType, kind: str
) -> None:
    """Ctrl-C while ``ray.get`` runs a task or method in the main thread raises
    ``KeyboardInterrupt`` from that get, as Ray's driver does (not a task error that
    ``except Exception`` would swallow); the interrupted call fails as cancelled."""
    _spinning.clear()
    _spun_in.clear()

    def interrupt() -> None:
        if _spinning.wait(5):
            os.kill(os.getpid(), signal.SIGINT)

    spin = ray.remote(_spin)
    spinner = (AsyncSpinner if kind == "async method" else Spinner).remote()
    threading.Thread(target=interrupt).start()
    ref = spin.remote() if kind == "task" else spinner.spin.remote()
    with pytest.raises(KeyboardInterrupt):
        ray.get(ref)  # no timeout: a get without one runs the calls it waits for
    assert _spun_in == [threading.main_thread()]
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(ref, timeout=5)
    assert ray.get(one.remote(), timeout=5) == 1


def test_the_loop_helper_outlives_a_keyboard_interrupt(
    ray: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``KeyboardInterrupt`` out of the loop while the helper thread runs it (a method
    raised it; no signal goes to that thread) leaves the helper running the loop."""
    p = Plain.remote()
    ray.get(p.ping.remote())
    driver = p.ping.remote()._driver
    raised = _interrupting(driver, monkeypatch, driver._helper)
    assert raised.wait(5)  # the helper drives once nobody does
    time.sleep(0.01)
    assert driver._helper.is_alive()
    assert ray.get(p.ping.remote(), timeout=5) == 1


@compat_ray.remote
def one() -> int:
    return 1


@compat_ray.remote
def exits(code: int) -> None:
    sys.exit(code)


@compat_ray.remote
async def exits_async(code: int) -> None:
    sys.exit(code)


@pytest.mark.parametrize("code", [0, 1])
def test_sys_exit_in_a_task_fails_it_and_tasks_go_on(ray: ModuleType, code: int) -> None:
    """``sys.exit()`` in a task fails it with ``WorkerCrashedError``, as its worker
    process dying does in Ray, and later tasks run: it no longer ends the runner of
    every task."""
    for task in (exits, exits_async):
        with pytest.raises(ray.exceptions.WorkerCrashedError, match=rf"SystemExit: {code}"):
            ray.get(task.remote(code), timeout=5)
        assert ray.get(one.remote(), timeout=5) == 1


@compat_ray.remote(max_restarts=1)
class Exiting:
    def __init__(self) -> None:
        self.n = 0

    def incr(self) -> int:
        self.n += 1
        return self.n

    def leave(self, code: int) -> None:
        sys.exit(code)

    async def leave_async(self, code: int) -> None:
        sys.exit(code)

    def restarted(self) -> bool:
        return compat_ray.get_runtime_context().was_current_actor_reconstructed


@pytest.mark.parametrize("method", ["leave", "leave_async"])
def test_sys_exit_with_a_failure_code_crashes_the_actor_which_restarts(
    ray: ModuleType, method: str
) -> None:
    """``sys.exit(1)`` in a method is a crash, as Ray's worker exiting with code 1: the
    call fails with ``ActorUnavailableError`` and the actor restarts within
    ``max_restarts``, afresh; past them it is dead."""
    a = Exiting.remote()
    assert ray.get(a.incr.remote()) == 1
    with pytest.raises(ray.exceptions.ActorUnavailableError, match=r"sys.exit\(1\)"):
        ray.get(getattr(a, method).remote(1), timeout=5)
    assert ray.get(a.incr.remote(), timeout=5) == 1
    assert ray.get(a.restarted.remote(), timeout=5) is True
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(getattr(a, method).remote(1), timeout=5)
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(a.incr.remote(), timeout=5)


@pytest.mark.parametrize("method", ["leave", "leave_async"])
def test_sys_exit_with_a_failure_code_and_no_restarts_left_fails_the_call_with_actor_died(
    ray: ModuleType, method: str
) -> None:
    """``sys.exit(1)`` in a method of an actor with no restarts left fails the call with
    ``ActorDiedError``, as Ray's (``ActorUnavailableError`` only if it restarts)."""
    a = Exiting.options(max_restarts=0).remote()
    with pytest.raises(ray.exceptions.ActorDiedError, match=r"sys.exit\(1\)") as info:
        ray.get(getattr(a, method).remote(1), timeout=5)
    assert not isinstance(info.value, ray.exceptions.ActorUnavailableError)
    assert "no restarts left" in str(info.value)
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(a.incr.remote(), timeout=5)


def test_sys_exit_with_code_zero_ends_the_actor_for_good(ray: ModuleType) -> None:
    """``sys.exit()`` or ``sys.exit(0)`` in a method is an intended exit, as in Ray: the
    actor does not restart, whatever its ``max_restarts``."""
    a = Exiting.remote()
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(a.leave.remote(0), timeout=5)
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(a.incr.remote(), timeout=5)


def test_a_handle_has_rays_actor_id_attribute_too(ray: ModuleType) -> None:
    """``handle._ray_actor_id`` (Ray's attribute, read by much code) is ``_actor_id``."""
    p = Plain.remote()
    assert p._ray_actor_id == p._actor_id
    assert p._ray_actor_id.hex() == ray.get(p.__ray_call__.remote(_actor_id_inside))


def _actor_id_inside(obj: Any) -> str | None:
    return compat_ray.get_runtime_context().get_actor_id()


def _wait_until_gone(ray: ModuleType, name: str) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            ray.get_actor(name)
        except ValueError:
            return
        time.sleep(0.002)
    raise AssertionError(f"actor {name!r} outlived its handles")


def test_a_named_actor_ends_with_its_last_handle(ray: ModuleType) -> None:
    """A named actor that is not detached ends once its last handle is gone, as in Ray
    (its name is free again); a detached one stays."""

    def make(name: str, **options: Any) -> int:
        handle = Plain.options(name=name, **options).remote()
        result: int = ray.get(handle.ping.remote())
        return result

    assert make("gone") == 1
    _wait_until_gone(ray, "gone")
    assert make("gone") == 1  # the name was free again
    assert make("kept", lifetime="detached") == 1
    time.sleep(0.02)
    assert ray.get(ray.get_actor("kept").ping.remote()) == 1


def test_a_handle_from_get_actor_keeps_a_named_actor(ray: ModuleType) -> None:
    """Handles from ``ray.get_actor()`` (and ``get_if_exists``) count as the creator's
    does: the actor ends with the last of them."""
    first = Plain.options(name="shared").remote()
    looked_up = ray.get_actor("shared")
    reused = Plain.options(name="shared", get_if_exists=True).remote()
    del first
    time.sleep(0.02)
    assert ray.get(looked_up.ping.remote()) == 1
    del looked_up
    time.sleep(0.02)
    assert ray.get(reused.ping.remote()) == 1
    del reused
    _wait_until_gone(ray, "shared")
