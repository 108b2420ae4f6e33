"""``@asyncactors.batch``: one item per call in, one result out, the method sees lists."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import asyncactors
from asyncactors import (
    ActorDiedError,
    ActorState,
    DeadlockError,
    MailboxFullError,
    ObjectRef,
    TaskCancelledError,
    get_runtime_context,
)
from asyncactors._backends._local import call as engine
from asyncactors._ref import ACCELERATED, OK

from ._loop import pending_timers

# Long enough that a test finishing in time shows no batch waited for it.
NEVER = 60.0


@asyncactors.remote
class Doubler:
    """Records each batch it gets; doubles every item."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    @asyncactors.batch(max_batch_size=3, batch_wait_timeout_s=NEVER)
    async def double(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        return [2 * i for i in items]

    @asyncactors.batch(max_batch_size=4, batch_wait_timeout_s=0)
    def sync_double(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        return [2 * i for i in items]

    def seen(self) -> list[list[Any]]:
        return self.batches

    def set_size(self, n: int) -> None:
        self.double.set_max_batch_size(n)

    def set_wait(self, s: float) -> None:
        self.double.set_batch_wait_timeout_s(s)

    def restarts(self) -> int:
        return get_runtime_context().restart_count


async def _eventually(check: Any, expected: Any) -> None:
    """Await ``check()`` until it returns ``expected``, giving the loop a turn each time."""
    for _ in range(100):
        got = await check()
        if got == expected:
            return
        await asyncio.sleep(0)
    assert got == expected


async def _settled(refs: list[Any]) -> list[Any]:
    """Each ref's value, or its exception."""
    return list(await asyncio.gather(*(r.future() for r in refs), return_exceptions=True))


# -- declaring -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_batch_size": 0}, ValueError, "option 'max_batch_size' must be an int >= 1, got 0"),
        ({"max_batch_size": 2.5}, TypeError, "'max_batch_size' must be an int >= 1, got 2.5"),
        ({"max_batch_size": True}, TypeError, "'max_batch_size' must be an int >= 1, got True"),
        (
            {"batch_wait_timeout_s": -0.1},
            ValueError,
            "'batch_wait_timeout_s' must be a finite number of seconds >= 0, got -0.1",
        ),
        (
            {"batch_wait_timeout_s": float("inf")},
            ValueError,
            "'batch_wait_timeout_s' must be a finite number of seconds >= 0, got inf",
        ),
        (
            {"batch_wait_timeout_s": "1"},
            TypeError,
            "'batch_wait_timeout_s' must be a finite number of seconds >= 0, got '1'",
        ),
    ],
)
def test_limits_out_of_range_are_refused_naming_the_valid_range(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Bad limits raise at the decorator, naming the option and its valid range."""
    with pytest.raises(error, match=message):
        asyncactors.batch(**kwargs)


@pytest.mark.parametrize(
    "source",
    [
        "def f(self): ...",
        "def f(self, a, b): ...",
        "def f(self, *items): ...",
        "def f(self, items=()): ...",
        "def f(self, *, items): ...",
        "async def f(self, items, **kw): ...",
    ],
)
def test_only_one_list_parameter_after_self_is_accepted(source: str) -> None:
    """A batched method takes exactly one required positional parameter after self."""
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(TypeError, match=r"must take exactly one parameter after self"):
        asyncactors.batch(namespace["f"])


def test_decorating_something_else_than_a_function_is_refused() -> None:
    """@batch on a staticmethod or on @method says to put @method above @batch."""
    with pytest.raises(TypeError, match=r"put @asyncactors.method\(...\) above @asyncactors.batch"):
        asyncactors.batch(staticmethod(lambda items: items))  # type: ignore[arg-type]


def test_generator_functions_are_refused_by_batch() -> None:
    """@batch refuses a generator or async generator function at once: a batch returns one
    list of results, and generator methods stream instead."""

    async def agen(self: Any, items: list[int]) -> Any:
        yield items

    def gen(self: Any, items: list[int]) -> Any:
        yield items

    for func in (agen, gen):
        with pytest.raises(TypeError, match=rf"{func.__name__} is a generator function"):
            asyncactors.batch(func)
        with pytest.raises(TypeError, match=rf"{func.__name__} is a generator function"):
            asyncactors.batch(max_batch_size=2)(func)


def test_method_options_above_batch_name_a_group_the_actor_must_define() -> None:
    """@method(concurrency_group=...) above @batch is checked against the actor's groups."""

    class Grouped:
        @asyncactors.method(concurrency_group="gpu")
        @asyncactors.batch
        def f(self, items: list[int]) -> list[int]:
            return items

    with pytest.raises(ValueError, match=r"Grouped\.f uses concurrency group 'gpu'"):
        asyncactors.remote(Grouped)
    asyncactors.remote(concurrency_groups={"gpu": 1})(Grouped)


def test_run_in_thread_on_an_async_batched_method_is_refused() -> None:
    """@method(run_in_thread=True) above an async @batch is refused, as for any async method."""
    with pytest.raises(TypeError, match="run_in_thread=True is for blocking sync methods"):

        class Threaded:
            @asyncactors.method(run_in_thread=True)
            @asyncactors.batch
            async def f(self, items: list[int]) -> list[int]:
                return items


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_returns": 2}, r"Wide\.f is a batched method: .* 'num_returns' can only be 1, got 2"),
        (
            {"num_returns": "streaming"},
            r"Wide\.f is a batched method: .* 'num_returns' can only be 1, got 'streaming'",
        ),
        ({"stream_buffer": 4}, r"Wide\.f is a batched method, not a generator method"),
    ],
)
def test_num_returns_and_stream_buffer_above_batch_are_refused(
    options: dict[str, Any], message: str
) -> None:
    """@method(num_returns=N > 1, or stream_buffer=...) above @batch is refused at once:
    each item gets one result, and a batch is no stream."""
    with pytest.raises(ValueError, match=message):

        class Wide:
            @asyncactors.method(**options)
            @asyncactors.batch
            def f(self, items: list[int]) -> list[int]:
                return items


async def test_num_returns_1_above_batch_keeps_one_result_per_item() -> None:
    """@method(num_returns=1) above @batch is accepted: each call still gets its one ref."""

    @asyncactors.remote
    class Single:
        @asyncactors.method(num_returns=1)
        @asyncactors.batch(max_batch_size=2)
        def f(self, items: list[int]) -> list[int]:
            return [i + 1 for i in items]

    async with asyncio.timeout(5), asyncactors.ActorSystem():
        s = Single.remote()
        refs = [s.f.remote(1), s.f.remote(2)]
        assert all(isinstance(r, asyncactors.ObjectRef) for r in refs)
        assert await asyncactors.get(refs) == [2, 3]


async def test_the_call_site_checks_one_item() -> None:
    """handle.m.remote() takes exactly one item; options() is refused for a batched method."""
    async with asyncactors.ActorSystem():
        d = Doubler.remote()
        one_item = r"Doubler.double\(\) is a batched method: .remote\(\) takes one item, "
        with pytest.raises(TypeError, match=one_item + r".*Doubler.double\(items\): too many"):
            d.double.remote(1, 2)
        with pytest.raises(TypeError, match=one_item + r".*Doubler.double\(items\)"):
            d.double.remote()
        with pytest.raises(TypeError, match=r"double\(\) is a batched method: its calls take no"):
            d.double.options(max_task_retries=1)
        assert await d.sync_double.remote(items=4) == 8


