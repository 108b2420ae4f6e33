"""ObjectRef: awaiting, cancelling, blocking from threads, dataflow, unretrieved failures."""

from __future__ import annotations

import asyncio
import gc
import logging
import operator
import re
import threading
from typing import Any

import pytest

import asyncactors
from asyncactors import ActorDiedError, ActorSystem, GetTimeoutError, ObjectRef, TaskCancelledError


@asyncactors.remote
class Box:
    def __init__(self) -> None:
        self.items: list[Any] = []
        self.cancelled = 0

    def add(self, x: Any) -> list[Any]:
        self.items.append(x)
        return list(self.items)

    def combine(self, a: Any, b: Any = 0) -> Any:
        return a + b

    async def sleep(self, s: float) -> str:
        try:
            await asyncio.sleep(s)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return "slept"

    def stats(self) -> tuple[list[Any], int]:
        return list(self.items), self.cancelled

    def boom(self) -> None:
        raise RuntimeError("kaput")


async def test_done_and_value() -> None:
    """done() is false until the call finished; awaiting twice gives the value twice."""
    async with ActorSystem():
        b = Box.remote()
        ref = b.sleep.remote(0.01)
        assert not ref.done()
        assert await ref == "slept"
        assert ref.done()
        assert await ref == "slept"


async def test_cancel_queued_call_never_runs() -> None:
    """cancel() removes a queued call: it never runs and awaiting raises TaskCancelledError."""
    async with ActorSystem():
        b = Box.options(max_concurrency=1).remote()
        first = b.sleep.remote(0.02)
        queued = b.add.remote("never")
        assert queued.cancel() is True
        with pytest.raises(TaskCancelledError, match=r"call add\(\) .* was cancelled"):
            await queued
        assert await first == "slept"
        assert await b.stats.remote() == ([], 0)
        assert queued.cancel() is False


async def test_cancel_running_async_call_cancels_its_task() -> None:
    """cancel() on a running async method cancels it; the actor keeps serving."""
    async with ActorSystem():
        b = Box.remote()
        ref = b.sleep.remote(10)
        await asyncio.sleep(0.01)
        assert ref.cancel() is True
        with pytest.raises(TaskCancelledError):
            await ref
        assert await b.stats.remote() == ([], 1)
        assert await b.add.remote(1) == [1]


async def test_cancelling_the_awaiting_task_does_not_cancel_the_call() -> None:
    """As in Ray: a cancelled waiter leaves the call running; others still get the value."""
    async with ActorSystem():
        b = Box.remote()
        ref = b.sleep.remote(0.05)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ref.future(), 0.001)
        waiter = asyncio.ensure_future(asyncactors.get(ref))
        await asyncio.sleep(0)
        waiter.cancel()
        assert await ref == "slept"
        assert await b.stats.remote() == ([], 0)


async def test_result_blocks_other_thread_and_times_out() -> None:
    """result() works from another thread and raises GetTimeoutError (a TimeoutError) in time."""

    class Gated:
        async def until(self, gate: asyncio.Future[str]) -> str:
            return await gate

    async with ActorSystem():
        gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        slow = asyncactors.remote(Gated).remote().until.remote(gate)
        outcome: dict[str, Any] = {}
        timed_out = threading.Event()

        def in_thread() -> None:
            try:
                slow.result(timeout=0.001)
            except GetTimeoutError as e:
                outcome["timeout"] = e
            timed_out.set()
            outcome["value"] = slow.result(timeout=30)

        t = threading.Thread(target=in_thread)
        t.start()
        while not timed_out.is_set():
            await asyncio.sleep(0.005)
        gate.set_result("opened")  # only now can the call finish
        while t.is_alive():
            await asyncio.sleep(0.005)
        assert isinstance(outcome["timeout"], TimeoutError)
        assert outcome["value"] == "opened"


async def test_result_on_loop_thread_raises() -> None:
    """result() on the system's loop thread would deadlock, so it raises RuntimeError."""
    async with ActorSystem():
        ref = Box.remote().add.remote(1)
        with pytest.raises(RuntimeError, match="would block the actor system's own event loop"):
            ref.result()
        await ref


