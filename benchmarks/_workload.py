"""The user classes every system runs: plain Python, no actor library imported.

Each system wraps the very same class (peers that need a base class get a thin
subclass), so differences in the figures come from the actor machinery, not
from the work done per call. Every class counts the calls it served, so a run
can check that each call ran exactly once.
"""

from __future__ import annotations

import asyncio

__all__ = [
    "BATCH_CONCURRENCY",
    "BATCH_SIZE",
    "BATCH_WAIT_S",
    "IO_SECONDS",
    "AsyncCounter",
    "BatchIOService",
    "Crash",
    "Crashy",
    "IOService",
    "Idle",
    "SyncCounter",
    "Workload",
    "YieldingCounter",
]

IO_SECONDS = 0.001
"""The simulated IO of :meth:`IOService.fetch`: 1 ms."""


class SyncCounter:
    """A counter whose methods are plain functions."""

    def __init__(self) -> None:
        self.n = 0

    def incr(self, arg: object = None) -> int:
        """Count one call (``arg`` is ignored: it is there to be carried) and return the count."""
        self.n += 1
        return self.n

    def value(self) -> int:
        """Return the count."""
        return self.n


class AsyncCounter:
    """A counter whose methods are coroutines that never suspend."""

    def __init__(self) -> None:
        self.n = 0

    async def incr(self, arg: object = None) -> int:
        """Count one call and return the count."""
        self.n += 1
        return self.n

    async def value(self) -> int:
        """Return the count."""
        return self.n


class YieldingCounter:
    """A counter whose ``incr`` yields to the event loop once, so calls can overlap."""

    def __init__(self) -> None:
        self.n = 0

    async def incr(self, arg: object = None) -> int:
        """Let other tasks run once, then count the call."""
        await asyncio.sleep(0)
        self.n += 1
        return self.n

    async def value(self) -> int:
        """Return the count."""
        return self.n


class IOService:
    """A service whose one method awaits a simulated 1 ms IO."""

    def __init__(self) -> None:
        self.n = 0

    async def incr(self, arg: object = None) -> int:
        """Await :data:`IO_SECONDS` of simulated IO, then count the call."""
        await asyncio.sleep(IO_SECONDS)
        self.n += 1
        return self.n

    async def value(self) -> int:
        """Return the count."""
        return self.n


BATCH_SIZE = 64
"""The most items :class:`BatchIOService` takes in one request."""
BATCH_WAIT_S = 0.001
"""How long a batcher waits for a batch to fill."""
BATCH_CONCURRENCY = 4
"""Requests :class:`BatchIOService` serves at once (a model server's, a database's limit)."""


class BatchIOService:
    """A model server or database stand-in: every request, of one item or of a batch
    of up to :data:`BATCH_SIZE`, takes ``latency_s`` of simulated IO."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.n = 0

    async def infer_batch(self, items: list[int]) -> list[int]:
        """Serve a batch in one request: each item's result, in order."""
        await asyncio.sleep(self.latency_s)
        self.n += len(items)
        return [i + 1 for i in items]

    async def infer(self, item: int) -> int:
        """Serve one item in a request of its own."""
        await asyncio.sleep(self.latency_s)
        self.n += 1
        return item + 1

    async def value(self) -> int:
        """Return how many items were served."""
        return self.n


class Idle:
    """The trivial user class of the creation and memory scenarios: no state at all."""

    def ping(self) -> int:
        """Reply 1 (a first reply proves the actor runs)."""
        return 1


class Crash(Exception):
    """What :meth:`Crashy.work` raises to crash its actor."""


class Crashy:
    """The user class of the restart scenario: a fresh instance after each crash."""

    def __init__(self) -> None:
        self.n = 0

    def work(self, crash: bool) -> int:
        """Raise :class:`Crash` if asked; else count the call on this incarnation."""
        if crash:
            raise Crash
        self.n += 1
        return self.n


Workload = type[SyncCounter] | type[AsyncCounter] | type[YieldingCounter] | type[IOService]