async def test_help_on_a_batched_methods_remote_says_what_it_sends_and_raises() -> None:
    """help(handle.m.remote) of a batched method (the engine's item sender) documents
    sending one item and what it raises; its repr names the method and the actor."""
    import pydoc

    async with asyncactors.ActorSystem():
        d = Doubler.remote()
        text = pydoc.render_doc(d.double.remote, renderer=pydoc.plaintext)
        assert "Send one item to the batched method" in text
        assert "TypeError: not exactly one item" in text
        assert "PendingCallsLimitExceeded" in text
        assert "Doubler.double()" in repr(d.double.remote)


# -- batching ------------------------------------------------------------------------


async def test_a_full_batch_runs_at_once_and_each_caller_gets_its_result() -> None:
    """Items flush at max_batch_size without waiting for the timeout; results go back in order."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        d = Doubler.remote()
        refs = [d.double.remote(i) for i in range(7)]
        assert await asyncactors.get(refs[:6]) == [0, 2, 4, 6, 8, 10]
        assert await d.seen.remote() == [[0, 1, 2], [3, 4, 5]]
        assert not refs[6].done()  # alone, waiting for more
        await d.set_size.remote(1)
        assert await refs[6] == 12


async def test_a_batch_that_is_not_full_runs_once_its_oldest_item_has_waited() -> None:
    """A partial batch runs after batch_wait_timeout_s from its first item, not before."""

    @asyncactors.remote
    class Slow:
        @asyncactors.batch(max_batch_size=100, batch_wait_timeout_s=0.02)
        def f(self, items: list[int]) -> list[tuple[int, int]]:
            return [(i, len(items)) for i in items]

    async with asyncactors.ActorSystem():
        s = Slow.remote()
        await s
        loop = asyncio.get_running_loop()
        start = loop.time()
        first = s.f.remote(1)
        await asyncio.sleep(0)
        second = s.f.remote(2)
        assert await first == (1, 2)
        assert loop.time() - start >= 0.019
        assert await second == (2, 2)


async def test_a_partial_batch_after_a_full_one_waits_its_whole_timeout() -> None:
    """A batch that follows a full one runs batch_wait_timeout_s after its own first
    item, not on the full batch's timer."""

    @asyncactors.remote
    class Pairs:
        @asyncactors.batch(max_batch_size=2, batch_wait_timeout_s=0.05)
        def f(self, items: list[int]) -> list[tuple[int, int]]:
            return [(i, len(items)) for i in items]

    async with asyncactors.ActorSystem():
        p = Pairs.remote()
        await p
        loop = asyncio.get_running_loop()
        # Full at once: the wait it started (due in 0.05 s) must not flush the next one.
        assert await asyncactors.get([p.f.remote(1), p.f.remote(2)]) == [(1, 2), (2, 2)]
        await asyncio.sleep(0.03)
        start = loop.time()
        assert await p.f.remote(3) == (3, 1)
        assert loop.time() - start >= 0.049


async def test_a_stop_iteration_among_a_batchs_results_fails_its_item_with_runtime_error() -> None:
    """A StopIteration returned as one item's result fails that item with RuntimeError
    from it (a coroutine would take it for a return); the other items get theirs."""

    @asyncactors.remote
    class Halts:
        @asyncactors.batch(max_batch_size=2, batch_wait_timeout_s=1.0)
        def f(self, items: list[int]) -> list[object]:
            return [StopIteration(i) if i == 1 else i for i in items]

    async with asyncio.timeout(5), asyncactors.ActorSystem():
        h = Halts.remote()
        first, second = h.f.remote(0), h.f.remote(1)
        assert await first == 0
        with pytest.raises(RuntimeError, match="StopIteration") as info:
            await second
        assert isinstance(info.value.__cause__, StopIteration)
        with pytest.raises(RuntimeError, match="StopIteration"):
            await second.future()


async def test_a_zero_timeout_batches_what_arrived_in_the_same_loop_iteration() -> None:
    """batch_wait_timeout_s=0: the items submitted together run together."""
    async with asyncactors.ActorSystem():
        d = Doubler.remote()
        assert await asyncactors.get([d.sync_double.remote(i) for i in range(6)]) == [
            0,
            2,
            4,
            6,
            8,
            10,
        ]
        assert await d.sync_double.remote(7) == 14
        assert await d.seen.remote() == [[0, 1, 2, 3], [4, 5], [7]]


async def test_each_actor_instance_has_its_own_queue() -> None:
    """Items sent to two actors of one class never share a batch."""
    async with asyncactors.ActorSystem():
        a, b = Doubler.remote(), Doubler.remote()
        refs = [h.double.remote(i) for i in range(3) for h in (a, b)]
        assert await asyncactors.get(refs) == [0, 0, 2, 2, 4, 4]
        assert await a.seen.remote() == [[0, 1, 2]]
        assert await b.seen.remote() == [[0, 1, 2]]


async def test_ref_arguments_are_resolved_before_an_item_joins_its_batch() -> None:
    """An item given as a ref is the ref's value in the batch."""
    async with asyncactors.ActorSystem():
        d = Doubler.remote()
        refs = [d.double.remote(asyncactors.put(1)), d.double.remote(2), d.double.remote(3)]
        assert await asyncactors.get(refs) == [2, 4, 6]


async def test_a_ref_item_after_plain_items_is_resolved_too() -> None:
    """An item given as a ref after plain ones (sent on the short path) is still its
    ref's value in the batch, in its place."""
    async with asyncactors.ActorSystem():
        d = Doubler.remote()
        assert await asyncactors.get([d.double.remote(i) for i in (1, 2, 3)]) == [2, 4, 6]
        refs = [d.double.remote(4), d.double.remote(asyncactors.put(5)), d.double.remote(6)]
        assert await asyncactors.get(refs) == [8, 10, 12]
        # Two refs in a row: the second is resolved too (no ref type is taken as plain).
        refs = [d.double.remote(asyncactors.put(i)) for i in (7, 8)] + [d.double.remote(9)]
        assert await asyncactors.get(refs) == [14, 16, 18]
        assert await d.seen.remote() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


async def test_items_sent_from_another_thread_join_the_same_batch() -> None:
    """Items sent from a thread without a loop are batched with the loop's own."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        d = Doubler.remote()
        mine = d.double.remote(1)
        theirs = await asyncio.to_thread(lambda: [d.double.remote(2), d.double.remote(3)])
        assert await asyncactors.get([mine, *theirs]) == [2, 4, 6]
        assert await d.seen.remote() == [[1, 2, 3]]


async def test_items_sent_through_two_handles_of_one_actor_join_one_batch() -> None:
    """Each handle's batched method sends to its own actor: items of two handles of one
    actor (one got by name) share a batch, and another actor's stay apart."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        d = Doubler.options(name="d").remote()
        other = Doubler.remote()
        again = asyncactors.get_actor("d")
        refs = [d.double.remote(1), other.double.remote(9), again.double.remote(2)]
        refs.append(d.double.remote(3))
        assert await asyncactors.get([refs[0], refs[2], refs[3]]) == [2, 4, 6]
        assert await d.seen.remote() == [[1, 2, 3]]
        assert not refs[1].done()
        refs[1].cancel()