async def test_ref_arguments_are_resolved_before_the_call() -> None:
    """A ref passed as an argument or keyword arrives as its value (Ray's dataflow)."""
    async with ActorSystem():
        producer = Box.remote()
        consumer = Box.remote()
        slow = producer.sleep.remote(0.02)
        total = consumer.combine.remote(producer.combine.remote(1, 2), b=asyncactors.put(10))
        joined = consumer.combine.remote(slow, "!")
        assert await total == 13
        assert await joined == "slept!"


async def test_pending_ref_argument_does_not_block_other_calls() -> None:
    """While a call waits for its ref argument, the actor serves other calls."""
    async with ActorSystem():
        gate = asyncio.get_running_loop().create_future()

        class Source:
            async def later(self) -> int:
                return await gate

        src = asyncactors.remote(Source).remote()
        b = Box.options(max_concurrency=1).remote()
        waiting = b.add.remote(src.later.remote())
        assert await asyncio.wait_for(b.add.remote("other").future(), 2) == ["other"]
        gate.set_result(7)
        assert await waiting == ["other", 7]


async def test_failed_ref_argument_fails_the_call() -> None:
    """If a ref argument failed, the dependent call fails with that same exception."""
    async with ActorSystem():
        b = Box.remote()
        bad = b.boom.remote()
        dependent = b.add.remote(bad)
        with pytest.raises(RuntimeError, match="kaput"):
            await dependent
        assert await b.stats.remote() == ([], 0)


async def test_future_interoperates_with_asyncio() -> None:
    """ref.future() gives a fresh asyncio.Future usable with asyncio.gather."""
    async with ActorSystem():
        b = Box.remote()
        refs = [b.combine.remote(i, i) for i in range(5)]
        assert await asyncio.gather(*(r.future() for r in refs)) == [0, 2, 4, 6, 8]


async def test_unretrieved_failure_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A failed call nobody awaited is logged on the 'asyncactors' logger when dropped."""
    async with ActorSystem():
        b = Box.remote()
        with caplog.at_level(logging.ERROR, logger="asyncactors"):
            b.boom.remote()
            await b.stats.remote()
            gc.collect()
        records = [r for r in caplog.records if r.name == "asyncactors"]
        assert len(records) == 1
        assert "boom() on actor Box" in records[0].getMessage()
        assert "nobody awaited it" in records[0].getMessage()
        assert records[0].exc_info is not None
        assert isinstance(records[0].exc_info[1], RuntimeError)


async def test_retrieved_failure_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Awaiting a failed ref (or cancelling it) counts as handling it: nothing is logged."""
    async with ActorSystem():
        b = Box.remote()
        with caplog.at_level(logging.DEBUG, logger="asyncactors"):
            ref = b.boom.remote()
            with pytest.raises(RuntimeError):
                await ref
            q = Box.options(max_concurrency=1).remote()
            q.sleep.remote(0.01)
            q.add.remote(1).cancel()
            del ref
            gc.collect()
            await asyncio.sleep(0.02)
        assert [r for r in caplog.records if r.name == "asyncactors"] == []


def test_put_ref_outside_loop() -> None:
    """put() makes a ready ref even without a loop; result() returns its value."""
    ref = asyncactors.put({"k": 1})
    assert ref.done()
    assert ref.result() == {"k": 1}
    assert ref.cancel() is False


async def test_awaiting_from_another_loop() -> None:
    """A ref can be awaited from a loop in another thread."""
    async with ActorSystem():
        b = Box.remote()
        ref = b.sleep.remote(0.01)
        box: list[Any] = []
        t = threading.Thread(target=lambda: box.append(asyncio.run(asyncactors.get(ref))))
        t.start()
        while t.is_alive():
            await asyncio.sleep(0.005)
        assert box == ["slept"]


@asyncactors.remote
class Failing:
    def boom(self) -> None:
        raise RuntimeError("sync kaput")

    async def aboom(self) -> None:
        raise RuntimeError("async kaput")

    @asyncactors.method(run_in_thread=True)
    def tboom(self) -> None:
        raise RuntimeError("thread kaput")

    def ok(self) -> str:
        return "ok"

    async def hang(self) -> None:
        await asyncio.Event().wait()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def no_gc_records() -> Any:
    """The 'asyncactors' logger's messages, with the cyclic garbage collector off."""
    records = _Records()
    log = logging.getLogger("asyncactors")
    log.addHandler(records)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield records.messages
    finally:
        if was_enabled:
            gc.enable()
        log.removeHandler(records)


