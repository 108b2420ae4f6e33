"""Generator methods stream their items: ``StreamRef``, backpressure, closing, failures."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import asyncactors
from asyncactors import (
    ActorDiedError,
    DeadlockError,
    MailboxFullError,
    PendingCallsLimitExceeded,
    StreamRef,
    Supervisor,
    TaskCancelledError,
)


class Boom(Exception):
    pass


@asyncactors.remote(max_concurrency=1)
class Source:
    """Generators of every kind, recording what they produced and whether they closed."""

    def __init__(self) -> None:
        self.produced = 0
        self.closed = 0
        self.log: list[str] = []
        self.threads: set[int] = set()
        self.gate = asyncio.Event()

    async def agen(self, n: int) -> AsyncIterator[int]:
        try:
            for i in range(n):
                self.produced += 1
                yield i
        finally:
            self.closed += 1

    def sgen(self, n: int) -> Iterator[int]:
        try:
            for i in range(n):
                self.threads.add(threading.get_ident())
                self.produced += 1
                yield i
        finally:
            self.closed += 1

    @asyncactors.method(run_in_thread=True)
    def tgen(self, n: int) -> Iterator[int]:
        try:
            for i in range(n):
                self.threads.add(threading.get_ident())
                self.produced += 1
                yield i
        finally:
            self.threads.add(threading.get_ident())
            self.closed += 1

    @asyncactors.method(stream_buffer=3)
    async def small(self, n: int) -> AsyncIterator[int]:
        try:
            for i in range(n):
                self.produced += 1
                yield i
        finally:
            self.closed += 1

    async def then_fail(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i
        raise Boom(f"after {n}")

    def sync_then_fail(self, n: int) -> Iterator[int]:
        yield from range(n)
        raise Boom(f"after {n}")

    async def blocked(self) -> AsyncIterator[int]:
        """Yields one item, then waits for the gate inside its body."""
        try:
            yield 0
            await self.gate.wait()
            yield 1
        finally:
            self.closed += 1

    def open_gate(self) -> None:
        self.gate.set()

    def note(self, what: str) -> None:
        self.log.append(what)

    async def noted(self, what: str) -> AsyncIterator[str]:
        self.log.append(what)
        yield what

    def get_log(self) -> list[str]:
        return self.log

    def stats(self) -> tuple[int, int]:
        return self.produced, self.closed

    def thread_ids(self) -> set[int]:
        return self.threads


async def until(predicate: Any, what: str = "condition") -> None:
    """Yield to the loop until ``predicate()`` holds (bounded)."""
    for _ in range(2000):
        if await predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"{what} never held")


async def closed(source: Any, n: int = 1) -> None:
    async def check() -> bool:
        return (await source.stats.remote())[1] >= n

    await until(check, f"{n} generator(s) closed")


# -- items ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["agen", "sgen", "tgen"])
async def test_async_for_gets_every_item_in_order(method: str) -> None:
    """async for over a stream of each kind of generator gets its items once, in order."""
    async with asyncactors.ActorSystem():
        s = Source.remote()
        stream = getattr(s, method).remote(40)
        assert isinstance(stream, StreamRef)
        assert [x async for x in stream] == list(range(40))
        assert await s.stats.remote() == (40, 1)


@pytest.mark.parametrize("method", ["agen", "sgen", "tgen"])
async def test_awaiting_a_stream_gives_the_list_of_its_items(method: str) -> None:
    """await stream collects the items not consumed yet into a list."""
    async with asyncactors.ActorSystem():
        s = Source.remote()
        stream = getattr(s, method).remote(30)
        assert await anext(stream) == 0
        assert await stream == list(range(1, 30))
        assert await stream == []


_STREAM_MISUSES = {
    "stream + 1": lambda s: s + 1,
    "stream < 1": lambda s: s < 1,
    "int(stream)": int,
    "stream[0]": lambda s: s[0],
    "1 in stream": lambda s: 1 in s,
    "for x in stream": lambda s: [x for x in s],
}


@pytest.mark.parametrize("misuse", list(_STREAM_MISUSES))
async def test_using_a_stream_as_its_items_says_to_async_for_or_await_it(misuse: str) -> None:
    """Arithmetic, comparison, conversion, indexing, 'in' or iteration of a StreamRef
    raises a TypeError naming StreamRef and saying to use async for or await."""
    async with asyncactors.ActorSystem():
        stream = Source.remote().agen.remote(3)
        with pytest.raises(TypeError, match="StreamRef") as e:
            _STREAM_MISUSES[misuse](stream)
        assert "'async for item in stream'" in str(e.value)
        assert "'await stream'" in str(e.value)
        assert await stream == [0, 1, 2]


async def test_sync_generators_run_on_the_loop_thread_and_run_in_thread_ones_do_not() -> None:
    """A sync generator is stepped inline on the loop; run_in_thread=True steps it in threads."""
    async with asyncactors.ActorSystem():
        on_loop, in_thread = Source.remote(), Source.remote()
        assert await on_loop.sgen.remote(3) == [0, 1, 2]
        assert await on_loop.thread_ids.remote() == {threading.get_ident()}
        assert await in_thread.tgen.remote(3) == [0, 1, 2]
        assert threading.get_ident() not in await in_thread.thread_ids.remote()


async def test_a_stream_keeps_its_place_in_the_callers_order() -> None:
    """A stream call runs in mailbox order between the caller's other calls."""
    async with asyncactors.ActorSystem():
        s = Source.options(max_concurrency=1).remote()
        s.note.remote("a")
        stream = s.noted.remote("b")
        s.note.remote("c")
        assert await stream == ["b"]
        assert await s.get_log.remote() == ["a", "b", "c"]


