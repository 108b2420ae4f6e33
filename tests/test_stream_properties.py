"""Property-based tests of streams (generator methods).

- the consumer gets every item once, in the order the generator yielded it;
- the generator never runs more than ``stream_buffer`` items ahead of its consumer;
- however a stream ends (closed, cancelled, killed, shut down, failed), the consumer
  gets a prefix of the items, in order, then the end or an error, never a hang; the
  generator's ``finally`` runs exactly once, and no task is left pending.

As in tests/test_properties.py, each example runs in a fresh event loop inside a
fresh ActorSystem.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

import asyncactors
from asyncactors import ActorDiedError, StreamRef, TaskCancelledError
from tests.test_properties import HANG_TIMEOUT, _run


class Boom(Exception):
    pass


@asyncactors.remote(max_concurrency=4)
class Producer:
    """Yields 0..n-1, noting how far ahead of the consumer each item was produced."""

    def __init__(self, consumed: list[int]) -> None:
        # consumed[0]: items the consumer has received so far (shared, in process).
        self.consumed = consumed
        self.ahead: list[int] = []
        self.finallies = 0

    def _note(self, i: int) -> None:
        self.ahead.append(i + 1 - self.consumed[0])

    async def agen(self, n: int, yields: list[int], fail_at: int | None) -> AsyncIterator[int]:
        try:
            for i in range(n):
                for _ in range(yields[i % len(yields)]):
                    await asyncio.sleep(0)
                if i == fail_at:
                    raise Boom(i)
                self._note(i)
                yield i
        finally:
            self.finallies += 1

    def sgen(self, n: int, yields: list[int], fail_at: int | None) -> Iterator[int]:
        try:
            for i in range(n):
                if i == fail_at:
                    raise Boom(i)
                self._note(i)
                yield i
        finally:
            self.finallies += 1

    @asyncactors.method(run_in_thread=True)
    def tgen(self, n: int, yields: list[int], fail_at: int | None) -> Iterator[int]:
        try:
            for i in range(n):
                if i == fail_at:
                    raise Boom(i)
                self._note(i)
                yield i
        finally:
            self.finallies += 1

    def report(self) -> tuple[list[int], int]:
        return list(self.ahead), self.finallies


KINDS = st.sampled_from(["agen", "sgen", "tgen"])


async def _consume(
    stream: StreamRef[int], consumed: list[int], pacing: list[int], stop_after: int | None
) -> tuple[list[int], BaseException | None]:
    got: list[int] = []
    try:
        async for item in stream:
            got.append(item)
            consumed[0] += 1
            if stop_after is not None and len(got) >= stop_after:
                break
            for _ in range(pacing[len(got) % len(pacing)]):
                await asyncio.sleep(0)
    except Exception as exc:
        return got, exc
    return got, None


@settings(max_examples=60, deadline=None)
@given(
    kind=KINDS,
    n=st.integers(0, 40),
    buffer=st.integers(1, 8),
    pacing=st.lists(st.integers(0, 3), min_size=1, max_size=5),
    yields=st.lists(st.integers(0, 2), min_size=1, max_size=5),
)
def test_items_arrive_in_order_exactly_once_and_never_more_than_buffer_ahead(
    kind: str, n: int, buffer: int, pacing: list[int], yields: list[int]
) -> None:
    async def body(system: asyncactors.ActorSystem) -> None:
        consumed = [0]
        p = Producer.remote(consumed)
        stream = getattr(p, kind).options(stream_buffer=buffer).remote(n, yields, None)
        async with asyncio.timeout(HANG_TIMEOUT):
            got, error = await _consume(stream, consumed, pacing, None)
        assert error is None
        assert got == list(range(n))
        ahead, finallies = await p.report.remote()
        assert len(ahead) == n
        assert max(ahead, default=0) <= buffer, ahead
        assert finallies == 1

    _run(body)


@settings(max_examples=60, deadline=None)
@given(
    kind=KINDS,
    n=st.integers(1, 40),
    buffer=st.integers(1, 8),
    pacing=st.lists(st.integers(0, 3), min_size=1, max_size=5),
    end=st.sampled_from(["aclose", "cancel", "kill", "shutdown", "fail", "none"]),
    at=st.integers(0, 45),
)
def test_a_stream_ended_at_any_point_gives_a_prefix_then_ends_and_closes_once(
    kind: str, n: int, buffer: int, pacing: list[int], end: str, at: int
) -> None:
    async def body(system: asyncactors.ActorSystem) -> None:
        consumed = [0]
        p = Producer.remote(consumed)
        fail_at = at if end == "fail" else None
        stream = getattr(p, kind).options(stream_buffer=buffer).remote(n, [0], fail_at)
        stop_after = at if end not in ("fail", "none") else None
        async with asyncio.timeout(HANG_TIMEOUT):
            got, error = await _consume(stream, consumed, pacing, stop_after)
            if end == "aclose":
                await stream.aclose()
                assert [x async for x in stream] == []
            elif end == "cancel":
                stream.cancel()
            elif end == "kill":
                asyncactors.kill(p)
            elif end == "shutdown":
                await system.shutdown()
            if end in ("cancel", "kill", "shutdown"):
                more, error = await _consume(stream, consumed, pacing, None)
                got += more
        assert got == list(range(len(got)))
        if end == "fail" and at < n:
            assert isinstance(error, Boom)
            assert len(got) == at
        elif end in ("none", "fail") or (end == "aclose" and at >= n):
            assert error is None
            assert len(got) == n
        elif end == "cancel":
            assert error is None or isinstance(error, TaskCancelledError), error
        elif end in ("kill", "shutdown"):
            assert error is None or isinstance(error, ActorDiedError), error
        if end not in ("kill", "shutdown"):
            # The actor lives on: its generator has closed (or never ran) exactly once.
            for _ in range(1000):
                _, finallies = await p.report.remote()
                if finallies:
                    break
                await asyncio.sleep(0.001)
            assert finallies == 1

    _run(body)