async def test_items_sent_to_a_stopped_actor_are_refused() -> None:
    """An item sent once the actor is stopped fails with ActorDiedError, as a call does."""
    async with asyncactors.ActorSystem():
        d = Doubler.remote()
        assert await d.sync_double.remote(1) == 2
        await asyncactors.stop(d)
        with pytest.raises(ActorDiedError, match=r"was stopped by asyncactors\.stop"):
            await d.sync_double.remote(2)


async def test_calling_the_method_in_the_actor_runs_it_directly_with_a_list() -> None:
    """self.m(items) in the actor's own code calls the function, unbatched."""

    @asyncactors.remote
    class Direct:
        @asyncactors.batch(max_batch_size=5, batch_wait_timeout_s=NEVER)
        async def f(self, items: list[int]) -> list[int]:
            return [i + 1 for i in items]

        async def g(self) -> list[int]:
            return await self.f([1, 2])

    async with asyncactors.ActorSystem():
        assert await Direct.remote().g.remote() == [2, 3]
    assert repr(Direct.__wrapped__.f).startswith("<asyncactors.batch ")


# -- results and failures ------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "error", "message"),
    [
        ([1], ValueError, r"Bad.f\(\) is a batched method: it returned 1 results for a batch of 2"),
        ({1: 1, 2: 2}, TypeError, r"it must return a list with one result per item \(2\).*dict"),
        ("ab", TypeError, r"it returned str"),
        (None, TypeError, r"it returned NoneType"),
    ],
)
async def test_a_result_that_is_not_one_per_item_fails_the_whole_batch(
    result: Any, error: type[Exception], message: str
) -> None:
    """Anything but one result per item fails every call of the batch with a clear error."""

    @asyncactors.remote
    class Bad:
        @asyncactors.batch(max_batch_size=2, batch_wait_timeout_s=NEVER)
        def f(self, items: list[int]) -> Any:
            return result

    async with asyncactors.ActorSystem() as system:
        b = Bad.remote()
        outcomes = await _settled([b.f.remote(1), b.f.remote(2)])
        assert [type(o) for o in outcomes] == [error, error]
        assert outcomes[0] is outcomes[1]
        with pytest.raises(error, match=message):
            raise outcomes[0]
        (info,) = system.list_actors()
        assert (info.calls_processed, info.calls_failed) == (2, 2)


async def test_a_tuple_or_other_sized_iterable_of_results_is_accepted() -> None:
    """Results may be any sized iterable in order (a tuple, an array), not only a list."""

    @asyncactors.remote
    class Tupled:
        @asyncactors.batch(max_batch_size=2, batch_wait_timeout_s=NEVER)
        def f(self, items: list[int]) -> Any:
            return tuple(i * 3 for i in items)

    async with asyncactors.ActorSystem():
        t = Tupled.remote()
        assert await asyncactors.get([t.f.remote(1), t.f.remote(2)]) == [3, 6]


async def test_an_exception_raised_fails_every_item_of_its_batch_only() -> None:
    """The method's exception is every item's of that batch; the next batch runs normally."""

    @asyncactors.remote
    class Flaky:
        @asyncactors.batch(max_batch_size=2, batch_wait_timeout_s=NEVER)
        async def f(self, items: list[int]) -> list[int]:
            if 0 in items:
                raise KeyError("zero")
            return items

    async with asyncactors.ActorSystem() as system:
        fl = Flaky.remote()
        outcomes = await _settled([fl.f.remote(i) for i in range(4)])
        assert [type(o) for o in outcomes[:2]] == [KeyError, KeyError]
        assert outcomes[2:] == [2, 3]
        (info,) = system.list_actors()
        assert (info.calls_processed, info.calls_failed) == (4, 2)


async def test_an_exception_object_in_the_results_fails_that_item_alone() -> None:
    """A per-item exception fails only that caller; the others get their results."""

    @asyncactors.remote
    class Picky:
        @asyncactors.batch(max_batch_size=3, batch_wait_timeout_s=NEVER)
        def f(self, items: list[int]) -> list[int | Exception]:
            return [ValueError(f"odd {i}") if i % 2 else i for i in items]

    async with asyncactors.ActorSystem() as system:
        p = Picky.remote()
        outcomes = await _settled([p.f.remote(i) for i in range(3)])
        assert outcomes[::2] == [0, 2]
        assert isinstance(outcomes[1], ValueError)
        assert str(outcomes[1]) == "odd 1"
        (info,) = system.list_actors()
        assert (info.calls_processed, info.calls_failed) == (3, 1)


async def test_a_sync_batched_method_can_run_in_a_thread() -> None:
    """@method(run_in_thread=True) above @batch runs each batch in a worker thread."""

    @asyncactors.remote
    class Blocking:
        @asyncactors.method(run_in_thread=True)
        @asyncactors.batch(max_batch_size=2, batch_wait_timeout_s=NEVER)
        def f(self, items: list[int]) -> list[bool]:
            return [threading.current_thread() is not threading.main_thread()] * len(items)

    async with asyncactors.ActorSystem():
        b = Blocking.remote()
        assert await asyncactors.get([b.f.remote(1), b.f.remote(2)]) == [True, True]


# -- concurrency and the mailbox -------------------------------------------------------


async def test_items_waiting_for_a_batch_hold_no_slot() -> None:
    """With max_concurrency=1, the same caller's later unbatched calls run while items wait."""
    async with asyncio.timeout(5), asyncactors.ActorSystem() as system:
        d = Doubler.remote()
        waiting = [d.double.remote(1), d.double.remote(2)]
        assert await d.seen.remote() == []
        (info,) = system.list_actors()
        assert (info.running, info.mailbox_depth) == (0, 2)
        assert not any(r.done() for r in waiting)
        await d.set_size.remote(2)
        assert await asyncactors.get(waiting) == [2, 4]


async def test_batches_run_within_the_methods_concurrency_group() -> None:
    """A group of one slot runs one batch at a time; other groups' calls run meanwhile."""

    @asyncactors.remote(concurrency_groups={"gpu": 1})
    class Gpu:
        def __init__(self) -> None:
            self.running = 0
            self.peak = 0
            self.release = asyncio.Event()

        @asyncactors.method(concurrency_group="gpu")
        @asyncactors.batch(max_batch_size=2, batch_wait_timeout_s=NEVER)
        async def infer(self, items: list[int]) -> list[int]:
            self.running += 1
            self.peak = max(self.peak, self.running)
            await self.release.wait()
            self.running -= 1
            return items

        async def status(self) -> tuple[int, int]:
            return self.running, self.peak

        async def go(self) -> None:
            self.release.set()

    async with asyncio.timeout(5), asyncactors.ActorSystem() as system:
        g = Gpu.remote()
        refs = [g.infer.remote(i) for i in range(6)]
        await _eventually(g.status.remote, (1, 1))
        (info,) = system.list_actors()
        # Three batches: one running, two queued for the group's slot, one place each.
        assert (info.running, info.mailbox_depth) == (1, 2)
        await g.go.remote()
        assert await asyncactors.get(refs) == list(range(6))
        assert await g.status.remote() == (0, 1)