# -- backpressure -----------------------------------------------------------------------


@pytest.mark.parametrize(("method", "buffer"), [("agen", 16), ("sgen", 16), ("small", 3)])
async def test_an_unconsumed_stream_parks_after_stream_buffer_items(
    method: str, buffer: int
) -> None:
    """Nobody consumes: the generator produces stream_buffer items, then waits at its yield."""
    async with asyncactors.ActorSystem():
        s = Source.options(max_concurrency=2).remote()
        stream = getattr(s, method).remote(1000)

        async def parked() -> bool:
            return (await s.stats.remote())[0] >= buffer

        await until(parked, "the buffer filled")
        for _ in range(20):
            await asyncio.sleep(0)
        assert await s.stats.remote() == (buffer, 0)
        await stream.aclose()


async def test_each_item_consumed_lets_the_generator_produce_one_more() -> None:
    """With a full buffer, taking one item makes room for exactly one more."""
    async with asyncactors.ActorSystem():
        s = Source.options(max_concurrency=2).remote()
        stream = s.small.remote(100)

        async def produced(n: int) -> None:
            async def check() -> bool:
                return (await s.stats.remote())[0] == n

            await until(check, f"{n} produced")

        await produced(3)
        for taken in range(1, 5):
            assert await anext(stream) == taken - 1
            await produced(3 + taken)
        await stream.aclose()


async def test_the_stream_buffer_option_can_be_set_per_call() -> None:
    """.options(stream_buffer=N) changes how far one stream runs ahead."""
    async with asyncactors.ActorSystem():
        s = Source.options(max_concurrency=2).remote()
        stream = s.agen.options(stream_buffer=5).remote(100)

        async def parked() -> bool:
            return (await s.stats.remote())[0] >= 5

        await until(parked, "the buffer filled")
        for _ in range(20):
            await asyncio.sleep(0)
        assert (await s.stats.remote())[0] == 5
        assert await anext(stream) == 0
        await stream.aclose()


async def test_a_parked_stream_holds_its_concurrency_slot_until_closed() -> None:
    """At max_concurrency=1 a parked stream keeps the next call waiting; aclose() frees it."""
    async with asyncactors.ActorSystem():
        s = Source.options(max_concurrency=1).remote()
        stream = s.sgen.remote(1000)
        behind = s.stats.remote()
        for _ in range(20):
            await asyncio.sleep(0)
        assert not behind.done()
        await stream.aclose()
        assert await behind == (16, 1)


# -- closing ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["agen", "sgen", "tgen"])
async def test_aclose_runs_the_generators_finally_and_ends_iteration(method: str) -> None:
    """await aclose() returns once the generator's finally ran; iterating afterwards ends."""
    async with asyncactors.ActorSystem():
        s = Source.options(max_concurrency=2).remote()
        stream = getattr(s, method).remote(1000)
        assert await anext(stream) == 0
        await stream.aclose()
        assert (await s.stats.remote())[1] == 1
        assert [x async for x in stream] == []
        await stream.aclose()  # idempotent


