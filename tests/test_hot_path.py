"""The engine's hot path: its inlined shortcuts stay in step with what they inline."""

from __future__ import annotations

import asyncio
import contextvars
import types
from types import SimpleNamespace
from typing import Any

import pytest

import asyncactors
from asyncactors._backends._local.call import Call
from asyncactors._backends._local.common import YIELD, ColdField
from asyncactors._backends._local.dispatch import Dispatch
from asyncactors._ref import WAITER
from asyncactors._specs import MethodSpec
from asyncactors._types import SYNC

_MISSING = object()


def _fields(obj: object) -> dict[str, Any]:
    # Slots of Python classes, and the fields of C bases (member descriptors).
    names = {s for cls in type(obj).__mro__ for s in getattr(cls, "__slots__", ())}
    names |= {
        n
        for cls in type(obj).__mro__
        for n, v in vars(cls).items()
        if isinstance(v, types.MemberDescriptorType) and not n.startswith("__")
    }
    return {n: getattr(obj, n, _MISSING) for n in sorted(names - {"__weakref__"})}


class _OffLoop:
    """A stand-in core whose loop is not running, so ``call`` hands its call over untouched."""

    cold = None

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        # No thread runs the loop (as under compat.ray).
        self.host = types.SimpleNamespace(thread_id=None, thread_loop=self.loop)

    def _submit_threadsafe(self, call: Call) -> Call:
        return call


def test_call_makes_the_same_call_object_as_the_call_constructor() -> None:
    """Dispatch.call builds its Call without Call.__init__: every field must match."""
    core = _OffLoop()
    try:
        spec = MethodSpec("C", "m", lambda self: None, SYNC, None, 0, None)
        made = Dispatch.call(core, spec, (1, 2), {"k": 3})  # type: ignore[arg-type]
        built = Call(core, spec, (1, 2), {"k": 3})  # type: ignore[arg-type]
        assert type(made) is Call
        assert _fields(made) == _fields(built)
    finally:
        core.loop.close()


def test_a_new_mailbox_has_the_fields_the_mailbox_constructor_gives() -> None:
    """Batches._new_mailbox builds a plain mailbox and its lane without their __init__:
    every field must match what Mailbox(...) makes."""
    from asyncactors._backends._local.batch import Batches
    from asyncactors._mailbox import Mailbox

    class Stub:
        mailbox: Any = None
        config = SimpleNamespace(mailbox_size=7, max_concurrency=3, groups=None)
        spec = SimpleNamespace(batched=())

    stub = Stub()
    made = Batches._new_mailbox(stub)  # type: ignore[arg-type]
    built = Mailbox(7, 3, None)
    assert stub.mailbox is made
    assert type(made) is Mailbox
    assert type(made.default) is type(built.default)
    assert {**_fields(made), "default": None, "lanes": None} == {
        **_fields(built),
        "default": None,
        "lanes": None,
    }
    assert _fields(made.default) == _fields(built.default)
    assert made.lanes == (made.default,)


@asyncactors.remote
class Gate:
    def __init__(self) -> None:
        self.opened: asyncio.Event | None = None

    async def wait_open(self, fail: bool) -> str:
        self.opened = asyncio.Event()
        await self.opened.wait()
        if fail:
            raise ValueError("failed")
        return "done"

    def open(self) -> None:
        assert self.opened is not None
        self.opened.set()


@pytest.mark.parametrize("fail", [False, True])
async def test_a_lone_awaiter_joined_by_others_all_get_the_outcome(fail: bool) -> None:
    """A ref awaited by one task (its waiter kept alone), then watched by wait(), awaited
    by a second task and mirrored by future(), gives every one of them the outcome."""

    async def outcome(aw: Any) -> Any:
        try:
            return await aw
        except ValueError as exc:
            return exc

    async with asyncactors.ActorSystem():
        gate = Gate.options(max_concurrency=2).remote()
        ref = gate.wait_open.remote(fail)
        first = asyncio.create_task(outcome(ref))
        await asyncio.sleep(0)
        ready, _ = await asyncactors.wait([ref], timeout=0.001)  # watched, then unwatched
        assert ready == []
        second = asyncio.create_task(outcome(ref))
        mirror = ref.future()
        await asyncio.sleep(0)
        await gate.open.remote()
        results = [await first, await second, await outcome(mirror)]
    if fail:
        assert all(isinstance(r, ValueError) for r in results)
    else:
        assert results == ["done"] * 3