async def test_items_count_against_the_mailbox_size() -> None:
    """Each waiting item takes a place; a flushed batch frees all but one."""

    @asyncactors.remote(mailbox_size=3)
    class Small:
        def __init__(self) -> None:
            self.batches: list[list[int]] = []

        @asyncactors.batch(max_batch_size=4, batch_wait_timeout_s=0.005)
        async def f(self, items: list[int]) -> list[int]:
            self.batches.append(items)
            return items

        def seen(self) -> list[list[int]]:
            return self.batches

    async with asyncio.timeout(5), asyncactors.ActorSystem() as system:
        s = Small.remote()
        await s
        first = [s.f.remote(1), s.f.remote(2), s.f.submit_nowait(3)]
        with pytest.raises(MailboxFullError):
            s.f.submit_nowait(4)
        assert system.list_actors()[0].mailbox_depth == 3
        late = [s.f.remote(i) for i in (4, 5, 6)]  # wait for room, in order
        assert await asyncactors.get([*first, *late]) == [1, 2, 3, 4, 5, 6]
        # The flushed batch's place let two in, and its start the third.
        assert await s.seen.remote() == [[1, 2, 3], [4, 5, 6]]
        assert system.list_actors()[0].peak_depth == 3


async def test_max_pending_calls_counts_each_item() -> None:
    """max_pending_calls caps items, and each resolved item gives its place back."""

    @asyncactors.remote(max_pending_calls=2)
    class Capped:
        @asyncactors.batch(max_batch_size=2, batch_wait_timeout_s=NEVER)
        def f(self, items: list[int]) -> list[int]:
            return items

    async with asyncactors.ActorSystem():
        c = Capped.remote()
        refs = [c.f.remote(1), c.f.remote(2)]
        with pytest.raises(asyncactors.PendingCallsLimitExceeded):
            c.f.remote(3)
        assert await asyncactors.get(refs) == [1, 2]
        assert await asyncactors.get([c.f.remote(3), c.f.remote(4)]) == [3, 4]


# -- with streams ---------------------------------------------------------------------


@asyncactors.remote
class Streamer:
    """A generator method and a batched method on one actor."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    @asyncactors.batch(max_batch_size=3, batch_wait_timeout_s=NEVER)
    async def double(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        return [2 * i for i in items]

    async def seen(self) -> list[list[int]]:
        return self.batches


async def test_an_actor_streams_and_batches_side_by_side() -> None:
    """A generator method streams while a batched method of the same actor batches: an open
    stream holds one slot, and the batch runs beside it."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        s = Streamer.remote()
        stream = s.count.remote(10**9)
        assert isinstance(stream, asyncactors.StreamRef)
        assert await anext(stream) == 0
        refs = [s.double.remote(i) for i in range(3)]
        assert await asyncactors.get(refs) == [0, 2, 4]
        assert [await anext(stream) for _ in range(3)] == [1, 2, 3]
        assert await s.seen.remote() == [[0, 1, 2]]
        await stream.aclose()
        assert await s.count.remote(3) == [0, 1, 2]


async def test_shutdown_ends_open_streams_and_runs_waiting_items() -> None:
    """A shutdown ends an open stream with ActorDiedError and still runs the items waiting
    for a batch, at once."""
    system = asyncactors.ActorSystem()
    async with asyncio.timeout(5):
        async with system:
            s = Streamer.remote()
            stream = s.count.remote(10**9)
            assert await anext(stream) == 0
            waiting = [s.double.remote(1), s.double.remote(2)]
            await asyncio.sleep(0)
        with pytest.raises(ActorDiedError, match="shut down"):
            async for _ in stream:
                pass
        assert await asyncactors.get(waiting) == [2, 4]


# -- changing the limits --------------------------------------------------------------


async def test_the_limits_change_at_run_time_from_inside_the_actor() -> None:
    """set_max_batch_size flushes a batch it makes full; set_batch_wait_timeout_s the next."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        d = Doubler.remote()
        waiting = [d.double.remote(i) for i in range(2)]
        await d.set_size.remote(2)
        assert await asyncactors.get(waiting) == [0, 2]
        await d.set_wait.remote(0)
        assert await d.double.remote(5) == 10
        assert await d.seen.remote() == [[0, 1], [5]]


async def test_limits_set_by_an_instance_do_not_outlive_it() -> None:
    """After a restart the new instance batches with the declared limits again."""

    @asyncactors.remote(max_restarts=1)
    class Restarted:
        def __init__(self) -> None:
            self.sizes: list[int] = []

        @asyncactors.batch(max_batch_size=2, batch_wait_timeout_s=NEVER)
        def f(self, items: list[int]) -> list[int]:
            self.sizes.append(len(items))
            return items

        def small(self) -> None:
            self.f.set_max_batch_size(1)

        def sizes_seen(self) -> list[int]:
            return self.sizes

    async with asyncio.timeout(5), asyncactors.ActorSystem():
        r = Restarted.remote()
        await r.small.remote()
        assert await r.f.remote(1) == 1
        asyncactors.kill(r, no_restart=False)
        refs = [r.f.remote(2), r.f.remote(3)]
        assert await asyncactors.get(refs) == [2, 3]
        assert await r.sizes_seen.remote() == [2]


async def test_limits_set_in_init_and_from_a_thread_apply() -> None:
    """The setters work in __init__ and in a run_in_thread method."""

    @asyncactors.remote
    class Tuned:
        def __init__(self) -> None:
            self.f.set_max_batch_size(2)
            self.f.set_batch_wait_timeout_s(NEVER)
            self.sizes: list[int] = []

        @asyncactors.batch(max_batch_size=100, batch_wait_timeout_s=0)
        def f(self, items: list[int]) -> list[int]:
            self.sizes.append(len(items))
            return items

        @asyncactors.method(run_in_thread=True)
        def tune(self, n: int) -> None:
            self.f.set_max_batch_size(n)

        def sizes_seen(self) -> list[int]:
            return self.sizes

    async with asyncio.timeout(5), asyncactors.ActorSystem():
        t = await Tuned.remote()  # __init__ sets the limits before any item arrives
        assert await asyncactors.get([t.f.remote(i) for i in range(4)]) == [0, 1, 2, 3]
        waiting = t.f.remote(4)
        await t.tune.remote(1)
        assert await waiting == 4
        assert await t.sizes_seen.remote() == [2, 2, 1]


async def test_setters_outside_the_actor_or_with_bad_values_are_refused() -> None:
    """The setters need the actor's own code and valid limits."""

    class Plain:
        @asyncactors.batch
        def f(self, items: list[int]) -> list[int]:
            return items

    @asyncactors.remote
    class Other:
        def poke(self, bound: Any) -> None:
            bound.set_max_batch_size(2)

    bound = Plain().f
    assert bound([1]) == [1]
    with pytest.raises(RuntimeError, match=r"Plain.f.set_max_batch_size\(\) .* not outside any"):
        bound.set_max_batch_size(2)
    with pytest.raises(ValueError, match="'max_batch_size' must be an int >= 1"):
        bound.set_max_batch_size(0)
    with pytest.raises(TypeError, match="'batch_wait_timeout_s' must be a finite number"):
        bound.set_batch_wait_timeout_s(None)  # type: ignore[arg-type]
    async with asyncactors.ActorSystem():
        with pytest.raises(RuntimeError, match="not in a Other actor"):
            await Other.remote().poke.remote(bound)