async def test_aclose_interrupts_a_generator_waiting_inside_its_body() -> None:
    """aclose() cancels a generator blocked on an await of its own; its finally runs."""
    async with asyncactors.ActorSystem():
        s = Source.remote()
        stream = s.blocked.remote()
        assert await anext(stream) == 0
        await stream.aclose()
        assert await s.stats.remote() == (0, 1)


async def test_cancel_drops_the_rest_and_the_next_item_raises_task_cancelled_error() -> None:
    """cancel() closes the generator; the consumer then gets TaskCancelledError."""
    async with asyncactors.ActorSystem():
        s = Source.options(max_concurrency=2).remote()
        stream = s.agen.remote(1000)
        assert await anext(stream) == 0
        assert stream.cancel() is True
        with pytest.raises(TaskCancelledError, match=r"agen\(\)"):
            await anext(stream)
        await closed(s)
        assert stream.cancel() is False


async def test_cancelling_a_queued_stream_means_its_generator_never_starts() -> None:
    """A stream cancelled while queued behind another call never runs."""
    async with asyncactors.ActorSystem():
        s = Source.remote()
        first = s.sgen.remote(1000)
        second = s.sgen.remote(5)
        assert await anext(first) == 0
        second.cancel()
        await first.aclose()
        with pytest.raises(TaskCancelledError):
            await second
        assert await s.stats.remote() == (16, 1)


async def test_cancelling_the_consuming_task_closes_the_generator() -> None:
    """A task cancelled while waiting for the next item closes the stream."""
    async with asyncactors.ActorSystem():
        s = Source.remote()
        stream = s.blocked.remote()
        got: list[int] = []

        async def consume() -> None:
            async for item in stream:
                got.append(item)

        task = asyncio.create_task(consume())

        async def first_item() -> bool:
            await asyncio.sleep(0)
            return got == [0]

        await until(first_item, "the first item")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await closed(s)
        with pytest.raises(TaskCancelledError):
            await anext(stream)


async def test_dropping_the_last_reference_closes_the_generator() -> None:
    """A stream garbage-collected while open closes its generator and frees the slot."""
    async with asyncactors.ActorSystem():
        s = Source.remote()
        stream = s.sgen.remote(1000)
        assert await anext(stream) == 0
        del stream
        gc.collect()
        assert await s.stats.remote() == (17, 1)


async def test_break_then_aclosing_or_drop_frees_the_slot() -> None:
    """Leaving async for with break frees the slot once the stream is closed (aclosing)."""
    async with asyncactors.ActorSystem():
        s = Source.remote()
        async with contextlib.aclosing(s.sgen.remote(1000)) as stream:
            async for x in stream:
                if x == 2:
                    break
        assert (await s.stats.remote())[1] == 1
        async for x in s.sgen.remote(1000):
            if x == 2:
                break
        gc.collect()
        assert (await s.stats.remote())[1] == 2


async def test_a_finally_that_raises_reaches_aclose() -> None:
    """What the generator's finally raises while closing is raised by aclose()."""

    @asyncactors.remote
    class Leaky:
        async def items(self) -> AsyncIterator[int]:
            try:
                for i in range(100):
                    yield i
            finally:
                raise Boom("in finally")

    async with asyncactors.ActorSystem():
        stream = Leaky.remote().items.remote()
        assert await anext(stream) == 0
        with pytest.raises(Boom, match="in finally"):
            await stream.aclose()