async def _dropped_unawaited(ref: Any, messages: list[str]) -> list[str]:
    """Wait for ``ref`` without retrieving it, then drop it; return what was logged then."""
    await asyncactors.wait([ref], timeout=5)
    assert ref.done()
    assert messages == []  # not before its last reference goes
    del ref
    return messages


@pytest.mark.parametrize("method", ["boom", "aboom", "tboom"])
async def test_unretrieved_failure_is_logged_when_the_ref_goes_without_gc(
    method: str, no_gc_records: list[str]
) -> None:
    """A failed call (sync, async or threaded method) nobody awaited is logged as its
    last reference goes, with the cyclic garbage collector off."""
    async with ActorSystem():
        f = Failing.remote()
        logged = await _dropped_unawaited(getattr(f, method).remote(), no_gc_records)
        assert len(logged) == 1
        assert f"call {method}() on actor Failing" in logged[0]
        assert "nobody awaited it" in logged[0]


async def test_unretrieved_failures_of_crash_kill_and_checkpoint_are_logged_without_gc(
    no_gc_records: list[str],
) -> None:
    """A call failed by a crash, a kill or a failed checkpoint is logged as its last
    reference goes, with the cyclic garbage collector off."""

    class BrokenStore(asyncactors.MemoryStore):
        async def save(self, key: str, data: bytes) -> None:
            raise OSError("disk full")

    async with ActorSystem():
        crashing = Failing.options(restart_on=(RuntimeError,), max_restarts=1).remote()
        logged = await _dropped_unawaited(crashing.boom.remote(), no_gc_records)
        assert len(logged) == 1
        assert "call boom()" in logged.pop()

        saving = Failing.options(checkpoint_store=BrokenStore(), checkpoint_every=1).remote()
        logged = await _dropped_unawaited(saving.ok.remote(), no_gc_records)
        assert len(logged) == 1
        assert "call ok()" in logged.pop()

        killed = Failing.remote()
        ref = killed.hang.remote()
        await asyncio.sleep(0.01)  # running
        asyncactors.kill(killed)
        await asyncio.sleep(0)  # the cancelled worker task ends on its next step
        logged = await _dropped_unawaited(ref, no_gc_records)
        del ref
        assert len(logged) == 1
        assert "call hang()" in logged.pop()


def _call_stranded_by_a_closed_loop() -> tuple[Any, ObjectRef[Any]]:
    """A capped actor's handle, and a call to it submitted from outside its stopped loop
    (queued there, never run), that loop then closed."""
    loop = asyncio.new_event_loop()
    try:
        handle = loop.run_until_complete(_handle_outliving_its_system(max_pending_calls=2))
        ref = _returned_promptly(lambda: handle.add.remote(1))
    finally:
        loop.close()
    return handle, ref


def test_pending_ref_of_a_closed_loop_raises_actor_died_naming_the_actor() -> None:
    """.remote() to a capped actor returns at once while its loop is stopped; result(),
    get() and wait() on that ref once the loop closed raise ActorDiedError naming the
    actor, not 'Event loop is closed'."""
    _, ref = _call_stranded_by_a_closed_loop()
    assert not ref.done()
    with pytest.raises(ActorDiedError, match=r"actor Box\(id=\d+\) is unreachable") as e:
        ref.result(timeout=5)
    assert e.value.class_name == "Box"
    with pytest.raises(ActorDiedError, match="event loop is closed"):
        asyncio.run(asyncactors.get(ref, timeout=5))
    with pytest.raises(ActorDiedError, match="event loop is closed"):
        asyncio.run(asyncactors.wait([ref], timeout=5))


def test_cancel_and_kill_once_the_loop_closed_do_nothing_instead_of_raising() -> None:
    """ref.cancel() of a call whose loop has closed returns False (it can never finish),
    and kill() of its actor does nothing: both raised asyncio's 'Event loop is closed'."""
    handle, ref = _call_stranded_by_a_closed_loop()
    assert ref.cancel() is False
    asyncactors.kill(handle)
    asyncactors.kill(handle, no_restart=False)
    with pytest.raises(ActorDiedError, match="event loop is closed"):
        ref.result(timeout=5)