async def test_a_lone_awaiter_gets_the_exception() -> None:
    """A ref awaited by one task alone (its waiter kept without a list) gets the failure."""
    async with asyncactors.ActorSystem():
        gate = Gate.options(max_concurrency=2).remote()
        ref = gate.wait_open.remote(True)
        waiter = asyncio.create_task(asyncactors.get(ref))
        await asyncio.sleep(0)
        assert type(ref._waiters) is WAITER  # alone, not in a list
        await gate.open.remote()
        with pytest.raises(ValueError, match="failed"):
            await waiter


async def test_yield_gives_the_loop_one_turn_each_time_it_is_awaited() -> None:
    """await YIELD lets the callbacks already scheduled run, then resumes."""
    loop = asyncio.get_running_loop()
    order: list[str] = []
    for turn in range(2):
        loop.call_soon(order.append, f"callback {turn}")
        await YIELD
        order.append(f"resumed {turn}")
    assert order == ["callback 0", "resumed 0", "callback 1", "resumed 1"]


_caller_var: contextvars.ContextVar[str] = contextvars.ContextVar("caller_var", default="unset")


@asyncactors.remote
class Reader:
    async def read(self) -> str:
        return _caller_var.get()


async def test_an_async_method_runs_in_the_actors_context_not_the_callers() -> None:
    """A call that starts a worker at once does not see the caller's context variables."""
    async with asyncactors.ActorSystem():
        reader = await Reader.remote()
        _caller_var.set("set by the caller")
        assert await reader.read.remote() == "unset"


@asyncactors.remote
class TaskReporter:
    async def which(self) -> int:
        return id(asyncio.current_task())


async def test_a_sequential_caller_is_served_by_one_lingering_worker() -> None:
    """From its second call on, a caller awaiting each call in turn is served by the same
    worker task, which lingers a loop turn for the next call instead of ending."""
    async with asyncactors.ActorSystem():
        actor = await TaskReporter.remote()
        tasks = [await actor.which.remote() for _ in range(6)]
        assert len(set(tasks[1:])) == 1


async def test_the_worker_of_an_actors_only_call_does_not_linger() -> None:
    """A worker that answered its actor's first call, with nothing queued, ends at once
    rather than spending a loop turn waiting for a call that may never come."""
    async with asyncactors.ActorSystem():
        actor = await TaskReporter.remote()
        await actor.which.remote()
        assert not actor._core.workers  # already gone when the caller wakes


@asyncactors.remote
class Plain:
    def ok(self) -> int:
        return 1

    def bad(self) -> None:
        raise ValueError("bad")


async def test_an_actor_that_never_failed_or_stopped_has_no_cold_state() -> None:
    """Failure counts, death, stop and restart fields live in a ColdState made on first
    use: an actor that only answered calls has none, and reads their defaults."""
    async with asyncactors.ActorSystem():
        actor = await Plain.remote()
        assert await actor.ok.remote() == 1
        core = actor._core
        assert core.cold is None
        assert (core.failed, core.restarts, core.death, core.reason) == (0, 0, None, None)
        assert (core.name, core.pending) == (None, None)
        assert core.supervisor is core.host.root
        with pytest.raises(ValueError, match="bad"):
            await actor.bad.remote()
        assert core.failed == 1
        assert core.cold is not None
        assert core.info().calls_failed == 1


def test_a_cold_field_must_be_a_field_of_the_cold_state() -> None:
    """Declaring a ColdField that ColdState has no slot for fails when the class is made."""
    # Python 3.11 wraps what __set_name__ raises in a RuntimeError; 3.12 does not.
    with pytest.raises((TypeError, RuntimeError)) as info:

        class Broken:
            nope: ColdField[int] = ColdField(0)

    error = info.value.__cause__ if isinstance(info.value, RuntimeError) else info.value
    assert "ColdState has no field 'nope'" in str(error)


async def test_a_name_a_supervisor_and_a_pending_cap_are_kept_in_the_cold_state() -> None:
    """What few actors have (a name, a supervisor of their own, max_pending_calls) reads
    back as given, from their ColdState."""
    async with asyncactors.ActorSystem():
        supervisor = asyncactors.Supervisor()
        actor = await Plain.options(name="p", supervisor=supervisor, max_pending_calls=3).remote()
        core = actor._core
        assert core.cold is not None
        assert core.name == "p"
        assert core.supervisor is supervisor
        assert core.pending is not None
        assert core.pending.cap == 3
        assert await actor.ok.remote() == 1
        assert core.pending.n == 0