async def test_a_finally_that_raises_after_a_drop_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nobody awaits the close of a dropped stream: what its finally raised is logged."""

    @asyncactors.remote
    class Leaky:
        def items(self) -> Iterator[int]:
            try:
                yield from range(100)
            finally:
                raise Boom("in finally")

    async with asyncactors.ActorSystem():
        leaky = Leaky.remote()
        stream = leaky.items.remote()
        assert await anext(stream) == 0
        with caplog.at_level(logging.ERROR, logger="asyncactors"):
            del stream
            gc.collect()
            await asyncio.sleep(0.01)
        (record,) = [r for r in caplog.records if "closing the generator raised" in r.message]
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], Boom)


async def test_a_second_concurrent_consumer_is_refused() -> None:
    """Two tasks waiting for the same stream's next item: the second gets RuntimeError."""
    async with asyncactors.ActorSystem():
        s = Source.options(max_concurrency=2).remote()
        stream = s.blocked.remote()
        assert await anext(stream) == 0
        first = asyncio.create_task(anext(stream))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="one consumer at a time"):
            await anext(stream)
        await s.open_gate.remote()
        assert await first == 1
        assert [x async for x in stream] == []


# -- failures ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["then_fail", "sync_then_fail"])
async def test_an_exception_in_the_generator_comes_after_the_items_before_it(
    method: str,
) -> None:
    """The consumer gets every item produced before the exception, then the exception."""
    async with asyncactors.ActorSystem():
        s = Source.remote()
        got, error = await _drain_to_error(getattr(s, method).remote(5))
        assert got == [0, 1, 2, 3, 4]
        assert isinstance(error, Boom)
        assert str(error) == "after 5"
        with pytest.raises(Boom):
            await getattr(s, method).remote(2)
        assert await s.stats.remote() == (0, 0)  # the actor serves on


async def test_a_failed_stream_nobody_consumed_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A stream whose generator raised and which nobody read to the end is logged when dropped."""
    async with asyncactors.ActorSystem():
        s = Source.remote()
        stream = s.then_fail.remote(0)
        await s.stats.remote()
        with caplog.at_level(logging.ERROR, logger="asyncactors"):
            del stream
            gc.collect()
        assert any(
            "then_fail()" in r.message and "nobody awaited" in r.message for r in caplog.records
        )


async def test_a_failure_after_the_consumer_closed_the_stream_is_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """aclose() gives the rest up, a failure the consumer never read included: no log."""
    async with asyncactors.ActorSystem():
        s = Source.remote()
        stream = s.then_fail.remote(3)
        assert await anext(stream) == 0
        await s.stats.remote()  # the generator has failed by now, after 3 items
        with caplog.at_level(logging.ERROR, logger="asyncactors"):
            await stream.aclose()
            del stream
            gc.collect()
        assert not [r for r in caplog.records if "nobody awaited" in r.message]


async def test_a_crash_ends_an_open_stream_with_actor_died_error_after_its_items() -> None:
    """A restart_on crash elsewhere ends the running stream: its items, then ActorDiedError."""
    closings: list[int] = []

    @asyncactors.remote(max_restarts=1, restart_on=(Boom,), max_concurrency=4)
    class Crashy:
        async def items(self) -> AsyncIterator[int]:
            try:
                for i in range(1000):
                    yield i
            finally:
                closings.append(1)

        async def crash(self) -> None:
            raise Boom("down")

    async with asyncactors.ActorSystem():
        c = Crashy.remote()
        stream = c.items.remote()
        assert await anext(stream) == 0
        with pytest.raises(Boom):
            await c.crash.remote()
        got = [x async for x in _until_error(stream, ActorDiedError)]
        assert 15 <= len(got) <= 16
        assert got == list(range(1, len(got) + 1))
        assert closings == [1]
        assert await c.items.remote() == list(range(1000))  # the new incarnation streams


async def _is(value: bool) -> bool:
    await asyncio.sleep(0)
    return value


async def _until_error(stream: StreamRef[Any], error: type[BaseException]) -> AsyncIterator[Any]:
    """The stream's items, checking that it ends with ``error``."""
    got, exc = await _drain_to_error(stream)
    assert isinstance(exc, error), exc
    for x in got:
        yield x


async def test_a_stream_is_not_retried_even_with_max_task_retries() -> None:
    """A crash during a stream fails it, whatever max_task_retries says: items are not repeated."""

    @asyncactors.remote(max_restarts=-1, max_task_retries=-1, restart_on=(Boom,))
    class Crashy:
        async def items(self) -> AsyncIterator[int]:
            yield 0
            raise Boom("crash")

    async with asyncactors.ActorSystem():
        c = Crashy.remote()
        got = [x async for x in _until_error(c.items.remote(), Boom)]
        assert got == [0]