def test_remote_after_the_loop_closed_fails_the_ref_of_a_capped_actor_at_once() -> None:
    """.remote() on an actor with max_pending_calls whose loop has closed returns a
    failed ref at once, and the failed call holds no place."""
    loop = asyncio.new_event_loop()
    try:
        handle = loop.run_until_complete(_handle_outliving_its_system(max_pending_calls=1))
    finally:
        loop.close()
    for _ in range(3):  # with a place leaked, the second call would be refused
        ref = handle.add.remote(1)
        assert ref.done()
        with pytest.raises(ActorDiedError, match="event loop is closed"):
            ref.result()


def _returned_promptly(submit: Any) -> Any:
    """``submit()``, run in a thread that must not wait for any event loop."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(submit()), daemon=True)
    thread.start()
    thread.join(timeout=2)
    assert out, "the call waited for the event loop"
    return out[0]


async def _handle_outliving_its_system(**options: Any) -> Any:
    async with ActorSystem():
        return await Box.options(**options).remote()


def _unpack(ref: Any) -> None:
    _a, _b = ref


_MISUSES = {
    "ref + 1": lambda r: r + 1,
    "1 - ref": lambda r: 1 - r,
    "ref * 2": lambda r: r * 2,
    "ref / 2": lambda r: r / 2,
    "ref % 2": lambda r: r % 2,
    "ref ** 2": lambda r: r**2,
    "ref & 1": lambda r: r & 1,
    "1 | ref": lambda r: 1 | r,
    "ref += 1": lambda r: operator.iadd(r, 1),
    "ref < 1": lambda r: r < 1,
    "ref >= 1": lambda r: r >= 1,
    "-ref": lambda r: -r,
    "~ref": lambda r: ~r,
    "abs(ref)": abs,
    "int(ref)": int,
    "float(ref)": float,
    "round(ref)": round,
    "range(ref)": range,
    "ref[0]": lambda r: r[0],
    "list(ref)": list,
    "for x in ref": lambda r: [x for x in r],
    "1 in ref": lambda r: 1 in r,
    "a, b = ref": _unpack,
}


@pytest.mark.parametrize("misuse", list(_MISUSES))
async def test_using_a_ref_as_its_value_says_to_await_it(misuse: str) -> None:
    """Arithmetic, comparison, conversion, indexing or iteration of a ref raises a
    TypeError naming ObjectRef (never the internal Call) and saying to await it."""
    async with ActorSystem():
        ref = Box.remote().combine.remote(1, 2)
        with pytest.raises(TypeError) as e:
            _MISUSES[misuse](ref)
        assert "ObjectRef" in str(e.value)
        assert "await ref" in str(e.value)
        assert "Call" not in str(e.value)
        assert await ref == 3


async def test_other_mistakes_with_a_ref_name_objectref_not_the_internal_type() -> None:
    """What Python itself reports about a ref (a call, a missing attribute, len()) names
    ObjectRef, as does the repr, which also says which call it is."""
    async with ActorSystem():
        ref: Any = Box.remote().combine.remote(1, 2)
        described = r": call combine\(\) on actor Box\(id=\d+\)>"
        assert re.fullmatch("<ObjectRef pending" + described, repr(ref))
        for mistake in (lambda: ref(), lambda: ref.value, lambda: len(ref)):
            with pytest.raises((TypeError, AttributeError)) as e:
                mistake()
            assert "ObjectRef" in str(e.value)
            assert "Call" not in str(e.value)
        await ref
        assert re.fullmatch("<ObjectRef done" + described, repr(ref))
        assert repr(asyncactors.put(1)) == "<ObjectRef done>"


def test_an_unawaited_failure_reaches_stderr_when_the_program_configures_no_logging() -> None:
    """With logging left unconfigured, the error for a failure nobody awaited is printed
    on stderr (logging's last resort, as for asyncio's own errors), not dropped."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import asyncio, gc
        import asyncactors

        @asyncactors.remote
        class A:
            def boom(self):
                raise ValueError("kaboom")

            def ok(self):
                return 1

        async def main():
            async with asyncactors.ActorSystem():
                a = A.remote()
                ref = a.boom.remote()
                await a.ok.remote()  # calls run in order: boom has failed by now
                del ref
                gc.collect()

        asyncio.run(main())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "nobody awaited it" in proc.stderr
    assert "ValueError: kaboom" in proc.stderr
