"""The bounded mailbox: FIFO lanes, shared capacity, overflow admitted in order."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from asyncactors._mailbox import Lane, Mailbox


class Msg:
    def __init__(self, n: int) -> None:
        self.n = n
        self._lane: Lane | None = None
        self.admitted = 0

    def _admitted(self) -> None:
        self.admitted += 1


def test_fifo_within_a_lane() -> None:
    """Messages leave a lane in the order they were put."""
    mb = Mailbox(10, 1, None)
    msgs = [Msg(i) for i in range(5)]
    for m in msgs:
        assert mb.put(m, mb.default)
    assert [mb.pop(mb.default) for _ in range(5)] == msgs
    assert mb.pop(mb.default) is None


def test_full_mailbox_overflows_and_admits_in_order() -> None:
    """Past capacity, messages wait in the overflow and move in FIFO as room frees."""
    mb = Mailbox(2, 1, None)
    msgs = [Msg(i) for i in range(5)]
    placed = [mb.put(m, mb.default) for m in msgs]
    assert placed == [True, True, False, False, False]
    assert mb.depth == 2
    assert mb.waiting == 5
    out: list[Any] = []
    while (m := mb.pop(mb.default)) is not None:
        assert mb.depth <= mb.capacity
        out.append(m)
    assert out == msgs
    assert [m.admitted for m in msgs] == [0, 0, 1, 1, 1]
    assert mb.peak == 2


def test_no_overtaking_of_the_overflow() -> None:
    """A message put while others wait for room queues behind them, even if room appeared."""
    mb = Mailbox(1, 1, None)
    a, b, c = Msg(0), Msg(1), Msg(2)
    mb.put(a, mb.default)
    mb.put(b, mb.default)
    mb.remove(a)  # room now, and b is admitted into it
    assert b.admitted == 1
    assert not mb.put(c, mb.default)
    assert mb.pop(mb.default) is b
    assert mb.pop(mb.default) is c


def test_lanes_share_capacity() -> None:
    """Concurrency-group lanes count against one capacity."""
    mb = Mailbox(2, 1, {"io": 3})
    io = mb.lane("io")
    assert mb.put(Msg(0), io)
    assert mb.put(Msg(1), mb.default)
    assert not mb.put(Msg(2), io)
    assert mb.pop(mb.default) is not None
    assert mb.depth == 2  # the io message moved in from the overflow
    assert len(io) == 2


def test_remove_from_lane_and_overflow() -> None:
    """remove() takes a message out wherever it waits, and reports absence."""
    mb = Mailbox(1, 1, None)
    a, b = Msg(0), Msg(1)
    mb.put(a, mb.default)
    mb.put(b, mb.default)
    assert mb.remove(b)
    assert not mb.remove(b)
    assert mb.remove(a)
    assert mb.waiting == 0
    assert mb.depth == 0


def test_take_all_empties_everything() -> None:
    """take_all() yields lane messages then overflow ones and leaves nothing."""
    mb = Mailbox(2, 1, None)
    msgs = [Msg(i) for i in range(4)]
    for m in msgs:
        mb.put(m, mb.default)
    assert list(mb.take_all()) == msgs
    assert mb.waiting == 0
    assert mb.depth == 0


@given(
    ops=st.lists(
        st.one_of(st.just("push"), st.just("pop"), st.integers(min_value=0, max_value=20)),
        max_size=60,
    )
)
def test_lane_fifo_matches_a_list(ops: list[Any]) -> None:
    """A lane's head-plus-deque FIFO behaves as a list under push, pop and discard."""
    lane = Lane(1)
    model: list[Msg] = []
    made = [Msg(i) for i in range(60)]
    pushed = 0
    for op in ops:
        if op == "push":
            lane.push(made[pushed])
            model.append(made[pushed])
            pushed += 1
        elif op == "pop":
            if model:
                assert lane.pop() is model.pop(0)
        else:
            target = made[op]
            assert lane.discard(target) == (target in model)
            if target in model:
                model.remove(target)
        assert len(lane) == len(model)
        assert (lane.head is None) == (not model)
    assert [lane.pop() for _ in range(len(model))] == model