async def test_setters_through_a_handle_are_refused_with_a_clear_error() -> None:
    """``handle.method.set_max_batch_size()`` (and the wait's setter) raise RuntimeError
    saying to call them in the actor's own code, as the README says."""
    async with asyncactors.ActorSystem():
        d = Doubler.remote()
        with pytest.raises(
            RuntimeError,
            match=r"Doubler.double.set_max_batch_size\(\) .*"
            r"self.double.set_max_batch_size\(...\) .* not through a handle",
        ):
            d.double.set_max_batch_size(2)
        with pytest.raises(RuntimeError, match=r"set_batch_wait_timeout_s\(\) changes how"):
            d.double.set_batch_wait_timeout_s(0.1)
        assert await asyncactors.get([d.double.remote(i) for i in (1, 2, 3)]) == [2, 4, 6]


# -- cancellation -------------------------------------------------------------------


async def test_a_cancelled_item_leaves_its_batch_before_it_starts() -> None:
    """A cancelled item, waiting or in a flushed batch not yet started, never reaches the method."""

    @asyncactors.remote(max_concurrency=1)
    class Busy:
        def __init__(self) -> None:
            self.batches: list[list[int]] = []

        @asyncactors.batch(max_batch_size=3, batch_wait_timeout_s=NEVER)
        async def f(self, items: list[int]) -> list[int]:
            self.batches.append(list(items))
            return items

        async def hold(self, release: asyncio.Event) -> None:
            await release.wait()

        def seen(self) -> list[list[int]]:
            return self.batches

    async with asyncio.timeout(5), asyncactors.ActorSystem() as system:
        b = Busy.remote()
        first = [b.f.remote(0), b.f.remote(1)]
        assert first[0].cancel()  # still waiting for its batch
        release = asyncio.Event()
        holding = b.hold.remote(release)
        second = [b.f.remote(10), b.f.remote(11)]  # fills [1, 10, 11]
        third = [b.f.remote(i) for i in (20, 21, 22)]
        for _ in range(2):
            await asyncio.sleep(0)
        # Two flushed batches wait for the slot that hold() has: one place each.
        assert system.list_actors()[0].mailbox_depth == 2
        assert second[0].cancel()
        assert all(r.cancel() for r in third)
        assert system.list_actors()[0].mailbox_depth == 1  # the emptied batch is gone
        release.set()
        await holding
        assert await asyncactors.get([first[1], second[1]]) == [1, 11]
        assert await b.seen.remote() == [[1, 11]]
        for ref in (first[0], second[0], *third):
            with pytest.raises(TaskCancelledError):
                await ref


async def test_cancelling_an_item_of_a_running_batch_drops_only_its_result() -> None:
    """Once its batch runs, a cancelled item's caller gets TaskCancelledError; the rest finish."""

    @asyncactors.remote
    class Running:
        @asyncactors.batch(max_batch_size=2, batch_wait_timeout_s=NEVER)
        async def f(self, items: list[Any]) -> list[int]:
            await items[0].wait()
            return [1, 2]

    async with asyncio.timeout(5), asyncactors.ActorSystem():
        r = Running.remote()
        release = asyncio.Event()
        refs = [r.f.remote(release), r.f.remote(None)]
        for _ in range(3):
            await asyncio.sleep(0)
        assert refs[1].cancel()
        release.set()
        assert await refs[0] == 1
        with pytest.raises(TaskCancelledError):
            await refs[1]


@asyncactors.remote
class Gated:
    """A batch of two waits for the event its first item carries; records batch starts."""

    def __init__(self, started: list[int]) -> None:
        self.started = started

    @asyncactors.batch(max_batch_size=2, batch_wait_timeout_s=NEVER)
    async def f(self, items: list[Any]) -> list[int]:
        self.started.append(len(items))
        if isinstance(items[0], asyncio.Event):
            await items[0].wait()
        return [10, 20]


async def test_a_cancelled_awaiter_of_one_item_leaves_the_batch_its_other_results() -> None:
    """A task awaiting an item is cancelled while the batch runs: the item and the others
    of its batch still get their results (the dropped waiter is skipped)."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        g = await _gated([])
        release = asyncio.Event()
        refs = [g.f.remote(release), g.f.remote(None)]
        waiting = asyncio.ensure_future(_await(refs[0]))
        for _ in range(3):
            await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        assert await refs[1] == 20
        assert await refs[0] == 10


async def test_an_item_awaited_by_two_tasks_gives_each_its_result() -> None:
    """Two tasks await one item of a running batch, one task another: each gets its result."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        g = await _gated([])
        release = asyncio.Event()
        refs = [g.f.remote(release), g.f.remote(None)]
        awaiting = asyncio.gather(_await(refs[0]), _await(refs[0]), _await(refs[1]))
        for _ in range(3):
            await asyncio.sleep(0)
        release.set()
        assert await awaiting == [10, 10, 20]


async def test_a_full_batch_of_an_async_method_starts_in_the_next_loop_iteration() -> None:
    """The item that fills a batch starts its worker at once: no drain callback in between."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        started: list[int] = []
        g = await _gated(started)
        for _ in range(3):
            await asyncio.sleep(0)  # the worker that ran it lingers, then exits
        refs = [g.f.remote(1), g.f.remote(2)]
        await asyncio.sleep(0)
        assert started == [2, 2]
        assert await asyncactors.get(refs) == [10, 20]


async def test_items_sent_and_awaited_on_the_loop_thread_never_ask_for_the_running_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On the loop's own thread an item's .remote() and await take the loop as the running
    one without asking (asyncio._get_running_loop() is a getpid() system call in 3.11)."""
    from asyncactors import _ref
    from asyncactors._backends._local import base, batch, call, dispatch

    asked: list[str] = []
    real = asyncio._get_running_loop

    def running() -> asyncio.AbstractEventLoop | None:
        asked.append("_get_running_loop()")
        return real()

    async with asyncio.timeout(5), asyncactors.ActorSystem():
        g = await _gated([])
        for module in (_ref, base, batch, call, dispatch):
            monkeypatch.setattr(module, "_get_running_loop", running)
        for _ in range(3):
            assert await asyncactors.get([g.f.remote(1), g.f.remote(2)]) == [10, 20]
        assert asked == []