async def test_a_queued_stream_survives_a_restart_and_runs_after_it() -> None:
    """A stream still queued when the actor crashes runs in the next incarnation."""

    @asyncactors.remote(max_restarts=1, restart_on=(Boom,))
    class Crashy:
        def crash(self) -> None:
            raise Boom("down")

        def items(self) -> Iterator[int]:
            yield from range(3)

    async with asyncactors.ActorSystem():
        c = Crashy.remote()
        crash = c.crash.remote()
        stream = c.items.remote()
        with pytest.raises(Boom):
            await crash
        assert await stream == [0, 1, 2]


async def test_kill_ends_an_open_stream_and_fails_queued_ones() -> None:
    """kill(): the running stream's consumer gets ActorDiedError, as does a queued stream's."""
    async with asyncactors.ActorSystem():
        s = Source.remote()
        running = s.sgen.remote(1000)
        queued = s.sgen.remote(3)
        assert await anext(running) == 0
        asyncactors.kill(s)
        assert len([x async for x in _until_error(running, ActorDiedError)]) == 15
        with pytest.raises(ActorDiedError):
            await queued


async def test_exit_actor_in_a_generator_ends_the_stream_and_the_actor() -> None:
    """exit_actor() inside a generator: the consumer gets its items, then ActorDiedError."""

    @asyncactors.remote
    class Quitter:
        def items(self) -> Iterator[int]:
            yield 1
            asyncactors.exit_actor()

    async with asyncactors.ActorSystem():
        q = Quitter.remote()
        assert [x async for x in _until_error(q.items.remote(), ActorDiedError)] == [1]
        await q.monitor()


async def test_shutdown_ends_an_open_stream_with_actor_died_error_and_does_not_hang() -> None:
    """A parked stream does not hold up shutdown (no timeout): its consumer gets ActorDiedError."""
    system = asyncactors.ActorSystem()
    async with system:
        s = Source.remote()
        running = s.sgen.remote(10**9)
        queued = s.sgen.remote(3)
        assert await anext(running) == 0
        consumer = asyncio.create_task(_drain_to_error(running))
        await asyncio.sleep(0.01)
    got, error = await consumer
    assert got == list(range(1, len(got) + 1))
    assert isinstance(error, ActorDiedError)
    assert "shut down" in str(error)
    with pytest.raises(ActorDiedError, match="shut down"):
        await queued


async def _drain_to_error(stream: StreamRef[Any]) -> tuple[list[Any], BaseException | None]:
    got = []
    try:
        async for x in stream:
            got.append(x)
            await asyncio.sleep(0)
    except BaseException as exc:
        return got, exc
    return got, None


async def test_a_supervisors_stop_ends_an_open_stream() -> None:
    """Supervisor.stop() does not wait for a parked stream: it ends it with ActorDiedError."""
    async with asyncactors.ActorSystem():
        sup = Supervisor("one_for_one")
        s = Source.options(supervisor=sup).remote()
        stream = s.sgen.remote(1000)
        assert await anext(stream) == 0
        await sup.stop()
        assert len([x async for x in _until_error(stream, ActorDiedError)]) == 15


async def test_a_graceful_stop_lets_a_consumed_stream_finish() -> None:
    """asyncactors.stop() waits for a running stream as for any call; it ends normally."""
    async with asyncactors.ActorSystem():
        s = Source.remote()
        stream = s.sgen.remote(100)
        stopping = asyncactors.stop(s)
        assert await stream == list(range(100))
        await stopping


# -- the mailbox, pending calls, threads, deadlocks -------------------------------------


async def test_submit_nowait_refuses_a_stream_when_the_mailbox_is_full() -> None:
    """Streams count against the mailbox bound like calls; submit() waits for room."""
    async with asyncactors.ActorSystem():
        s = Source.options(mailbox_size=1).remote()
        first = s.sgen.remote(1000)
        await asyncio.sleep(0.01)  # running, out of the mailbox
        queued = s.sgen.submit_nowait(2)
        assert isinstance(queued, StreamRef)
        with pytest.raises(MailboxFullError):
            s.sgen.submit_nowait(2)
        waiting = asyncio.create_task(s.sgen.submit(3))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        await first.aclose()
        assert await queued == [0, 1]
        assert await (await waiting) == [0, 1, 2]


