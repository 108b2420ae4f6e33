"""ObjectRef's base: the C accelerator (asyncactors._speedups) and its pure-Python twin.

The tests here run on whichever base is in use; test_pure_python_base_passes_the_ref_tests
runs them (with the ref, batch and deadlock tests) again with ASYNCACTORS_NO_EXTENSIONS=1.
"""

from __future__ import annotations

import asyncio
import contextvars
import ctypes
import gc
import importlib.util
import os
import pickle
import subprocess
import sys
import threading
import traceback
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import asyncactors
from asyncactors import ActorSystem, DeadlockError, ObjectRef, _ref
from asyncactors._backends._local import call as call_module
from asyncactors._backends._local.call import Call

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
        not _ref.extensions_off() and importlib.util.find_spec("asyncactors._speedups") is not None
    )
    assert _ref.ACCELERATED is wanted
    base = ObjectRef.__mro__[1]
    assert base.__module__ == ("asyncactors._speedups" if wanted else "asyncactors._ref")


def test_a_call_is_one_struct_on_the_c_call_base_when_the_c_base_is_used() -> None:
    """The engine's Call sits on _speedups.CallBase with the C base (its Python twin
    _PyCallBase without), and no class of its own adds a slot: its fields are the base's."""
    base = Call.__mro__[2]
    assert base is (_speedups_attr("CallBase") if _ref.ACCELERATED else call_module._PyCallBase)
    assert [c for c in Call.__mro__[:2] if c.__dict__.get("__slots__") != ()] == []
    assert Call.__basicsize__ == call_module.Item.__basicsize__ == base.__basicsize__


def _speedups_attr(name: str) -> Any:
    from asyncactors import _speedups

    return getattr(_speedups, name)


CALL_FIELDS = ["_admit", "_args", "_attempts", "_blocked", "_core", "_kwargs", "_lane", "_pos"]


