"""ObjectRef's base: the C accelerator (asyncactors._speedups) and its pure-Python twin.

The tests here run on whichever base is in use; test_pure_python_base_passes_the_ref_tests
runs them (with the ref, batch and deadlock tests) again with ASYNCACTORS_NO_EXTENSIONS=1.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import os
import pickle
import subprocess
import sys
import threading
import warnings
import weakref
from pathlib import Path
from typing import Any

import pytest

import asyncactors
from asyncactors import ActorSystem, DeadlockError, ObjectRef, _ref

ROOT = Path(__file__).resolve().parent.parent


@asyncactors.remote
class Sleeper:
    def __init__(self) -> None:
        self.finished = 0

    async def nap(self) -> str:
        await asyncio.sleep(0.01)
        self.finished += 1
        return "rested"

    def count(self) -> int:
        return self.finished


@asyncactors.remote
class Asker:
    async def ask(self, other: Any) -> str:
        result: str = await other.nap.remote()
        return result

    async def ask_self(self, me: Any) -> Any:
        return await me.ask.remote(None)


def test_the_c_base_is_used_when_built_unless_turned_off() -> None:
    """ObjectRef sits on _speedups.RefBase when it is importable and not turned off."""
    wanted = (
        not os.environ.get("ASYNCACTORS_NO_EXTENSIONS")
        and importlib.util.find_spec("asyncactors._speedups") is not None
    )
    assert _ref.ACCELERATED is wanted
    base = ObjectRef.__mro__[1]
    assert base.__module__ == ("asyncactors._speedups" if wanted else "asyncactors._ref")


def test_pure_python_base_passes_the_ref_tests() -> None:
    """With ASYNCACTORS_NO_EXTENSIONS=1 the ref, batch and deadlock tests pass in Python."""
    if os.environ.get("ASYNCACTORS_NO_EXTENSIONS"):
        pytest.skip("already on the pure-Python base: this is the run it starts")
    files = ["tests/test_ref_base.py", "tests/test_ref.py", "tests/test_batch.py"]
    files.append("tests/test_deadlock.py")
    env = {**os.environ, "ASYNCACTORS_NO_EXTENSIONS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout
    assert "failed" not in done.stdout


def test_a_ref_in_a_cycle_through_its_waiters_is_collected() -> None:
    """Cycles through _waiters, _value and _exc are found by the garbage collector."""
    ref: ObjectRef[Any] = ObjectRef(None)

    def callback(r: ObjectRef[Any], me: ObjectRef[Any] = ref) -> None:
        pass

    ref._add_callback(callback)  # ref -> _waiters -> callback -> ref
    del callback
    ref._value = ref
    ref._exc = RuntimeError(ref)
    dead = weakref.ref(ref)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        del ref
        assert dead() is not None  # held by its cycles only
        gc.collect()
        assert dead() is None
    finally:
        if was_enabled:
            gc.enable()


async def test_a_call_in_a_cycle_through_its_own_fields_is_collected() -> None:
    """A Call (a subclass with slots of its own) in a cycle is collected too."""
    async with ActorSystem():
        s = Sleeper.remote()
        ref = s.count.remote()
        assert await ref == 0
        ref._value = [ref]
        dead = weakref.ref(ref)
        del ref
        gc.collect()
        assert dead() is None


def test_weakrefs_to_a_ref_die_with_it() -> None:
    """A ref can be weakly referenced; the weakref dies (and calls back) when it goes."""
    gone: list[Any] = []
    ref: ObjectRef[Any] = ObjectRef(None)
    dead = weakref.ref(ref, gone.append)
    assert dead() is ref
    del ref
    assert dead() is None
    assert gone == [dead]


def test_repr_and_pickling_refusal() -> None:
    """repr() names the state; pickling a ref says it lives in this process."""
    ref: ObjectRef[Any] = ObjectRef(None)
    assert repr(ref) == "<ObjectRef pending>"
    ref._set_result(1)
    assert repr(ref) == "<ObjectRef done>"
    with pytest.raises(TypeError, match="cannot be serialized: it lives in this process"):
        pickle.dumps(ref)


def test_a_field_never_set_raises_attribute_error_on_await() -> None:
    """A ref made without its fields fails an await with AttributeError naming the field."""
    ref = ObjectRef.__new__(ObjectRef)
    with pytest.raises(AttributeError, match="'ObjectRef' object has no attribute '_state'"):
        ref.__await__()
    ref._state = 0
    with pytest.raises(AttributeError, match="'ObjectRef' object has no attribute '_loop'"):
        ref.__await__()


async def test_a_done_ref_gives_its_value_or_raises_its_error() -> None:
    """Awaiting a resolved ref returns its value, or raises its exception, at once."""
    ok: ObjectRef[int] = ObjectRef(asyncio.get_running_loop())
    ok._set_result(7)
    assert await ok == 7
    bad: ObjectRef[int] = ObjectRef(asyncio.get_running_loop())
    bad._set_exception(KeyError("k"), log=False)
    with pytest.raises(KeyError):
        await bad


def test_awaiting_with_no_running_loop_raises() -> None:
    """Outside a running loop, await says a ref needs one."""
    ref: ObjectRef[Any] = ObjectRef(None)
    steps = ref.__await__()
    with pytest.raises(RuntimeError, match="can only be awaited inside a running event loop"):
        steps.send(None)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_in_a_forked_child_the_parents_loop_is_not_running() -> None:
    """As asyncio says after a fork: the parent's loop does not run in the child, so
    awaiting one of its refs there raises instead of waiting on a loop that never turns."""

    async def fork_with_the_loop_running() -> int:
        ref: ObjectRef[Any] = ObjectRef(asyncio.get_running_loop())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads, 3.12+
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                ref.__await__().send(None)
            except RuntimeError as exc:
                code = 0 if "inside a running event loop" in str(exc) else 2
            finally:
                os._exit(code)
        return pid

    pid = asyncio.run(fork_with_the_loop_running())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


async def test_a_ref_of_this_loop_is_awaited_from_another_loop() -> None:
    """A pending ref of this loop, awaited in another thread's loop, gets its value."""
    loop = asyncio.get_running_loop()
    ref: ObjectRef[str] = ObjectRef(loop)
    started = threading.Event()
    box: list[str] = []

    async def other() -> None:
        waiting = asyncio.ensure_future(_await(ref))
        await asyncio.sleep(0)
        started.set()
        box.append(await waiting)

    t = threading.Thread(target=asyncio.run, args=(other(),))
    t.start()
    while not started.is_set():
        await asyncio.sleep(0.001)
    ref._set_result("there")
    while t.is_alive():
        await asyncio.sleep(0.001)
    assert box == ["there"]