def test_an_item_awaited_on_its_loops_thread_while_another_loop_runs_there_waits() -> None:
    """With the system's loop stopped and another loop running on its thread, awaiting a
    pending item takes the path of a foreign loop (it waits), not a future of the stopped
    loop, which the running one could not await; the item resolves once its loop runs."""
    home = asyncio.new_event_loop()
    other = asyncio.new_event_loop()
    system = asyncactors.ActorSystem()

    async def start() -> tuple[Any, Any]:
        await system.__aenter__()
        d = Doubler.remote()
        return d, d.double.remote(1)

    async def timed_out(ref: Any) -> bool:
        try:
            await asyncio.wait_for(_await(ref), 0.01)
        except TimeoutError:
            return True
        return False

    async def finish(d: Any, item: Any) -> Any:
        d.double.remote(2)
        d.double.remote(3)  # a full batch of three
        value = await item
        await system.__aexit__(None, None, None)
        return value

    try:
        d, item = home.run_until_complete(start())
        assert not item.done()
        assert other.run_until_complete(timed_out(item))
        assert home.run_until_complete(finish(d, item)) == 2
    finally:
        home.close()
        other.close()


async def test_an_item_awaited_in_another_threads_loop_gets_its_result() -> None:
    """A loop of another thread awaits an item of the system's loop: it gets its value."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        d = Doubler.remote()
        item = d.double.remote(5)
        there = asyncio.ensure_future(asyncio.to_thread(asyncio.run, _await(item)))
        while item._waiters is None:  # until the thread's loop waits for it
            await asyncio.sleep(0.001)
        assert not there.done()
        assert await asyncactors.get([d.double.remote(6), d.double.remote(7)]) == [12, 14]
        assert await there == 10


async def test_results_of_changing_types_and_exceptions_each_reach_their_item() -> None:
    """A batch's results of several types, exceptions among them, each settle their own
    item: a value whose type was seen before is a value, an exception fails its item."""

    @asyncactors.remote
    class Mixed:
        @asyncactors.batch(max_batch_size=9, batch_wait_timeout_s=NEVER)
        def f(self, items: list[int]) -> list[Any]:
            return [1, "a", ValueError("v"), ValueError("w"), 2, KeyError("k"), "b", ValueError, 3]

    async with asyncio.timeout(5), asyncactors.ActorSystem():
        m = Mixed.remote()
        outcomes = await _settled([m.f.remote(i) for i in range(9)])
        failed = (2, 3, 5)
        values = [o for i, o in enumerate(outcomes) if i not in failed]
        assert values == [1, "a", 2, "b", ValueError, 3]
        # Two exceptions of one type in a row each fail their item.
        assert [type(outcomes[i]) for i in failed] == [ValueError, ValueError, KeyError]
        assert [str(outcomes[i]) for i in failed] == ["v", "w", "'k'"]


async def test_a_held_remote_of_a_batched_method_keeps_its_actor_alive() -> None:
    """``send = handle.method.remote`` kept after the handle is dropped keeps the actor
    alive, as a plain method's ``remote`` does."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        send = Doubler.remote().sync_double.remote
        plain = Doubler.remote().seen.remote
        assert await send(1) == 2
        gc.collect()
        assert await send(2) == 4
        assert await plain() == []


@pytest.mark.parametrize("last", ["handle", "method", "remote"])
async def test_a_batched_actor_stops_once_its_last_holder_is_dropped(last: str) -> None:
    """The handle, its batched method and a held ``method.remote`` each keep the actor
    alive; it stops once the last of them is dropped, whichever that is."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        holders: dict[str, Any] = {"handle": Doubler.remote()}
        holders["method"] = holders["handle"].sync_double
        holders["remote"] = holders["method"].remote
        assert await holders["remote"](1) == 2
        core = holders["handle"]._core
        kept = holders.pop(last)
        holders.clear()
        gc.collect()
        await asyncio.sleep(0.01)
        assert core.state is ActorState.ALIVE
        del kept
        await core.stopped()


async def _gated(started: list[int]) -> Any:
    """A ``Gated`` actor that has run a batch (its items take the short path from now on)."""
    g = Gated.remote(started)
    assert await asyncactors.get([g.f.remote(0), g.f.remote(0)]) == [10, 20]
    return g


async def _await(ref: asyncactors.ObjectRef[Any]) -> Any:
    return await ref


# -- restarts, stops and deaths -------------------------------------------------------


class Boom(Exception):
    """Crashes the actor (a restart_on exception)."""


@asyncactors.remote(restart_on=(Boom,), max_restarts=2)
class Crashy:
    def __init__(self) -> None:
        self.batches: list[tuple[int, list[int]]] = []

    @asyncactors.batch(max_batch_size=3, batch_wait_timeout_s=NEVER)
    async def f(self, items: list[int]) -> list[int]:
        self.batches.append((get_runtime_context().restart_count, list(items)))
        if -1 in items:
            raise Boom
        return items

    def crash(self) -> None:
        raise Boom

    def seen(self) -> list[tuple[int, list[int]]]:
        return self.batches

    def restarts(self) -> int:
        return get_runtime_context().restart_count


async def test_items_waiting_when_the_actor_restarts_run_on_the_next_incarnation() -> None:
    """A crash keeps the items waiting for a batch, as it keeps the mailbox."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        c = Crashy.remote()
        waiting = [c.f.remote(1), c.f.remote(2)]
        with pytest.raises(Boom):
            await c.crash.remote()
        assert await asyncactors.get([*waiting, c.f.remote(3)]) == [1, 2, 3]
        assert await c.seen.remote() == [(1, [1, 2, 3])]


async def test_a_batch_that_crashes_the_actor_fails_or_reruns_as_a_call_does() -> None:
    """The running batch of a crash fails every item, or reruns whole within max_task_retries."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        c = Crashy.remote()
        outcomes = await _settled([c.f.remote(i) for i in (-1, 1, 2)])
        assert [type(o) for o in outcomes] == [Boom, Boom, Boom]
        assert await c.restarts.remote() == 1
        retried = Crashy.options(max_task_retries=1).remote()
        outcomes = await _settled([retried.f.remote(i) for i in (-1, 1, 2)])
        assert [type(o) for o in outcomes] == [Boom, Boom, Boom]
        assert await retried.restarts.remote() == 2  # it ran, crashed, reran and crashed again


async def test_a_batch_is_checkpointed_before_its_callers_hear_of_it() -> None:
    """With checkpoint_every=1, a batch's items resolve once the state after it is saved,
    and a restart resumes from there."""

    @asyncactors.remote(
        checkpoint_store=asyncactors.MemoryStore(),
        checkpoint_every=1,
        restart_on=(Boom,),
        max_restarts=1,
    )
    class Ledger:
        def __init__(self) -> None:
            self.total = 0

        @asyncactors.batch(max_batch_size=3, batch_wait_timeout_s=NEVER)
        def add(self, amounts: list[int]) -> list[int]:
            self.total += sum(amounts)
            return [self.total] * len(amounts)

        def crash(self) -> None:
            raise Boom

        def read(self) -> int:
            return self.total

    async with asyncio.timeout(5), asyncactors.ActorSystem():
        ledger = Ledger.remote()
        assert await asyncactors.get([ledger.add.remote(i) for i in (1, 2, 3)]) == [6, 6, 6]
        with pytest.raises(Boom):
            await ledger.crash.remote()
        assert await ledger.read.remote() == 6


async def test_kill_fails_waiting_items_and_leaves_no_timer() -> None:
    """Killing the actor fails the items waiting for a batch with ActorDiedError; their
    timer is cancelled."""
    async with asyncactors.ActorSystem():
        d = Doubler.remote()
        await d
        waiting = [d.double.remote(1), d.double.remote(2)]
        loop = asyncio.get_running_loop()
        assert _timers(loop) == 1
        asyncactors.kill(d)
        outcomes = await _settled(waiting)
        assert [type(o) for o in outcomes] == [ActorDiedError, ActorDiedError]
        assert "was killed" in str(outcomes[0])
        assert _timers(loop) == 0


def _timers(loop: asyncio.AbstractEventLoop) -> int:
    """Timers pending on ``loop``, but the watchdog's."""
    return len(pending_timers(loop))


