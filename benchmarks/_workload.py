"""The user classes every system runs: plain Python, no actor library imported.

Each system wraps the very same class, so differences in the figures come from
the actor machinery, not from the work done per call.
"""

from __future__ import annotations

__all__ = ["AsyncCounter", "SyncCounter", "Workload"]


class SyncCounter:
    """A counter whose methods are plain functions."""

    def __init__(self) -> None:
        self.n = 0

    def incr(self, k: int = 1) -> int:
        """Add ``k`` and return the new count."""
        self.n += k
        return self.n

    def value(self) -> int:
        """Return the count."""
        return self.n


class AsyncCounter:
    """A counter whose methods are coroutines (that never suspend)."""

    def __init__(self) -> None:
        self.n = 0

    async def incr(self, k: int = 1) -> int:
        """Add ``k`` and return the new count."""
        self.n += k
        return self.n

    async def value(self) -> int:
        """Return the count."""
        return self.n


Workload = type[SyncCounter] | type[AsyncCounter]