def _assert_freed_by_the_collector(cycle: Callable[[], weakref.ref[Any]]) -> None:
    """``cycle()`` builds objects held by their cycles only and returns a weak reference
    to one of them: it outlives ``cycle()`` until the garbage collector runs, not after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        dead = cycle()
        assert dead() is not None  # held by its cycle only
        gc.collect()
        assert dead() is None
    finally:
        if was_enabled:
            gc.enable()


@pytest.mark.parametrize("field", [*CALL_FIELDS, "_spec"])
def test_a_call_in_a_cycle_through_each_of_its_fields_is_collected(field: str) -> None:
    """Each field of a call (of its C base too) is seen by the garbage collector."""

    def cycle() -> weakref.ref[Any]:
        call = object.__new__(Call)
        setattr(call, field, [call])
        return weakref.ref(call)

    _assert_freed_by_the_collector(cycle)


@pytest.mark.parametrize("field", [*CALL_FIELDS, "_spec"])
def test_a_call_field_never_set_raises_attribute_error_naming_it(field: str) -> None:
    """A call's field never set raises AttributeError naming it, set it reads back, and
    deleted it is unset again (as a slot of the Python twin does)."""
    call = object.__new__(Call)
    with pytest.raises(AttributeError, match=f"'{field}'"):
        getattr(call, field)
    setattr(call, field, 7)
    assert getattr(call, field) == 7
    delattr(call, field)
    with pytest.raises(AttributeError, match=f"'{field}'"):
        getattr(call, field)


def test_pure_python_base_passes_the_ref_tests() -> None:
    """With ASYNCACTORS_NO_EXTENSIONS=1 the ref, batch and deadlock tests pass in Python."""
    if _ref.extensions_off():
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


@pytest.mark.parametrize(
    ("value", "off"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("Yes", True),
        ("0", False),
        ("false", False),
        ("False", False),
        ("", False),
        (None, False),
    ],
)
def test_no_extensions_is_on_for_1_true_yes_and_off_for_0_false_empty_or_unset(
    monkeypatch: pytest.MonkeyPatch, value: str | None, off: bool
) -> None:
    """ASYNCACTORS_NO_EXTENSIONS, in any case: 1/true/yes turn the accelerator off;
    0/false/empty/unset keep it on."""
    if value is None:
        monkeypatch.delenv("ASYNCACTORS_NO_EXTENSIONS", raising=False)
    else:
        monkeypatch.setenv("ASYNCACTORS_NO_EXTENSIONS", value)
    assert _ref.extensions_off() is off


@pytest.mark.parametrize("value", ["2", "no", "off", "on", "maybe", " 1"])
def test_no_extensions_with_another_value_is_an_error_naming_the_valid_ones(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """Any other value of ASYNCACTORS_NO_EXTENSIONS raises ValueError naming it and the
    valid values."""
    monkeypatch.setenv("ASYNCACTORS_NO_EXTENSIONS", value)
    with pytest.raises(ValueError, match="ASYNCACTORS_NO_EXTENSIONS=") as info:
        _ref.extensions_off()
    message = str(info.value)
    assert repr(value) in message
    assert "1, true or yes" in message
    assert "0, false, empty or unset" in message


def test_no_extensions_0_keeps_the_c_base_and_a_bad_value_fails_the_import() -> None:
    """In a fresh interpreter, ASYNCACTORS_NO_EXTENSIONS=0 keeps the C base (when built),
    and a value that is not valid stops ``import asyncactors`` with the ValueError."""
    if importlib.util.find_spec("asyncactors._speedups") is None:
        pytest.skip("the C extension is not built")
    code = "import asyncactors._ref as r; print(r.ACCELERATED)"
    assert _run_python(code, ASYNCACTORS_NO_EXTENSIONS="0").strip() == "True"
    done = subprocess.run(
        [sys.executable, "-c", "import asyncactors"],
        cwd=ROOT,
        env={**os.environ, "ASYNCACTORS_NO_EXTENSIONS": "maybe"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "ValueError: ASYNCACTORS_NO_EXTENSIONS='maybe' is not valid" in done.stderr


def test_a_ref_in_a_cycle_through_its_waiters_is_collected() -> None:
    """Cycles through _waiters, _value and _exc are found by the garbage collector."""

    def cycles() -> weakref.ref[Any]:
        ref: ObjectRef[Any] = ObjectRef(None)

        def callback(r: ObjectRef[Any], me: ObjectRef[Any] = ref) -> None:
            pass

        ref._add_callback(callback)  # ref -> _waiters -> callback -> ref
        ref._value = ref
        ref._exc = RuntimeError(ref)
        return weakref.ref(ref)

    _assert_freed_by_the_collector(cycles)


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


@pytest.mark.parametrize("field", ["_log", "_loop", "_state"])
def test_a_ref_in_a_cycle_through_another_field_is_collected(field: str) -> None:
    """Cycles through _log, _loop and _state are found by the garbage collector too."""

    def cycle() -> weakref.ref[Any]:
        ref: ObjectRef[Any] = ObjectRef(None)
        setattr(ref, field, [ref])
        return weakref.ref(ref)

    _assert_freed_by_the_collector(cycle)


def _run_python(code: str, **env: str) -> str:
    """Runs ``code`` in a fresh interpreter (crashes stay there); returns its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


needs_c = pytest.mark.skipif(not _ref.ACCELERATED, reason="the C base is not in use")


def test_the_c_base_awaited_before_setup_raises() -> None:
    """RefBase awaited before _speedups.setup() (never called here) raises RuntimeError."""
    if importlib.util.find_spec("asyncactors._speedups") is None:
        pytest.skip("the C extension is not built")
    out = _run_python(
        "from asyncactors._speedups import RefBase\n"
        "r = RefBase(); r._state = 0; r._loop = None\n"
        "try:\n"
        "    r.__await__()\n"
        "except RuntimeError as exc:\n"
        "    print(exc)\n",
        ASYNCACTORS_NO_EXTENSIONS="1",  # so that _ref does not call setup()
    )
    assert out.strip() == "asyncactors._speedups.setup() was not called"


@pytest.mark.parametrize("kind", ["ObjectRef", "RefBase", "Call"])
def test_a_long_chain_of_refs_is_freed_without_overflowing_the_stack(kind: str) -> None:
    """Freeing refs linked through _value, deeper than the C stack allows recursion, works."""
    out = _run_python(
        "import threading\n"
        "from asyncactors._ref import ObjectRef, _RefBase as RefBase\n"
        "from asyncactors._backends._local.call import Call\n"
        f"cls = {kind}\n"
        "def chain():\n"
        "    head = None\n"
        "    for _ in range(100_000):\n"
        "        r = cls.__new__(cls); r._value = head; head = r\n"
        "    del r, head\n"
        "    print('freed')\n"
        # 1 MB: 3.13's own trashcan (lists' too) needs more than 256 KB, and
        # 100_000 nested frees without one need far more than 1 MB.
        "threading.stack_size(1024 * 1024)\n"
        "t = threading.Thread(target=chain); t.start(); t.join()\n"
    )
    assert out.strip() == "freed"


