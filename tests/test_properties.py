"""Property-based tests of the runtime's invariants (issue 2, "Semantics" and "Tests").

- every call resolves exactly once, to a value or an exception, and never hangs;
- at ``max_concurrency=1`` one caller's calls run in the order it submitted them;
- the mailbox never holds more than ``mailbox_size`` messages;
- no message is lost or reordered when the mailbox is full;
- a kill or shutdown at any point resolves every outstanding ref.

Hypothesis does not drive ``async def`` tests under pytest-asyncio, so each test is a
sync ``@given`` function running one fresh event loop per example (see ``_run``). Each
example's body runs inside ``async with asyncactors.ActorSystem()``, and after the system
has shut down no asyncio task other than the example's own may still be pending.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import asyncactors
from asyncactors import ActorDiedError, TaskCancelledError

# A guard against hangs, not a timing assertion: a ref that has not resolved after this
# long is reported as never resolving.
HANG_TIMEOUT = 10.0
EXAMPLE_TIMEOUT = 30.0


def _assert_no_other_task_pending() -> None:
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    assert not pending, f"tasks left pending after the system shut down: {pending}"


def _run(body: Callable[..., Awaitable[None]], /, *args: Any) -> None:
    """Run ``body(system, *args)`` in a fresh event loop inside a fresh ActorSystem."""

    async def main() -> None:
        async with asyncio.timeout(EXAMPLE_TIMEOUT):
            async with asyncactors.ActorSystem() as system:
                await body(system, *args)
        _assert_no_other_task_pending()

    # loop_factory keeps the Runner from replacing the thread's current event loop.
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(main())


async def _yield_to_loop(times: int) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


async def _outcome(ref: Any) -> tuple[str, Any]:
    """Await ``ref`` and return ("value", v) or ("error", exc)."""
    try:
        return ("value", await ref)
    except Exception as exc:
        return ("error", exc)


def _only_actor(system: asyncactors.ActorSystem) -> asyncactors.ActorInfo:
    infos = system.list_actors()
    assert len(infos) == 1, infos
    return infos[0]


@asyncactors.remote
class Worker:
    """Runs numbered calls, yielding to the loop a given number of times in each."""

    def __init__(self) -> None:
        self.finished: list[int] = []

    async def op(self, call_id: int, fail: bool, yields: int) -> int:
        for _ in range(yields):
            await asyncio.sleep(0)
        self.finished.append(call_id)
        if fail:
            raise ValueError(call_id)
        return call_id

    async def stuck(self) -> None:
        await asyncio.Event().wait()

    def finished_ids(self) -> list[int]:
        return list(self.finished)


@asyncactors.remote(max_concurrency=1)
class Recorder:
    """Records the order in which (caller, seq) calls ran."""

    def __init__(self) -> None:
        self.log: list[tuple[int, int]] = []

    async def record(self, caller: int, seq: int, yields: int) -> int:
        for _ in range(yields):
            await asyncio.sleep(0)
        self.log.append((caller, seq))
        return seq

    def record_sync(self, caller: int, seq: int) -> int:
        self.log.append((caller, seq))
        return seq

    def entries(self) -> list[tuple[int, int]]:
        return list(self.log)


# --- (a) exactly-once resolution -------------------------------------------------------------

call_plan = st.fixed_dictionaries(
    {
        "fail": st.booleans(),
        "yields": st.integers(0, 3),
        "via_submit": st.booleans(),
        # None: not cancelled; n: cancelled after yielding to the loop n times.
        "cancel_after": st.none() | st.integers(0, 3),
    }
)


async def _exactly_once_body(
    system: asyncactors.ActorSystem,
    max_concurrency: int,
    mailbox_size: int,
    plans: list[dict[str, Any]],
) -> None:
    worker = await Worker.options(
        max_concurrency=max_concurrency, mailbox_size=mailbox_size
    ).remote()
    refs = []
    for call_id, plan in enumerate(plans):
        if plan["via_submit"]:
            refs.append(await worker.op.submit(call_id, plan["fail"], plan["yields"]))
        else:
            refs.append(worker.op.remote(call_id, plan["fail"], plan["yields"]))

    cancelled: dict[int, bool] = {}
    for call_id, plan in enumerate(plans):
        if plan["cancel_after"] is not None:
            await _yield_to_loop(plan["cancel_after"])
            cancelled[call_id] = refs[call_id].cancel()
            assert isinstance(cancelled[call_id], bool)

    ready, not_ready = await asyncactors.wait(refs, num_returns=len(refs), timeout=HANG_TIMEOUT)
    assert not not_ready, f"{len(not_ready)} of {len(refs)} refs never resolved"
    assert len(ready) == len(refs)
    finished = await asyncactors.get(worker.finished_ids.remote(), timeout=HANG_TIMEOUT)

    for call_id, (plan, ref) in enumerate(zip(plans, refs, strict=True)):
        assert ref.done()
        kind, result = await _outcome(ref)
        again_kind, again_result = await _outcome(ref)
        assert kind == again_kind, "awaiting the same ref twice gave different outcomes"
        if cancelled.get(call_id):
            assert kind == "error"
            assert isinstance(result, TaskCancelledError), repr(result)
            assert call_id not in finished, "a cancelled call ran to completion"
        else:
            assert finished.count(call_id) == 1, f"call {call_id} ran {finished.count(call_id)}x"
            if plan["fail"]:
                assert kind == "error"
                assert type(result) is ValueError, repr(result)
                assert result.args == (call_id,)
                assert again_result is result, "a second await gave another exception object"
            else:
                assert (kind, result) == ("value", call_id)
                assert again_result == call_id
    assert len(finished) == len(set(finished)), "some call ran more than once"


@settings(max_examples=60, deadline=None)
@given(
    max_concurrency=st.integers(1, 4),
    mailbox_size=st.integers(1, 5),
    plans=st.lists(call_plan, min_size=1, max_size=20),
)
def test_every_call_resolves_exactly_once_with_value_error_or_cancellation(
    max_concurrency: int, mailbox_size: int, plans: list[dict[str, Any]]
) -> None:
    _run(_exactly_once_body, max_concurrency, mailbox_size, plans)


# --- (b) per-caller FIFO at max_concurrency=1 -------------------------------------------------

caller_step = st.fixed_dictionaries(
    {
        "via_submit": st.booleans(),
        "pause": st.integers(0, 2),  # loop yields before submitting
        "work": st.integers(0, 2),  # loop yields inside the method
    }
)
caller_plan = st.fixed_dictionaries(
    {
        "await_each": st.booleans(),
        "steps": st.lists(caller_step, min_size=1, max_size=8),
    }
)


async def _per_caller_fifo_body(
    system: asyncactors.ActorSystem, mailbox_size: int, callers: list[dict[str, Any]]
) -> None:
    recorder = await Recorder.options(mailbox_size=mailbox_size).remote()

    async def caller(caller_id: int, plan: dict[str, Any]) -> None:
        refs = []
        for seq, step in enumerate(plan["steps"]):
            await _yield_to_loop(step["pause"])
            if step["via_submit"]:
                ref = await recorder.record.submit(caller_id, seq, step["work"])
            else:
                ref = recorder.record.remote(caller_id, seq, step["work"])
            refs.append(ref)
            if plan["await_each"]:
                assert await asyncactors.get(ref, timeout=HANG_TIMEOUT) == seq
        values = await asyncactors.get(refs, timeout=HANG_TIMEOUT)
        assert values == list(range(len(plan["steps"])))

    async with asyncio.TaskGroup() as group:
        for caller_id, plan in enumerate(callers):
            group.create_task(caller(caller_id, plan))

    entries = [tuple(entry) for entry in await recorder.entries.remote()]
    expected = [
        (caller_id, seq)
        for caller_id, plan in enumerate(callers)
        for seq in range(len(plan["steps"]))
    ]
    assert sorted(entries) == sorted(expected), "a call was lost or ran more than once"
    for caller_id, plan in enumerate(callers):
        order = [seq for who, seq in entries if who == caller_id]
        assert order == list(range(len(plan["steps"]))), f"caller {caller_id} ran as {order}"


@settings(max_examples=40, deadline=None)
@given(
    mailbox_size=st.integers(1, 4),
    callers=st.lists(caller_plan, min_size=1, max_size=5),
)
def test_each_callers_calls_run_in_submission_order_at_max_concurrency_one(
    mailbox_size: int, callers: list[dict[str, Any]]
) -> None:
    _run(_per_caller_fifo_body, mailbox_size, callers)


async def _global_fifo_body(
    system: asyncactors.ActorSystem,
    mailbox_size: int,
    pauses: list[list[int]],
    sync_method: bool,
) -> None:
    recorder = await Recorder.options(mailbox_size=mailbox_size).remote()
    submitted: list[tuple[int, int]] = []

    async def caller(caller_id: int, caller_pauses: list[int]) -> list[Any]:
        refs = []
        for seq, pause in enumerate(caller_pauses):
            await _yield_to_loop(pause)
            if sync_method:
                refs.append(recorder.record_sync.remote(caller_id, seq))
            else:
                refs.append(recorder.record.remote(caller_id, seq, pause))
            # .remote() is synchronous, so this list has the exact submission order.
            submitted.append((caller_id, seq))
        return refs

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(caller(i, p)) for i, p in enumerate(pauses)]
    refs = [ref for task in tasks for ref in task.result()]
    await asyncactors.get(refs, timeout=HANG_TIMEOUT)
    entries = [tuple(entry) for entry in await recorder.entries.remote()]
    assert entries == submitted, "calls did not run in submission order"


@settings(max_examples=40, deadline=None)
@given(
    mailbox_size=st.integers(1, 4),
    pauses=st.lists(st.lists(st.integers(0, 2), min_size=1, max_size=8), min_size=1, max_size=5),
    sync_method=st.booleans(),
)
def test_calls_from_many_callers_run_in_global_submission_order_at_max_concurrency_one(
    mailbox_size: int, pauses: list[list[int]], sync_method: bool
) -> None:
    _run(_global_fifo_body, mailbox_size, pauses, sync_method)


# --- (c) the mailbox never exceeds its capacity ----------------------------------------------

burst = st.fixed_dictionaries(
    {
        "size": st.integers(1, 30),
        "via_submit": st.booleans(),
        "work": st.integers(0, 2),
        "pause": st.integers(0, 5),
    }
)


def _assert_depth_within_capacity(system: asyncactors.ActorSystem) -> None:
    info = _only_actor(system)
    assert info.mailbox_depth <= info.mailbox_capacity, info
    assert info.peak_depth <= info.mailbox_capacity, info


async def _capacity_body(
    system: asyncactors.ActorSystem,
    mailbox_size: int,
    max_concurrency: int,
    bursts: list[dict[str, Any]],
) -> None:
    worker = await Worker.options(
        max_concurrency=max_concurrency, mailbox_size=mailbox_size
    ).remote()
    refs = []
    for plan in bursts:
        for _ in range(plan["size"]):
            call_id = len(refs)
            if plan["via_submit"]:
                refs.append(await worker.op.submit(call_id, False, plan["work"]))
            else:
                refs.append(worker.op.remote(call_id, False, plan["work"]))
            _assert_depth_within_capacity(system)
        for _ in range(plan["pause"]):
            await asyncio.sleep(0)
            _assert_depth_within_capacity(system)

    values = await asyncactors.get(refs, timeout=HANG_TIMEOUT)
    assert values == list(range(len(refs)))
    info = _only_actor(system)
    assert info.mailbox_capacity == mailbox_size
    assert info.peak_depth <= info.mailbox_capacity, info
    assert info.calls_processed == len(refs), info
    assert info.calls_failed == 0, info
    finished = await worker.finished_ids.remote()
    assert sorted(finished) == list(range(len(refs))), "a call was lost or ran more than once"


@settings(max_examples=40, deadline=None)
@given(
    mailbox_size=st.integers(1, 8),
    max_concurrency=st.integers(1, 3),
    bursts=st.lists(burst, min_size=1, max_size=6),
)
def test_mailbox_depth_never_exceeds_mailbox_size(
    mailbox_size: int, max_concurrency: int, bursts: list[dict[str, Any]]
) -> None:
    _run(_capacity_body, mailbox_size, max_concurrency, bursts)


# --- (d) no lost message when the mailbox is full --------------------------------------------


async def _no_lost_message_body(
    system: asyncactors.ActorSystem,
    mailbox_size: int,
    via_submit: list[bool],
    sync_method: bool,
) -> None:
    recorder = await Recorder.options(mailbox_size=mailbox_size).remote()
    refs = []
    for seq, use_submit in enumerate(via_submit):
        method = recorder.record_sync if sync_method else recorder.record
        args = (0, seq) if sync_method else (0, seq, seq % 2)
        if use_submit:
            refs.append(await method.submit(*args))
        else:
            refs.append(method.remote(*args))

    values = await asyncactors.get(refs, timeout=HANG_TIMEOUT)
    assert values == list(range(len(via_submit))), "a reply was lost or mismatched"
    entries = [tuple(entry) for entry in await recorder.entries.remote()]
    assert entries == [(0, seq) for seq in range(len(via_submit))], "lost, repeated or reordered"
    assert _only_actor(system).peak_depth <= mailbox_size


@st.composite
def mailbox_and_submissions(draw: st.DrawFn) -> tuple[int, list[bool]]:
    mailbox_size = draw(st.integers(1, 4))
    count = draw(st.integers(5 * mailbox_size, 30 * mailbox_size))
    mode = draw(st.sampled_from(["remote", "submit", "mixed"]))
    if mode == "mixed":
        via_submit = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    else:
        via_submit = [mode == "submit"] * count
    return mailbox_size, via_submit


@settings(max_examples=40, deadline=None)
@given(case=mailbox_and_submissions(), sync_method=st.booleans())
def test_no_message_lost_or_reordered_when_mailbox_is_full(
    case: tuple[int, list[bool]], sync_method: bool
) -> None:
    mailbox_size, via_submit = case
    _run(_no_lost_message_body, mailbox_size, via_submit, sync_method)


# --- (e) kill / shutdown at a random point ---------------------------------------------------


async def _kill_or_shutdown_body(
    system: asyncactors.ActorSystem,
    action: str,
    shutdown_timeout: float,
    max_concurrency: int,
    mailbox_size: int,
    calls: list[int | None],
    action_after: int,
    late_calls: int,
) -> None:
    worker = await Worker.options(
        max_concurrency=max_concurrency, mailbox_size=mailbox_size
    ).remote()
    # None: a call that never finishes by itself; n: a call yielding n times.
    refs = [
        worker.stuck.remote() if yields is None else worker.op.remote(i, False, yields)
        for i, yields in enumerate(calls)
    ]
    await _yield_to_loop(action_after)
    if action == "kill":
        asyncactors.kill(worker)
    else:
        await system.shutdown(timeout=shutdown_timeout)
        not_done = [i for i, ref in enumerate(refs) if not ref.done()]
        assert not not_done, f"calls {not_done} still unresolved after shutdown returned"
    late_refs = [worker.op.remote(len(calls) + i, False, 0) for i in range(late_calls)]

    all_refs = refs + late_refs
    if all_refs:
        _, not_ready = await asyncactors.wait(
            all_refs, num_returns=len(all_refs), timeout=HANG_TIMEOUT
        )
        assert not not_ready, f"{len(not_ready)} of {len(all_refs)} refs never resolved"
    reason = "killed" if action == "kill" else "shut down"
    for i, (yields, ref) in enumerate(zip(calls, refs, strict=True)):
        kind, result = await _outcome(ref)
        if kind == "value":
            assert yields is not None, "a call that never finishes returned a value"
            assert result == i
        else:
            assert isinstance(result, ActorDiedError), repr(result)
            if action == "kill":
                assert reason in str(result), str(result)
    for ref in late_refs:
        kind, result = await _outcome(ref)
        assert kind == "error", "a call made after the actor died ran"
        assert isinstance(result, ActorDiedError), repr(result)
        assert reason in str(result), str(result)


@settings(max_examples=60, deadline=None)
@given(
    action=st.sampled_from(["kill", "shutdown"]),
    shutdown_timeout=st.sampled_from([0.0, 0.01, 0.05]),
    max_concurrency=st.integers(1, 4),
    mailbox_size=st.integers(1, 5),
    calls=st.lists(st.none() | st.integers(0, 4), max_size=15),
    action_after=st.integers(0, 10),
    late_calls=st.integers(0, 3),
)
def test_kill_or_shutdown_at_any_point_resolves_every_outstanding_ref(
    action: str,
    shutdown_timeout: float,
    max_concurrency: int,
    mailbox_size: int,
    calls: list[int | None],
    action_after: int,
    late_calls: int,
) -> None:
    _run(
        _kill_or_shutdown_body,
        action,
        shutdown_timeout,
        max_concurrency,
        mailbox_size,
        calls,
        action_after,
        late_calls,
    )


async def _graceful_shutdown_body(
    system: asyncactors.ActorSystem,
    max_concurrency: int,
    mailbox_size: int,
    calls: list[int],
    shutdown_after: int,
) -> None:
    worker = await Worker.options(
        max_concurrency=max_concurrency, mailbox_size=mailbox_size
    ).remote()
    refs = [worker.op.remote(i, False, yields) for i, yields in enumerate(calls)]
    await _yield_to_loop(shutdown_after)
    await system.shutdown(timeout=None)
    assert all(ref.done() for ref in refs), "shutdown returned with calls unresolved"
    late = worker.op.remote(len(calls), False, 0)
    for i, ref in enumerate(refs):
        assert await ref == i, "a call queued before shutdown did not finish"
    kind, result = await _outcome(late)
    assert kind == "error"
    assert isinstance(result, ActorDiedError), repr(result)
    assert "shut down" in str(result)


@settings(max_examples=40, deadline=None)
@given(
    max_concurrency=st.integers(1, 4),
    mailbox_size=st.integers(1, 5),
    calls=st.lists(st.integers(0, 4), max_size=20),
    shutdown_after=st.integers(0, 10),
)
def test_shutdown_without_timeout_lets_every_running_and_queued_call_finish(
    max_concurrency: int, mailbox_size: int, calls: list[int], shutdown_after: int
) -> None:
    _run(_graceful_shutdown_body, max_concurrency, mailbox_size, calls, shutdown_after)
