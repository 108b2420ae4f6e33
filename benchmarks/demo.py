"""Example targets for the load harness (``python -m asyncactors load``).

``FakeIOService.fetch`` stands in for an IO-bound actor method: it awaits a
simulated network call. Try::

    python -m asyncactors load benchmarks.demo:FakeIOService.fetch \\
        --concurrency 1,10,100 --duration 5 --args '[2.0]'
"""

from __future__ import annotations

import asyncio

__all__ = ["Counter", "FakeIOService"]


class FakeIOService:
    """A service whose calls await a simulated IO of a few milliseconds."""

    def __init__(self, default_ms: float = 1.0) -> None:
        self.default_ms = default_ms
        self.served = 0

    async def fetch(self, ms: float | None = None) -> int:
        """Await ``ms`` milliseconds (default: the constructor's) of simulated IO."""
        await asyncio.sleep((self.default_ms if ms is None else ms) / 1000)
        self.served += 1
        return self.served


class Counter:
    """A CPU-only sync actor: every call is pure actor overhead."""

    def __init__(self) -> None:
        self.n = 0

    def incr(self, k: int = 1) -> int:
        """Add ``k`` and return the count."""
        self.n += k
        return self.n
