"""The bounded mailbox: one FIFO lane per concurrency group, a shared capacity.

A call that finds the mailbox full is not dropped: it waits in the overflow
queue, FIFO, and moves in as soon as a call leaves. Nothing here touches the
event loop; the actor core decides when calls run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterator, Mapping
from typing import Any

__all__ = ["Lane", "Mailbox"]


class Lane:
    """One concurrency group: its own FIFO and its own concurrency limit.

    The FIFO is ``head`` (the oldest message, or ``None`` when it is empty) and
    ``rest``, a deque made only once two messages wait at the same time: most
    actors never queue more than one call, and an empty deque costs 600 bytes.
    """

    __slots__ = ("caught", "head", "idle", "limit", "rest", "retries", "running")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # Workers holding a slot: running a call, or lingering for the next one.
        self.running = 0
        # Of those, the ones lingering: a call queued now will be taken by one.
        self.idle = 0
        # Whether the last worker that lingered took a call meanwhile.
        self.caught = False
        self.head: Any = None
        self.rest: deque[Any] | None = None
        # Calls to run again after a restart; they go first and, having been
        # admitted once, do not count against the capacity again.
        self.retries: deque[Any] | None = None

    def push(self, msg: Any) -> None:
        """Append ``msg`` to the FIFO."""
        if self.head is None:
            self.head = msg
            return
        rest = self.rest
        if rest is None:
            rest = self.rest = deque()
        rest.append(msg)

    def pop(self) -> Any:
        """Remove and return the oldest message (the FIFO must not be empty)."""
        msg = self.head
        rest = self.rest
        self.head = rest.popleft() if rest else None
        return msg

    def discard(self, msg: Any) -> bool:
        """Remove ``msg`` from the FIFO; return whether it was there."""
        if self.head is msg:
            self.pop()
            return True
        if self.rest and msg in self.rest:
            self.rest.remove(msg)
            return True
        return False

    def __len__(self) -> int:
        return (self.head is not None) + (len(self.rest) if self.rest else 0)


class Mailbox:
    """Lanes sharing one capacity, plus the FIFO of calls waiting for room."""

    __slots__ = ("capacity", "default", "depth", "groups", "lanes", "overflow", "peak")

    def __init__(self, capacity: int, default_limit: int, groups: Mapping[str, int] | None) -> None:
        self.capacity = capacity
        self.depth = 0
        self.peak = 0
        self.default = Lane(default_limit)
        # Most actors have no concurrency groups: no dict for them.
        self.groups: dict[Hashable, Lane] | None = None
        self.lanes: tuple[Lane, ...] = (self.default,)
        if groups:
            self.groups = {name: Lane(limit) for name, limit in groups.items()}
            self.lanes = (self.default, *self.groups.values())
        self.overflow: deque[Any] | None = None

    def lane(self, group: Hashable | None) -> Lane:
        """The lane of a concurrency group (``None``: the default group), or an attached one."""
        if group is None:
            return self.default
        assert self.groups is not None
        return self.groups[group]

    def attach(self, key: Hashable, lane: Lane) -> None:
        """Route what is put with ``key`` to ``lane``, a lane its owner empties itself.

        It is not among ``lanes`` (what the engine runs calls from), nor emptied
        by ``take_all``; what waits in it counts in ``depth`` until ``release``.
        """
        if self.groups is None:
            self.groups = {}
        self.groups[key] = lane

    def release(self, n: int) -> None:
        """``n`` messages left an attached lane: free their places and admit waiters."""
        self.depth -= n
        if self.overflow:
            self._admit()

    def put(self, msg: Any, lane: Lane) -> bool:
        """Queue ``msg`` in ``lane``; return ``False`` if it went to the overflow instead."""
        msg._lane = lane
        if self.depth < self.capacity and not self.overflow:
            # Lane.push, inlined: this is the hot path.
            if lane.head is None:
                lane.head = msg
            else:
                lane.push(msg)
            depth = self.depth = self.depth + 1
            if depth > self.peak:
                self.peak = depth
            return True
        self.wait_for_room(msg)
        return False

    def wait_for_room(self, msg: Any) -> None:
        """Queue ``msg`` in the overflow, FIFO: it moves into its lane once there is room."""
        overflow = self.overflow
        if overflow is None:
            overflow = self.overflow = deque()
        overflow.append(msg)

    def pop(self, lane: Lane) -> Any:
        """Take the oldest message of ``lane`` (``None`` if it is empty) and admit one waiter."""
        if lane.retries:
            return lane.retries.popleft()
        msg = lane.head
        if msg is None:
            return None
        # Lane.pop, inlined: this is the hot path.
        rest = lane.rest
        lane.head = rest.popleft() if rest else None
        self.depth -= 1
        if self.overflow:
            self._admit()
        return msg

    def _admit(self) -> None:
        overflow = self.overflow
        assert overflow is not None
        while overflow and self.depth < self.capacity:
            msg = overflow.popleft()
            msg._lane.push(msg)
            self.depth += 1
            if self.depth > self.peak:
                self.peak = self.depth
            msg._admitted()

    def retry(self, msg: Any, lane: Lane) -> None:
        """Put ``msg`` back at the head of ``lane``, ahead of everything queued."""
        msg._lane = lane
        if lane.retries is None:
            lane.retries = deque()
        lane.retries.appendleft(msg)

    def remove(self, msg: Any) -> bool:
        """Take ``msg`` out wherever it waits; return whether it was there."""
        lane: Lane | None = msg._lane
        if lane is not None and lane.retries and msg in lane.retries:
            lane.retries.remove(msg)
            return True
        if lane is not None and lane.discard(msg):
            self.depth -= 1
            if self.overflow:
                self._admit()
            return True
        if self.overflow:
            try:
                self.overflow.remove(msg)
            except ValueError:
                return False
            return True
        return False

    def take_all(self) -> Iterator[Any]:
        """Remove and yield every queued message, lanes first, then the overflow."""
        for lane in self.lanes:
            while lane.retries:
                yield lane.retries.popleft()
            while lane.head is not None:
                self.depth -= 1
                yield lane.pop()
        while self.overflow:
            yield self.overflow.popleft()

    @property
    def waiting(self) -> int:
        """Messages queued, in lanes and in the overflow."""
        retries = sum(len(lane.retries) for lane in self.lanes if lane.retries)
        return self.depth + retries + (len(self.overflow) if self.overflow else 0)