@needs_c
def test_the_c_base_is_immutable(monkeypatch: pytest.MonkeyPatch) -> None:
    """RefBase's and CallBase's attributes cannot be replaced (Py_TPFLAGS_IMMUTABLETYPE)."""
    base = ObjectRef.__mro__[1]
    with pytest.raises(TypeError, match="immutable"):
        monkeypatch.setattr(base, "__await__", None)  # restored if it were allowed
    with pytest.raises(TypeError, match="immutable"):
        monkeypatch.setattr(_speedups_attr("CallBase"), "_core", None)


def test_a_free_threaded_build_uses_the_python_base(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the GIL is disabled (a free-threaded build), _ref_base() picks the Python twin."""
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    assert _ref._ref_base() is _ref._PyRefBase


@needs_c
def test_a_second_copy_of_the_ref_module_gets_the_python_base() -> None:
    """_ref re-imported (deleted from sys.modules) falls back to Python; the first copy's
    refs keep awaiting with its own objects (setup() takes effect once)."""
    out = _run_python(
        "import asyncio, sys\n"
        "import asyncactors._ref as first\n"
        "del sys.modules['asyncactors._ref'], sys.modules['asyncactors._speedups']\n"
        "import asyncactors._ref as second\n"
        "import asyncactors._speedups\n"
        "async def main():\n"
        "    ref = first.ObjectRef(asyncio.get_running_loop())\n"
        "    ref.__await__()\n"
        "    one = type(ref._waiters) is first.WAITER is asyncactors._speedups.Waiter\n"
        "    return ref._log is first._SEEN, one\n"
        "print(first.ACCELERATED, second.ACCELERATED, *asyncio.run(main()))\n"
    )
    # The first copy's waiters are of the type it knows, which the second shares.
    assert out.split() == ["True", "False", "True", "True"]


_SUBINTERPRETER = """
import asyncio, sys
try:
    import _xxsubinterpreters as si
except ImportError:
    import _interpreters as si
import asyncactors._ref as r
# The main interpreter's GIL, shared: 3.12 takes isolated=False, 3.13 "legacy".
if si.__name__ == "_interpreters":
    args, kw = ("legacy",), {}
else:
    args, kw = (), ({"isolated": False} if sys.version_info >= (3, 12) else {})
for _ in range(2):
    iid = si.create(*args, **kw)
    si.run_string(iid, "import asyncactors._ref as r; print('sub', r.ACCELERATED, flush=True)")
    si.destroy(iid)

class Actor:
    def blocking_wait(self, ref, fut):
        print("main actor", flush=True)
        return iter(fut)

async def main():
    r.actor_var.set(Actor())
    ref = r.ObjectRef(asyncio.get_running_loop())
    ref.__await__()
    print("main", r.ACCELERATED, ref._log is r._SEEN, type(ref._waiters) is asyncio.Future)

asyncio.run(main())
"""


@needs_c
def test_a_sub_interpreter_gets_the_python_base_and_leaves_the_main_ones_alone() -> None:
    """The C base serves the first interpreter only: a sub-interpreter importing
    asyncactors gets the Python twin, and the main one keeps its actor_var and marker."""
    if not any(importlib.util.find_spec(m) for m in ("_xxsubinterpreters", "_interpreters")):
        pytest.skip("no sub-interpreter module")
    out = _run_python(_SUBINTERPRETER)
    assert out.splitlines() == ["sub False", "sub False", "main actor", "main True True True"]


@pytest.mark.parametrize("kind", ["ref", "call"])
def test_weakrefs_to_a_ref_die_with_it(kind: str) -> None:
    """A ref (a call too) can be weakly referenced; the weakref dies (and calls back)
    when it goes."""
    gone: list[Any] = []
    ref: ObjectRef[Any] = ObjectRef(None) if kind == "ref" else object.__new__(Call)
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
    # 3.13 names the type by its full name here (PEP 737).
    missing = r"'(asyncactors\.)?ObjectRef' object has no attribute"
    with pytest.raises(AttributeError, match=missing + " '_state'"):
        ref.__await__()
    ref._state = 0
    with pytest.raises(AttributeError, match=missing + " '_loop'"):
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


def _raw_fork() -> int:
    """fork() of the C library, without os.fork's at-fork hooks."""
    fork: Any = ctypes.CDLL(None).fork
    pid: int = fork()
    return pid


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("fork", [os.fork, _raw_fork], ids=["os.fork", "raw"])
def test_in_a_forked_child_the_parents_loop_is_not_running(fork: Any) -> None:
    """As asyncio says after a fork: the parent's loop does not run in the child, so
    awaiting one of its refs there raises instead of waiting on a loop that never turns.
    After the C library's own fork, asyncio 3.12+ (whose C _get_running_loop no longer
    checks the pid; an os.register_at_fork hook resets it) still says the loop runs,
    and the ref agrees with it."""

    async def fork_with_the_loop_running() -> int:
        ref: ObjectRef[Any] = ObjectRef(asyncio.get_running_loop())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads, 3.12+
            pid: int = fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            says_running = asyncio._get_running_loop() is not None
            try:
                waiting = ref.__await__().send(None)
                if says_running and asyncio.isfuture(waiting):  # it waits
                    code = 10
            except RuntimeError as exc:
                if not says_running:
                    code = 0 if "inside a running event loop" in str(exc) else 2
            finally:
                os._exit(code)
        return pid

    pid = asyncio.run(fork_with_the_loop_running())
    _, status = os.waitpid(pid, 0)
    asyncio_misses_it = fork is _raw_fork and sys.version_info >= (3, 12)
    assert os.waitstatus_to_exitcode(status) == (10 if asyncio_misses_it else 0)


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


class _LetThrough:
    """An actor, as far as ``await ref`` sees one: its engine lets every wait through."""

    def blocking_wait(self, ref: ObjectRef[Any], fut: asyncio.Future[Any]) -> Any:
        return iter(fut)


@pytest.mark.parametrize("kind", [_OwnFutures, asyncio.SelectorEventLoop])
def test_await_in_an_actor_uses_a_loops_own_create_future(
    kind: type[asyncio.AbstractEventLoop],
) -> None:
    """Inside an actor the waiter is a future of the loop: a loop's own create_future
    makes it; a plain loop's is not called."""
    _OwnFutures.made = 0
    assert _await_one_on(kind(), _LetThrough()) == "ok"
    assert _OwnFutures.made == (1 if kind is _OwnFutures else 0)


@pytest.mark.parametrize("kind", [_OwnFutures, asyncio.SelectorEventLoop])
def test_await_outside_an_actor_waits_on_a_waiter_of_the_base(
    kind: type[asyncio.AbstractEventLoop],
) -> None:
    """Outside an actor the C base waits on its own Waiter (no future of the loop); the
    Python base on a future of the loop's create_future."""
    _OwnFutures.made = 0
    assert _await_one_on(kind()) == "ok"
    assert _OwnFutures.made == (1 if kind is _OwnFutures and not _ref.ACCELERATED else 0)


def _await_one_on(loop: asyncio.AbstractEventLoop, actor: Any = None) -> Any:
    async def main() -> Any:
        ref: ObjectRef[str] = ObjectRef(asyncio.get_running_loop())
        asyncio.get_running_loop().call_soon(ref._set_result, "ok")
        _ref.actor_var.set(actor)  # in this task's context only
        return await ref

    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def test_a_create_future_assigned_to_the_loop_class_later_is_used() -> None:
    """Patching create_future on a loop class after its loops were awaited on is seen."""

    class Patched(asyncio.SelectorEventLoop):
        pass

    made: list[str] = []
    assert _await_one_on(Patched(), _LetThrough()) == "ok"  # remembered: makes plain futures

    def create_future(self: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        made.append("patched")
        return asyncio.Future(loop=self)

    Patched.create_future = create_future  # type: ignore[method-assign]
    assert _await_one_on(Patched(), _LetThrough()) == "ok"
    assert made == ["patched"]


# -- what an await waits on: a Waiter (C base) or a future (Python base) ----------
# Both must be, to asyncio and to the awaiting code, what a future of the loop is.


@asyncactors.remote
class Gate:
    """A call that runs until opened: ``wait()`` returns once ``open()`` is called."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()

    async def wait(self) -> str:
        await self.opened.wait()
        return "through"

    def open(self) -> None:
        self.opened.set()


async def _cancel_message(ref: ObjectRef[Any]) -> Any:
    try:
        await ref
    except asyncio.CancelledError as exc:
        return exc.args
    raise AssertionError("not cancelled")


async def test_cancelling_a_task_awaiting_a_ref_stops_the_await_at_once_not_the_call() -> None:
    """The cancelled task gets CancelledError (with the cancel's message) at its await in
    the next loop iteration; the call goes on, and a later await gets its value."""
    async with ActorSystem():
        g = Gate.remote()
        ref = g.wait.remote()
        task = asyncio.ensure_future(_cancel_message(ref))
        await asyncio.sleep(0)
        task.cancel("enough")
        await asyncio.sleep(0)
        assert task.done()
        assert task.result() == ("enough",)
        assert not ref.done()
        await g.open.remote()
        assert await ref == "through"


async def test_a_task_that_cancels_itself_then_awaits_a_ref_is_cancelled_at_the_await() -> None:
    """A Task cancelled while it runs cancels the waiter it then waits on, with the message."""

    async def cancel_self_then_await(ref: ObjectRef[Any]) -> Any:
        task = asyncio.current_task()
        assert task is not None
        task.cancel("self")
        return await _cancel_message(ref)

    ref: ObjectRef[str] = ObjectRef(asyncio.get_running_loop())
    assert await asyncio.ensure_future(cancel_self_then_await(ref)) == ("self",)
    ref._set_result("later")  # its waiter, cancelled, ignores it
    assert await ref == "later"


async def test_every_awaiter_of_a_ref_gets_its_value() -> None:
    """Several tasks awaiting one ref each get its value, whatever it is: a tuple, None,
    or an exception returned (not raised)."""
    for value in [(1, 2), None, ValueError("returned")]:
        ref: ObjectRef[Any] = ObjectRef(asyncio.get_running_loop())
        tasks = [asyncio.ensure_future(_await(ref)) for _ in range(3)]
        await asyncio.sleep(0)
        ref._set_result(value)
        assert [await t for t in tasks] == [value] * 3


async def test_every_awaiter_of_a_failed_ref_gets_its_error_with_its_own_traceback() -> None:
    """Each awaiter gets the ref's exception, its traceback starting where it was raised
    (as a future gives it): one await's frames do not pile up on the next's."""
    ref: ObjectRef[Any] = ObjectRef(asyncio.get_running_loop())
    tasks = [asyncio.ensure_future(_await(ref)) for _ in range(2)]
    await asyncio.sleep(0)
    try:
        raise KeyError("lost")
    except KeyError as exc:
        raised = exc
    ref._set_exception(raised)
    lengths = []
    for t in tasks:
        with pytest.raises(KeyError) as info:
            await t
        assert info.value is raised
        lengths.append(len(info.traceback))
    assert lengths[0] == lengths[1]


async def test_a_failed_ref_awaited_again_and_again_raises_with_the_same_traceback() -> None:
    """Awaiting a failed ref, sending it to a future, or awaiting a part of its split,
    raises its exception with the traceback it failed with, however often: the frames
    of earlier raises do not pile up on the exception."""
    ref: ObjectRef[Any] = ObjectRef(asyncio.get_running_loop())
    try:
        raise KeyError("lost")
    except KeyError as exc:
        ref._set_exception(exc)
        original = exc.__traceback__

    def frames(exc: BaseException) -> int:
        return len(traceback.extract_tb(exc.__traceback__))

    lengths = []
    for _ in range(4):
        with pytest.raises(KeyError) as info:
            await ref
        lengths.append(frames(info.value))
    assert lengths == [lengths[0]] * 4
    for _ in range(2):
        with pytest.raises(KeyError) as info:
            await ref.future()
        # A future raises from the traceback it was given: the failure's own.
        assert info.value.__traceback__ is not None
        assert info.value.__traceback__.tb_next is original
    (part,) = _ref.split(ref, 1)
    await asyncio.sleep(0)
    with pytest.raises(KeyError) as info:
        await part
    assert frames(info.value) == lengths[0]


async def test_polling_a_pending_ref_with_timeouts_keeps_few_waiters() -> None:
    """The waiters of awaits cancelled by a timeout (wait_for, futures left behind) are
    dropped as more come, so a ref polled a thousand times holds a few, not a thousand;
    a callback and a live await are kept and still resolved."""
    loop = asyncio.get_running_loop()
    ref: ObjectRef[str] = ObjectRef(loop)
    called: list[ObjectRef[str]] = []
    ref._add_callback(called.append)
    live = asyncio.ensure_future(_await(ref))
    for i in range(1000):
        if i % 2:
            poll = asyncio.ensure_future(_await(ref))
            await asyncio.sleep(0)
            poll.cancel()  # as wait_for does when its timeout ends
            with pytest.raises(asyncio.CancelledError):
                await poll
        else:
            ref.future().cancel()
    assert len(ref._waiters) < 16
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ref, 0.001)
    ref._set_result("at last")
    assert await live == "at last"
    assert called == [ref]


async def test_polling_a_pending_ref_with_result_timeouts_keeps_no_callbacks() -> None:
    """``ref.result(timeout=)`` from a thread, timed out again and again, leaves none of
    its callbacks on the ref, and a later ``result()`` still gets the value."""
    ref: ObjectRef[str] = ObjectRef(asyncio.get_running_loop())

    def poll() -> int:
        timeouts = 0
        for timeout in (0, 0.0001) * 25:
            try:
                ref.result(timeout=timeout)
            except asyncactors.GetTimeoutError:
                timeouts += 1
        return timeouts

    assert await asyncio.to_thread(poll) == 50
    await asyncio.sleep(0)  # the loop runs the removals the timeouts asked for
    assert ref._waiters in (None, [])
    waiting = asyncio.ensure_future(asyncio.to_thread(ref.result, 5))
    while not ref._waiters:
        await asyncio.sleep(0.001)
    ref._set_result("at last")
    assert await waiting == "at last"


async def test_wait_for_gather_and_shield_take_a_ref() -> None:
    """asyncio.wait_for times an await of a ref out without failing the ref (at once with
    timeout 0, or later), and gives its value in time; gather and shield take refs too."""
    loop = asyncio.get_running_loop()
    ref: ObjectRef[str] = ObjectRef(loop)
    for timeout in (0, 0.001):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ref, timeout)
    assert not ref.done()
    loop.call_soon(ref._set_result, "kept")
    assert await asyncio.wait_for(ref, 5) == "kept"
    other: ObjectRef[str] = ObjectRef(loop)
    loop.call_soon(other._set_result, "other")
    assert await asyncio.gather(ref, other, _await(other)) == ["kept", "other", "other"]

    shielded: ObjectRef[str] = ObjectRef(loop)
    inner = asyncio.ensure_future(shielded)
    outer = asyncio.ensure_future(asyncio.shield(inner))
    await asyncio.sleep(0)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    shielded._set_result("shielded")
    assert await inner == "shielded"


async def test_a_ref_awaited_then_cancelled_is_seen_and_its_failure_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Awaiting a pending ref marks its failure as seen, even once that await is cancelled."""
    ref: ObjectRef[Any] = ObjectRef(asyncio.get_running_loop())
    task = asyncio.ensure_future(_await(ref))
    await asyncio.sleep(0)
    assert ref._log is _ref._SEEN
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    ref._set_exception(RuntimeError("unseen?"))
    del ref
    gc.collect()
    assert "nobody awaited" not in caplog.text


async def test_a_task_waiting_on_a_ref_can_be_looked_at() -> None:
    """While it waits on a ref, a task is current in its own code, listed by all_tasks(),
    waits on the ref's waiter, and has a repr and a stack."""
    loop = asyncio.get_running_loop()
    ref: ObjectRef[str] = ObjectRef(loop)
    seen: list[Any] = []

    async def waiting() -> str:
        seen.append(asyncio.current_task())
        value = await ref
        seen.append(asyncio.current_task())
        return value

    task = asyncio.ensure_future(waiting())
    await asyncio.sleep(0)
    assert task in asyncio.all_tasks()
    waiter = task._fut_waiter  # type: ignore[attr-defined]
    assert waiter is ref._waiters
    assert type(waiter) is _ref.WAITER
    assert asyncio.isfuture(waiter)
    assert asyncio.futures._get_loop(waiter) is loop  # type: ignore[attr-defined]
    assert "wait_for=" in repr(task)
    assert len(task.get_stack()) == 1
    ref._set_result("looked at")
    assert await task == "looked at"
    assert seen == [task, task]


_where: contextvars.ContextVar[str] = contextvars.ContextVar("where", default="unset")


async def test_a_task_resumes_from_awaiting_a_ref_in_its_own_context() -> None:
    """The code after ``await ref`` runs in its task's context, not in the resolver's."""

    async def waiting(ref: ObjectRef[str]) -> tuple[str, str]:
        _where.set("task")
        value = await ref
        return value, _where.get()

    loop = asyncio.get_running_loop()
    ref: ObjectRef[str] = ObjectRef(loop)
    task = asyncio.ensure_future(waiting(ref))
    await asyncio.sleep(0)
    elsewhere = contextvars.copy_context()
    elsewhere.run(_where.set, "resolver")
    loop.call_soon(ref._set_result, "value", context=elsewhere)
    assert await task == ("value", "task")


def test_on_uvloop_a_ref_is_awaited_cancelled_and_awaited_again() -> None:
    """uvloop (whose tasks are asyncio's) waits on a ref's waiter as asyncio's loop does."""
    uvloop = pytest.importorskip("uvloop")

    async def main() -> tuple[Any, Any]:
        loop = asyncio.get_running_loop()
        ref: ObjectRef[str] = ObjectRef(loop)
        task = asyncio.ensure_future(_cancel_message(ref))
        await asyncio.sleep(0)
        task.cancel("uv")
        message = await task
        loop.call_soon(ref._set_result, "uv value")
        return message, await ref

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(main()) == (("uv",), "uv value")


async def test_a_python_task_awaits_a_ref_and_is_cancelled_at_its_await() -> None:
    """asyncio's pure-Python Task waits on a ref's waiter too (its generic path)."""
    loop = asyncio.get_running_loop()
    py_task: Any = asyncio.tasks._PyTask  # type: ignore[attr-defined]
    ref: ObjectRef[str] = ObjectRef(loop)
    task = py_task(_await(ref), loop=loop)
    await asyncio.sleep(0)
    ref._set_result("from python")
    assert await task == "from python"
    ref = ObjectRef(loop)
    task = py_task(_cancel_message(ref), loop=loop)
    await asyncio.sleep(0)
    task.cancel("py")
    assert await task == ("py",)


async def test_an_awaits_waiter_is_a_future_to_those_who_drive_it_by_hand() -> None:
    """What an await yields has the Future API: callbacks (with their context, removable),
    done/result/exception, cancel(msg), and the await then ends with the outcome."""
    loop = asyncio.get_running_loop()
    ref: ObjectRef[tuple[int, int]] = ObjectRef(loop)
    it = ref.__await__()
    waiter = next(it)
    assert waiter._asyncio_future_blocking
    with pytest.raises(RuntimeError, match="await wasn't used with future"):
        it.send("a value")  # type: ignore[attr-defined]  # not done: no second yield
    assert not waiter.done()
    assert not waiter.cancelled()
    with pytest.raises(asyncio.InvalidStateError):
        waiter.result()
    with pytest.raises(asyncio.InvalidStateError):
        waiter.exception()
    with pytest.raises(TypeError):
        waiter.add_done_callback()
    with pytest.raises(TypeError):
        waiter.add_done_callback(print, ctx=None)
    calls: list[Any] = []
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    ctx = contextvars.copy_context()
    ctx.run(var.set, "in ctx")
    waiter.add_done_callback(lambda w: calls.append((w, var.get())), context=ctx)
    waiter.add_done_callback(calls.append)
    waiter.add_done_callback(calls.append)
    assert waiter.remove_done_callback(calls.append) == 2
    ref._set_result((1, 2))
    assert waiter.done()
    assert waiter.result() == (1, 2)
    assert waiter.exception() is None
    await asyncio.sleep(0)
    assert calls == [(waiter, "in ctx")]
    waiter.add_done_callback(calls.append)  # done: called soon
    await asyncio.sleep(0)
    assert calls[1] is waiter
    with pytest.raises(StopIteration) as stop:
        next(it)
    assert stop.value.value == (1, 2)

    ref = ObjectRef(loop)
    it = ref.__await__()
    waiter = next(it)
    assert waiter.cancel("stop")
    assert not waiter.cancel()
    assert waiter.cancelled()
    assert waiter.done()
    for ask in (waiter.result, waiter.exception, lambda: next(it)):
        with pytest.raises(asyncio.CancelledError, match="stop"):
            ask()
    assert not ref.done()
    ref._set_result((3, 4))
    assert await ref == (3, 4)


async def test_a_ref_in_a_cycle_through_an_awaits_waiter_is_collected() -> None:
    """ref -> its waiter -> a callback -> ref is found by the garbage collector."""

    def cycle() -> weakref.ref[Any]:
        ref: ObjectRef[Any] = ObjectRef(asyncio.get_running_loop())
        waiter = next(ref.__await__())

        def callback(w: Any, me: ObjectRef[Any] = ref) -> None:
            pass

        waiter.add_done_callback(callback)
        return weakref.ref(ref)

    _assert_freed_by_the_collector(cycle)


@needs_c
def test_the_waiter_type_cannot_be_made_from_python() -> None:
    """Only an await makes a Waiter."""
    with pytest.raises(TypeError):
        _ref.WAITER()


_REENTRANT_REMOVE = """
import asyncio
from asyncactors._ref import ObjectRef

async def main():
    ref = ObjectRef(asyncio.get_running_loop())
    w = ref.__await__()

    class Lone:
        def __call__(self, _):
            print("lone", flush=True)

        def __eq__(self, other):
            w.add_done_callback(lambda _: print("second", flush=True))
            return True

        __hash__ = object.__hash__

    w.add_done_callback(Lone())
    print("removed", w.remove_done_callback(object()), flush=True)
    w.add_done_callback(lambda _: print("third", flush=True))
    ref._set_result(1)
    await asyncio.sleep(0)
    print("done", flush=True)

asyncio.run(main())
"""


@needs_c
def test_a_waiters_callbacks_survive_an_eq_that_adds_one_while_removing() -> None:
    """remove_done_callback() compares the lone callback with an __eq__ that adds another:
    nothing is removed, and each of the three callbacks runs once (no crash)."""
    out = _run_python(_REENTRANT_REMOVE)
    assert out.split() == ["removed", "0", "lone", "second", "third", "done"]


@needs_c
async def test_send_to_a_waiter_done_with_none_raises_stop_iteration() -> None:
    """An await's waiter driven by hand: send() once it is done with None raises
    StopIteration, as a future's iterator does (not SystemError)."""
    ref: ObjectRef[None] = ObjectRef(asyncio.get_running_loop())
    waiter = ref.__await__()
    ref._set_result(None)
    with pytest.raises(StopIteration) as info:
        waiter.send(None)
    assert info.value.value is None


@needs_c
async def test_a_waiter_refuses_stop_iteration_as_a_future_does() -> None:
    """An await's waiter refuses StopIteration as its exception with asyncio.Future's
    TypeError: raised into a coroutine, it would end it as a return."""
    ref: ObjectRef[None] = ObjectRef(asyncio.get_running_loop())
    waiter: Any = ref.__await__()
    with pytest.raises(TypeError, match="StopIteration"):
        waiter.set_exception(StopIteration(1))
    assert not waiter.done()


async def _value_of(ref: ObjectRef[Any]) -> Any:
    return await ref


async def test_a_ref_failed_with_stop_iteration_gives_its_awaiter_runtime_error() -> None:
    """A ref failed with StopIteration fails its awaiters and its future() with
    RuntimeError from it: never a return of the StopIteration's value, nor a future's
    TypeError."""
    ref: ObjectRef[int] = ObjectRef(asyncio.get_running_loop())
    task = asyncio.ensure_future(_value_of(ref))
    await asyncio.sleep(0)
    ref._set_exception(StopIteration(5), log=False)
    with pytest.raises(RuntimeError, match="StopIteration") as info:
        await asyncio.wait_for(task, 5)
    assert isinstance(info.value.__cause__, StopIteration)
    with pytest.raises(RuntimeError, match="StopIteration"):
        await ref.future()
