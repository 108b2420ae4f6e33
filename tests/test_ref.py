"""ObjectRef: awaiting, cancelling, blocking from threads, dataflow, unretrieved failures."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from typing import Any

import pytest

import asyncactors
from asyncactors import ActorSystem, GetTimeoutError, TaskCancelledError


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