async def test_shutdown_runs_waiting_items_at_once() -> None:
    """A graceful shutdown flushes the batches waiting, without waiting for their timeout."""
    system = asyncactors.ActorSystem()
    async with asyncio.timeout(5):
        async with system:
            d = Doubler.remote()
            waiting = [d.double.remote(1), d.double.remote(2)]
            await asyncio.sleep(0)
        assert await asyncactors.get(waiting) == [2, 4]
    assert _timers(asyncio.get_running_loop()) == 0


async def test_last_handle_released_runs_waiting_items_then_stops() -> None:
    """An actor whose handles are gone runs the items waiting for a batch, then stops."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        d = Doubler.remote()
        waiting = [d.double.remote(1), d.double.remote(2)]
        del d
        assert await asyncactors.get(waiting) == [2, 4]


async def test_a_shutdown_that_times_out_fails_items_with_actor_died() -> None:
    """Items still waiting when a shutdown's timeout expires fail with ActorDiedError."""

    @asyncactors.remote(max_concurrency=1)
    class Stuck:
        async def hold(self) -> None:
            await asyncio.Event().wait()

        @asyncactors.batch(max_batch_size=1)
        async def f(self, items: list[int]) -> list[int]:
            return items

    system = asyncactors.ActorSystem()
    async with system:
        s = Stuck.remote()
        s.hold.remote()
        waiting = s.f.remote(1)  # its batch queues behind hold()
        await asyncio.sleep(0)
        await system.shutdown(timeout=0.01)
    with pytest.raises(ActorDiedError, match="shutdown timeout"):
        await waiting


async def test_stop_fails_items_still_waiting_for_a_batch() -> None:
    """asyncactors.stop() fails the items waiting for a batch, as calls queued elsewhere."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        d = Doubler.remote()
        waiting = d.double.remote(1)
        await asyncactors.stop(d)
        with pytest.raises(ActorDiedError, match=r"stopped by asyncactors.stop\(\) before"):
            await waiting


async def test_a_wait_for_an_item_of_an_idle_actor_is_no_deadlock() -> None:
    """Waiting for an item of a busy actor's batch that can still run is not a deadlock."""

    @asyncactors.remote
    class Busy:
        @asyncactors.batch(max_batch_size=2, batch_wait_timeout_s=0.001)
        async def f(self, items: list[int]) -> list[int]:
            return items

        async def hold(self, release: asyncio.Event) -> None:
            await release.wait()

    @asyncactors.remote
    class Caller:
        async def call(self, target: Any) -> int:
            result: int = await target.f.remote(5)
            return result

    async with asyncio.timeout(5), asyncactors.ActorSystem():
        b = Busy.remote()
        release = asyncio.Event()
        holding = b.hold.remote(release)
        assert await Caller.remote().call.remote(b) == 5
        release.set()
        await holding


async def test_waiting_for_its_own_batched_item_without_a_free_slot_is_a_deadlock() -> None:
    """A method holding the only slot that awaits an item of its own actor raises DeadlockError."""

    @asyncactors.remote(max_concurrency=1)
    class Selfish:
        @asyncactors.batch(max_batch_size=1)
        async def f(self, items: list[int]) -> list[int]:
            return items

        async def g(self) -> int:
            me = get_runtime_context().current_actor
            result: int = await me.f.remote(1)
            return result

    async with asyncio.timeout(5), asyncactors.ActorSystem():
        with pytest.raises(DeadlockError, match=r"Selfish\(id=\d+\).g\(\) waits for"):
            await Selfish.remote().g.remote()


async def test_leak_reports_name_items_waiting_for_a_batch() -> None:
    """leftovers() names a batched method whose items still wait."""
    async with asyncactors.ActorSystem() as system:
        d = Doubler.remote()
        d.double.remote(1)
        await asyncio.sleep(0)
        (core,) = system._actors.values()  # type: ignore[attr-defined]
        assert core.leftovers().endswith(": 1 pending call: double()")


# -- properties ------------------------------------------------------------------------

Item = tuple[int, int]  # (caller, its sequence number)


def _recorder(is_async: bool, max_batch_size: int, wait_s: float) -> type:
    """A class whose batched method records each batch as it starts."""

    class Recorder:
        def __init__(self) -> None:
            self.batches: list[list[Item]] = []

        def seen(self) -> list[list[Item]]:
            return self.batches

        def plain(self, x: int) -> int:
            return x

    def results(items: list[Item]) -> list[Any]:
        # Every seventh item fails alone, by an exception object in the results.
        return [ValueError(item) if item[1] % 7 == 6 else item for item in items]

    async def run_async(self: Recorder, items: list[Item]) -> list[Any]:
        self.batches.append(list(items))
        await asyncio.sleep(0)
        return results(items)

    def run_sync(self: Recorder, items: list[Item]) -> list[Any]:
        self.batches.append(list(items))
        return results(items)

    run = run_async if is_async else run_sync
    Recorder.run = asyncactors.batch(  # type: ignore[attr-defined]
        max_batch_size=max_batch_size, batch_wait_timeout_s=wait_s
    )(run)
    return Recorder