async def _await(ref: ObjectRef[Any]) -> Any:
    return await ref


async def test_cancelling_one_awaiter_cancels_neither_the_call_nor_the_others() -> None:
    """Each await gets its own waiter (Ray's semantics): one cancelled, the others get the value."""
    async with ActorSystem():
        s = Sleeper.remote()
        ref = s.nap.remote()
        tasks = [asyncio.ensure_future(_await(ref)) for _ in range(3)]
        await asyncio.sleep(0)
        tasks[1].cancel()
        assert await tasks[0] == "rested"
        assert await tasks[2] == "rested"
        assert tasks[1].cancelled()
        assert await s.count.remote() == 1


async def test_an_actor_awaiting_a_ref_goes_through_its_engine() -> None:
    """Inside an actor, await asks the engine: another actor's call gives its value, and a
    call to itself that cannot start until this one ends raises DeadlockError at once."""
    async with ActorSystem():
        s = Sleeper.remote()
        a = Asker.options(max_concurrency=1).remote()
        assert await a.ask.remote(s) == "rested"
        with pytest.raises(DeadlockError):
            await a.ask_self.remote(a)


class _OwnFutures(asyncio.SelectorEventLoop):
    """A loop with its own create_future, counted."""

    made = 0

    def create_future(self) -> asyncio.Future[Any]:
        type(self).made += 1
        return super().create_future()


class _OwnIsRunning(asyncio.SelectorEventLoop):
    """A loop whose is_running is its own: its _thread_id is not trusted."""

    def is_running(self) -> bool:
        return super().is_running()


@pytest.mark.parametrize("kind", [_OwnFutures, _OwnIsRunning, asyncio.SelectorEventLoop])
def test_await_on_loops_of_other_kinds(kind: type[asyncio.AbstractEventLoop]) -> None:
    """A loop's own create_future is used for the waiter; a loop that overrides is_running,
    or a plain one, still finds itself running."""
    _OwnFutures.made = 0

    async def main() -> Any:
        ref: ObjectRef[str] = ObjectRef(asyncio.get_running_loop())
        asyncio.get_running_loop().call_soon(ref._set_result, "ok")
        return await ref

    loop = kind()
    try:
        assert loop.run_until_complete(main()) == "ok"
    finally:
        loop.close()
    assert _OwnFutures.made == (1 if kind is _OwnFutures else 0)