async def test_an_actor_called_once_drops_its_empty_mailbox_when_idle() -> None:
    """After its one call, an idle actor holds no mailbox (yet reports a peak depth of 1);
    an actor called again keeps the mailbox it makes, and both still serve calls."""
    async with asyncactors.ActorSystem() as system:
        once, again = Plain.remote(), Plain.remote()
        await once.ok.remote()
        await again.ok.remote()
        await asyncio.sleep(0)  # the drain's last pass, which finds the actor idle
        assert once._core.mailbox is None
        assert [a.peak_depth for a in system.list_actors()] == [1, 1]
        await again.ok.remote()
        await asyncio.sleep(0)
        assert again._core.mailbox is not None
        assert await once.ok.remote() == 1


async def test_a_new_actors_first_sync_call_leaves_no_drain_behind() -> None:
    """The drain that created an actor and answered its first call makes no second pass:
    when the caller wakes the actor is idle, without a mailbox, and still takes calls."""
    async with asyncactors.ActorSystem():
        actor = Plain.remote()
        assert await actor.ok.remote() == 1
        core = actor._core
        assert not core.scheduled
        assert core.mailbox is None
        assert await actor.ok.remote() == 1


async def test_a_handle_caches_each_method_it_used_in_a_slot_of_its_own() -> None:
    """handle.method gives the same ActorMethod each time, kept in a slot named after the
    method: handles have no __dict__, and unknown names still raise AttributeError."""
    async with asyncactors.ActorSystem():
        actor = Plain.remote()
        assert not hasattr(actor, "__dict__")
        assert actor.ok is actor.ok
        assert await actor.ok.remote() == 1
        with pytest.raises(AttributeError, match="has no method 'okk'; did you mean 'ok'"):
            actor.okk  # noqa: B018


@asyncactors.remote
class Both:
    def sync_get(self) -> int:
        return 1

    async def async_get(self) -> int:
        return 2


@pytest.mark.parametrize("method", ["sync_get", "async_get"])
async def test_calls_made_and_awaited_on_the_loop_thread_never_ask_for_the_running_loop(
    monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """On the loop's own thread, .remote(), await and a worker's start take the loop as
    the running one without asking (asyncio._get_running_loop() is a getpid() system
    call in Python 3.11, and so is current_task() without its loop)."""
    from asyncactors import _ref
    from asyncactors._backends._local import base, dispatch

    asked: list[str] = []
    real_running, real_current = asyncio._get_running_loop, asyncio.current_task

    def running() -> asyncio.AbstractEventLoop | None:
        asked.append("_get_running_loop()")
        return real_running()

    def current(loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Task[Any] | None:
        if loop is None:
            asked.append("current_task()")
        return real_current(loop)

    async with asyncactors.ActorSystem():
        actor = await Both.remote()
        for module in (_ref, base, dispatch):
            monkeypatch.setattr(module, "_get_running_loop", running)
        monkeypatch.setattr(dispatch, "_current_task", current)
        for _ in range(3):
            assert await getattr(actor, method).remote() in (1, 2)
        assert asked == []


async def _value(ref: Any) -> Any:
    return await ref


def test_a_ref_awaited_by_another_loop_on_the_systems_thread_waits_for_its_loop() -> None:
    """A task of another loop, on the thread of a system whose loop is stopped, awaiting
    one of its refs gets the value once the system's loop runs again (not a future of
    the wrong loop)."""
    home, other = asyncio.new_event_loop(), asyncio.new_event_loop()
    system = asyncactors.ActorSystem()

    async def start() -> Any:
        await system.__aenter__()
        return await Both.remote()

    try:
        actor = home.run_until_complete(start())
        ref = actor.sync_get.remote()  # queued while the loop is stopped
        waiter = other.create_task(_value(ref))
        other.run_until_complete(asyncio.sleep(0))
        assert not waiter.done()
        assert home.run_until_complete(_value(ref)) == 1
        assert other.run_until_complete(waiter) == 1
    finally:
        home.run_until_complete(system.shutdown())
        home.close()
        other.close()