async def test_a_stream_counts_as_pending_until_its_generator_ends() -> None:
    """max_pending_calls counts an open stream; its end gives the place back."""
    async with asyncactors.ActorSystem():
        s = Source.options(max_pending_calls=1).remote()
        await s
        stream = s.sgen.remote(1000)
        with pytest.raises(PendingCallsLimitExceeded):
            s.stats.remote()
        assert await anext(stream) == 0
        await stream.aclose()
        assert await s.stats.remote() == (16, 1)


async def test_a_stream_can_be_consumed_from_another_thread_and_loop() -> None:
    """async for and await on a stream work from a thread running its own loop."""
    async with asyncactors.ActorSystem():
        s = Source.remote()
        stream = s.agen.remote(50)

        async def consume() -> tuple[list[int], list[int]]:
            first = [await anext(stream) for _ in range(10)]
            return first, await stream

        first, rest = await asyncio.to_thread(asyncio.run, consume())
        assert first + rest == list(range(50))
        other = s.agen.remote(5)
        await asyncio.to_thread(asyncio.run, other.aclose())
        await closed(s, 2)


async def test_consuming_its_own_queued_stream_raises_deadlock_error() -> None:
    """A method that waits for a stream of its own actor, queued behind itself, deadlocks."""

    @asyncactors.remote(max_concurrency=1)
    class Self:
        async def outer(self) -> list[int]:
            me = asyncactors.get_runtime_context().current_actor
            return await me.inner.remote()

        async def inner(self) -> AsyncIterator[int]:
            yield 1

    async with asyncactors.ActorSystem():
        with pytest.raises(
            DeadlockError, match=r"outer\(\) waits for .*inner\(\), which is queued"
        ):
            await Self.remote().outer.remote()


async def test_a_thread_generator_closes_after_a_step_that_was_running() -> None:
    """aclose() during a blocking step waits for it, then closes the generator in a thread."""
    release = threading.Event()

    @asyncactors.remote
    class Slow:
        def __init__(self) -> None:
            self.finally_thread: int | None = None

        @asyncactors.method(run_in_thread=True)
        def items(self) -> Iterator[int]:
            try:
                yield 0
                release.wait(5)
                yield 1
            finally:
                self.finally_thread = threading.get_ident()

        def where(self) -> int | None:
            return self.finally_thread

    async with asyncactors.ActorSystem():
        slow = Slow.remote()
        stream = slow.items.remote()
        assert await anext(stream) == 0
        await asyncio.sleep(0.01)  # the second step blocks in its thread
        closing = asyncio.create_task(stream.aclose())
        await asyncio.sleep(0.01)
        assert not closing.done()
        release.set()
        await closing
        where = await slow.where.remote()
        assert where is not None
        assert where != threading.get_ident()


async def test_the_runtime_context_knows_the_actor_inside_each_kind_of_generator() -> None:
    """get_runtime_context() inside a generator names its actor, in threads too."""

    @asyncactors.remote
    class Ctx:
        async def a(self) -> AsyncIterator[Any]:
            yield asyncactors.get_runtime_context().get_actor_id()

        def s(self) -> Iterator[Any]:
            yield asyncactors.get_runtime_context().get_actor_id()

        @asyncactors.method(run_in_thread=True)
        def t(self) -> Iterator[Any]:
            ctx = asyncactors.get_runtime_context()
            yield ctx.get_actor_id(), ctx.is_canceled()

    async with asyncactors.ActorSystem():
        c = Ctx.remote()
        me = await c.a.remote()
        assert await c.s.remote() == me
        assert await c.t.remote() == [(me[0], False)]


async def test_an_async_generator_method_makes_an_async_actor() -> None:
    """As an async def does, an async generator makes the default max_concurrency 1000."""

    @asyncactors.remote
    class A:
        async def items(self) -> AsyncIterator[int]:
            yield 1

    @asyncactors.remote
    class S:
        def items(self) -> Iterator[int]:
            yield 1

    async with asyncactors.ActorSystem():
        assert await A.remote().items.remote() == await S.remote().items.remote() == [1]
    assert A._config.max_concurrency == 1000
    assert S._config.max_concurrency == 1