def _run_example(body: Any) -> None:
    """Run ``body()`` on a fresh event loop (hypothesis does not drive async tests)."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(body())


_OPS = st.lists(st.sampled_from(["item", "item", "item", "yield", "plain", "cancel"]), max_size=25)


@settings(max_examples=40, deadline=None)
@given(
    callers=st.lists(_OPS, min_size=1, max_size=4),
    is_async=st.booleans(),
    max_batch_size=st.integers(1, 5),
    wait_s=st.sampled_from([0, 0.0005]),
    max_concurrency=st.sampled_from([1, 3]),
    mailbox_size=st.integers(2, 8),
)
def test_every_item_resolves_exactly_once_and_each_callers_items_keep_their_order(
    callers: list[list[str]],
    is_async: bool,
    max_batch_size: int,
    wait_s: float,
    max_concurrency: int,
    mailbox_size: int,
) -> None:
    """Items of one caller keep their order within batches, and across them where calls
    start in order (one at a time, or sync); every item resolves exactly once, to its own
    result; a cancelled one runs at most once; the mailbox never holds more than its size."""
    _check_batches(callers, is_async, max_batch_size, wait_s, max_concurrency, mailbox_size)


def test_cancelled_items_of_a_full_mailbox_leave_no_call_stranded() -> None:
    """Items cancelled while a plain call waits for room let it in and run it.

    Found by the property above: batch items hold the mailbox's places with no
    drain under way, so the call their cancellation admits needs one scheduled.
    """
    _check_batches(
        [
            ["item", "yield", "cancel", "plain", *["item"] * 8],
            ["item", "yield", "cancel", "item"],
            ["plain", "item"],
        ],
        is_async=False,
        max_batch_size=5,
        wait_s=0.0005,
        max_concurrency=1,
        mailbox_size=2,
        timeout_s=2,
    )


def _check_batches(
    callers: list[list[str]],
    is_async: bool,
    max_batch_size: int,
    wait_s: float,
    max_concurrency: int,
    mailbox_size: int,
    timeout_s: float = 10,
) -> None:
    cls = asyncactors.remote(max_concurrency=max_concurrency, mailbox_size=mailbox_size)(
        _recorder(is_async, max_batch_size, wait_s)
    )

    async def body() -> None:
        sent: dict[Item, Any] = {}
        cancelled: set[Item] = set()
        async with asyncio.timeout(timeout_s), asyncactors.ActorSystem() as system:
            actor = cls.remote()

            async def caller(c: int, ops: list[str]) -> None:
                seq = 0
                for op in ops:
                    if op == "item":
                        sent[(c, seq)] = actor.run.remote((c, seq))
                        seq += 1
                    elif op == "yield":
                        await asyncio.sleep(0)
                    elif op == "plain":
                        assert await actor.plain.remote(c) == c
                    else:
                        mine = [k for k in sent if k[0] == c and k not in cancelled]
                        if mine and sent[mine[-1]].cancel():
                            cancelled.add(mine[-1])

            await asyncio.gather(*(caller(c, ops) for c, ops in enumerate(callers)))
            outcomes = dict(zip(sent, await _settled(list(sent.values())), strict=True))
            batches = await actor.seen.remote()
            assert system.list_actors()[0].peak_depth <= mailbox_size
        ran = [item for batch in batches for item in batch]
        assert len(ran) == len(set(ran)), "an item ran twice"
        assert all(1 <= len(b) <= max_batch_size for b in batches)
        for item, outcome in outcomes.items():
            if item in cancelled:
                assert isinstance(outcome, TaskCancelledError)
                continue
            assert item in ran
            if item[1] % 7 == 6:
                assert isinstance(outcome, ValueError)
                assert outcome.args == (item,)
            else:
                assert outcome == item
        for c in range(len(callers)):
            for batch in batches:
                mine = [seq for who, seq in batch if who == c]
                assert mine == sorted(mine), "out of order within a batch"
            if max_concurrency == 1 or not is_async:
                # Batches start in order where calls do: one at a time, or inline.
                mine = [seq for who, seq in ran if who == c]
                assert mine == sorted(mine), "out of order across batches"

    _run_example(body)


async def test_an_item_sent_on_the_short_path_holds_no_tuple_or_dict_of_its_own() -> None:
    """An item waiting for its batch holds no tuple of its argument nor an empty kwargs
    dict of its own, which would live as long as the item: its lane keeps its argument,
    and every item shares one empty mapping."""
    async with asyncio.timeout(5), asyncactors.ActorSystem():
        d = Doubler.remote()
        assert await d.sync_double.remote(0) == 0  # the next items take the short path
        sent = (10**6, 10**6 + 1)
        refs = [d.sync_double.remote(v) for v in sent]
        for ref in refs:
            assert [o for o in gc.get_referents(ref) if type(o) is tuple] in ([], [()])
        assert not [o for ref in refs for o in gc.get_referents(ref) if type(o) is dict]
        kwargs = [[o for o in gc.get_referents(ref) if isinstance(o, Mapping)] for ref in refs]
        assert kwargs[0] == kwargs[1] == [{}]
        assert kwargs[0][0] is kwargs[1][0]
        assert [await ref for ref in refs] == [2 * v for v in sent]


def _settles() -> list[Any]:
    from asyncactors._backends._local import batch_lane

    found: list[Any] = [batch_lane._py_settle]
    if ACCELERATED:
        from asyncactors import _speedups

        found.append(_speedups.settle)
    return found


def _pending_item(
    loop: asyncio.AbstractEventLoop, awaits: int = 1, kind: type[Any] = engine.Item
) -> Any:
    """A pending item, awaited ``awaits`` times here (outside an actor): each await's
    waiter is among its ``_waiters``."""
    item = object.__new__(kind)
    item._loop = loop
    item._state = 0
    item._waiters = None
    item._log = None
    for _ in range(awaits):
        ObjectRef.__await__(item)
    return item


@pytest.mark.parametrize("settle", _settles())
async def test_settle_resolves_plain_items_until_one_needs_more(settle: Any) -> None:
    """settle() (C and Python) resolves each item of the item type awaited once, with a
    result that is no exception, and its waiter; it stops at the first other item (of
    another type, awaited twice or not at all, or failed by its result) and says where."""
    loop = asyncio.get_running_loop()
    plain = [_pending_item(loop) for _ in range(3)]
    waiters = [i._waiters for i in plain]
    results: list[Any] = ["a", "b", "c"]
    assert settle(plain, results, 0, engine.Item) == 3
    assert [(i._state, i._value, i._waiters) for i in plain] == [
        (OK, "a", None),
        (OK, "b", None),
        (OK, "c", None),
    ]
    assert [w.result() for w in waiters] == results

    twice = _pending_item(loop, 2)
    unawaited = _pending_item(loop, 0)
    failing = _pending_item(loop)
    other = _pending_item(loop, kind=engine.Call)
    for odd, result in ((twice, 1), (unawaited, 1), (failing, ValueError("v")), (other, 1)):
        items = [_pending_item(loop), odd, _pending_item(loop)]
        assert settle(items, [0, result, 2], 0, engine.Item) == 1
        assert items[0]._state == OK
        assert not odd._state
        assert not items[2]._state
        # From just after the odd one, the rest is settled.
        assert settle(items, [0, result, 2], 2, engine.Item) == 3
        assert items[2]._value == 2


@pytest.mark.parametrize("settle", _settles())
async def test_settle_gives_the_result_to_an_item_whose_awaiter_was_cancelled(
    settle: Any,
) -> None:
    """An item whose awaiter's waiter was cancelled still gets its result, silently, and
    settle() goes on to the next."""
    loop = asyncio.get_running_loop()
    items = [_pending_item(loop), _pending_item(loop)]
    items[0]._waiters.cancel()
    after = items[1]._waiters
    assert settle(items, [1, 2], 0, engine.Item) == 2
    assert items[0]._state == OK
    assert items[0]._value == 1
    assert after.result() == 2


def test_the_c_settle_refuses_arguments_it_cannot_take() -> None:
    """_speedups.settle refuses what is not lists, an item type that is no ref, a
    negative start, and a wrong number of arguments, each with TypeError or ValueError
    naming what it takes."""
    # Checked before anything else: no setup() needed, so this runs in either mode.
    _speedups = pytest.importorskip("asyncactors._speedups")
    with pytest.raises(TypeError, match="must be lists"):
        _speedups.settle((), [], 0, _speedups.RefBase)
    with pytest.raises(TypeError, match="subclass of RefBase"):
        _speedups.settle([], [], 0, object)
    with pytest.raises(ValueError, match="start must be >= 0"):
        _speedups.settle([], [], -1, _speedups.RefBase)
    with pytest.raises(TypeError, match="takes items"):
        _speedups.settle([], [], 0)
