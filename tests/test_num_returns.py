"""Ray's ``num_returns``: ``.remote()`` of such a method returns that many refs."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest

import asyncactors
from asyncactors import ObjectRef, TaskCancelledError


class Boom(Exception):
    pass


@asyncactors.remote
class Splitter:
    def __init__(self) -> None:
        self.gate = asyncio.Event()

    @asyncactors.method(num_returns=2)
    def pair(self, a: Any, b: Any) -> tuple[Any, Any]:
        return a, b

    @asyncactors.method(num_returns=3)
    async def triple(self, value: Any) -> Any:
        return value

    @asyncactors.method(num_returns=2)
    def fail(self) -> tuple[int, int]:
        raise Boom("no pair")

    @asyncactors.method(num_returns=2)
    async def slow(self) -> tuple[int, int]:
        await self.gate.wait()
        return 1, 2

    def whole(self, value: Any) -> Any:
        return value


async def test_remote_returns_one_ref_per_item_of_the_result() -> None:
    """num_returns=2: a list of two refs, resolving to the two items of the returned tuple."""
    async with asyncactors.ActorSystem():
        s = Splitter.remote()
        refs = s.pair.remote("x", [1])
        assert isinstance(refs, list)
        assert len(refs) == 2
        assert all(isinstance(r, ObjectRef) for r in refs)
        assert await asyncactors.get(refs) == ["x", [1]]
        assert await asyncactors.get(s.triple.remote([1, 2, 3])) == [1, 2, 3]


async def test_submit_and_submit_nowait_return_the_refs_too() -> None:
    """submit() and submit_nowait() of a num_returns method return a list of refs as well."""
    async with asyncactors.ActorSystem():
        s = Splitter.remote()
        refs = await s.pair.submit(1, 2)
        assert await asyncactors.get(refs) == [1, 2]
        assert await asyncactors.get(s.pair.submit_nowait(3, 4)) == [3, 4]


@pytest.mark.parametrize(
    ("value", "error", "needle"),
    [
        ((1, 2), ValueError, "num_returns=3, but it returned 2 items"),
        ([1, 2, 3, 4], ValueError, "num_returns=3, but it returned 4 items"),
        (7, TypeError, "must be a sequence of 3 items (a tuple or a list), but it returned int"),
        ("abc", TypeError, "but it returned str"),
    ],
)
async def test_a_result_of_the_wrong_shape_fails_every_ref_clearly(
    value: Any, error: type[Exception], needle: str
) -> None:
    """Not a sequence of num_returns items: each ref fails, naming the call and the shape."""
    async with asyncactors.ActorSystem():
        refs = Splitter.remote().triple.remote(value)
        for ref in refs:
            with pytest.raises(error, match=r"call triple\(\) on actor Splitter") as e:
                await ref
            assert needle in str(e.value)


async def test_the_methods_exception_fails_every_ref() -> None:
    """What the method raises is each ref's failure."""
    async with asyncactors.ActorSystem():
        for ref in Splitter.remote().fail.remote():
            with pytest.raises(Boom, match="no pair"):
                await ref


async def test_an_unawaited_failure_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """Nobody awaits any of the refs of a failed call: one log line, not one per ref."""
    async with asyncactors.ActorSystem():
        s = Splitter.remote()
        with caplog.at_level(logging.ERROR, logger="asyncactors"):
            refs = s.fail.remote()
            await s.whole.remote(None)
            del refs
            gc.collect()
        logged = [r for r in caplog.records if "nobody awaited" in r.message]
        assert len(logged) == 1
        assert "fail()" in logged[0].message


async def test_awaiting_any_of_the_refs_silences_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """A failure retrieved through one of the refs is not logged for the others."""
    async with asyncactors.ActorSystem():
        s = Splitter.remote()
        with caplog.at_level(logging.ERROR, logger="asyncactors"):
            first, _second = s.fail.remote()
            with pytest.raises(Boom):
                await first
            del first, _second
            gc.collect()
        assert not [r for r in caplog.records if "nobody awaited" in r.message]


async def test_cancelling_one_ref_cancels_the_call() -> None:
    """cancel() on any of the refs cancels the call; every ref raises TaskCancelledError."""
    async with asyncactors.ActorSystem():
        s = Splitter.remote()
        first, second = s.slow.remote()
        await asyncio.sleep(0)
        assert second.cancel() is True
        for ref in (first, second):
            with pytest.raises(TaskCancelledError):
                await ref


async def test_num_returns_can_be_set_per_call() -> None:
    """.options(num_returns=N) splits one call's result; num_returns=1 gives a single ref."""
    async with asyncactors.ActorSystem():
        s = Splitter.remote()
        refs = s.whole.options(num_returns=2).remote((1, 2))
        assert await asyncactors.get(refs) == [1, 2]
        single = s.pair.options(num_returns=1).remote(1, 2)
        assert isinstance(single, ObjectRef)
        assert await single == (1, 2)


async def test_refs_of_a_split_result_work_as_arguments() -> None:
    """One of the refs passed to another call is resolved to its item first."""
    async with asyncactors.ActorSystem():
        s = Splitter.remote()
        a, b = s.pair.remote(10, 20)
        assert await s.whole.remote(b) == 20
        assert await a == 10


async def test_remote_from_another_thread_returns_the_refs() -> None:
    """num_returns refs made from a thread without a loop resolve there too."""
    async with asyncactors.ActorSystem():
        s = Splitter.remote()
        await s

        def from_thread() -> list[Any]:
            return [ref.result(timeout=5) for ref in s.pair.remote(1, 2)]

        assert await asyncio.to_thread(from_thread) == [1, 2]


async def test_repr_names_which_result_a_ref_is() -> None:
    """repr() of one of the refs says which result of which call it is."""
    async with asyncactors.ActorSystem():
        _, second = Splitter.remote().pair.remote(1, 2)
        await second
        assert repr(second).startswith("<ObjectRef done: result 1 of call pair() on actor Splitter")