async def test_repr_names_the_call_and_what_it_buffers() -> None:
    """repr(stream) names the call, its state and how many items wait."""
    async with asyncactors.ActorSystem():
        s = Source.options(max_concurrency=2).remote()
        stream = s.small.remote(10)
        await until(lambda: _is_produced(s, 3), "parked")
        assert re.match(
            r"<StreamRef open: call small\(\) on actor Source\(id=\d+\), 3 buffered>", repr(stream)
        )
        await stream.aclose()


async def _is_produced(s: Any, n: int) -> bool:
    return (await s.stats.remote())[0] >= n


def test_a_stream_is_not_a_sync_iterable() -> None:
    """for x in stream raises TypeError saying to use async for."""
    stream = StreamRef.__new__(StreamRef)
    with pytest.raises(TypeError, match="async for"):
        iter(stream)


# -- options ----------------------------------------------------------------------------


class Plain:
    def value(self) -> int:
        return 1

    def items(self) -> Iterator[int]:
        yield 1


@pytest.mark.parametrize(
    ("target", "options", "needle"),
    [
        (Plain.value, {"stream_buffer": 4}, "'stream_buffer' is for generator methods"),
        (Plain.value, {"num_returns": "streaming"}, "num_returns='streaming' is for generator"),
        (Plain.items, {"num_returns": 2}, "can only be 'streaming'"),
        (Plain.items, {"max_task_retries": 1}, "streams are never retried"),
        (Plain.items, {"retry_exceptions": True}, "streams are never retried"),
    ],
)
def test_options_that_do_not_fit_the_kind_of_method_are_refused(
    target: Any, options: dict[str, Any], needle: str
) -> None:
    """@asyncactors.method refuses stream options on methods and call options on streams."""
    with pytest.raises(ValueError, match=re.escape(needle)) as e:
        asyncactors.method(**options)(target)
    assert target.__qualname__ in str(e.value)


@pytest.mark.parametrize(
    ("options", "error", "needle"),
    [
        ({"stream_buffer": 0}, ValueError, "'stream_buffer' must be >= 1"),
        ({"stream_buffer": "4"}, TypeError, "'stream_buffer' must be an int"),
        ({"num_returns": 0}, ValueError, "'num_returns' must be >= 1"),
        ({"num_returns": 1.5}, TypeError, "'num_returns' must be an int"),
        ({"num_returns": "dynamic"}, ValueError, "cannot be 'dynamic'"),
        ({"num_returns": "many"}, ValueError, "must be an int >= 1 or 'streaming'"),
    ],
)
def test_bad_stream_buffer_and_num_returns_values_are_refused(
    options: dict[str, Any], error: type[Exception], needle: str
) -> None:
    """stream_buffer and num_returns are checked at declaration, naming the option."""
    with pytest.raises(error, match=re.escape(needle)):
        asyncactors.method(**options)


async def test_call_options_that_do_not_fit_a_stream_are_refused() -> None:
    """.options() on a stream method refuses retries and num_returns; on a method, stream_buffer."""
    async with asyncactors.ActorSystem():
        s = Source.remote()
        with pytest.raises(ValueError, match="never retried"):
            s.sgen.options(max_task_retries=2)
        with pytest.raises(ValueError, match="can only be 'streaming'"):
            s.sgen.options(num_returns=2)
        with pytest.raises(ValueError, match="'stream_buffer' is for generator methods"):
            s.stats.options(stream_buffer=2)
        with pytest.raises(ValueError, match="'stream_buffer' must be >= 1"):
            s.sgen.options(stream_buffer=0)
        assert await s.sgen.options(num_returns="streaming", stream_buffer=1).remote(2) == [0, 1]


async def test_stream_buffer_none_per_call_keeps_the_methods_own() -> None:
    """.options(stream_buffer=None) leaves the method's declared stream_buffer in force."""
    async with asyncactors.ActorSystem():
        s = Source.options(max_concurrency=2).remote()
        stream = s.small.options(stream_buffer=None).remote(100)
        await until(lambda: _is_produced(s, 3), "parked")
        for _ in range(20):
            await asyncio.sleep(0)
        assert await s.stats.remote() == (3, 0)
        assert await anext(stream) == 0
        await stream.aclose()
