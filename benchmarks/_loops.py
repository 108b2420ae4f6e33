"""The event loops the benchmarks run on.

asyncactors never installs an event loop policy and neither do the benchmarks,
so each run builds its loop from an explicit factory.
"""

from __future__ import annotations

import asyncio

from ._scenarios import LoopFactory

__all__ = ["KNOWN_LOOPS", "available_loops"]

KNOWN_LOOPS = ("asyncio", "uvloop")


def available_loops() -> dict[str, LoopFactory]:
    """Return the loop factories importable here, by name, in :data:`KNOWN_LOOPS` order."""
    # No policy is ever installed in this process, so asyncio.new_event_loop gives
    # the standard library's own loop.
    loops: dict[str, LoopFactory] = {"asyncio": asyncio.new_event_loop}
    try:
        import uvloop
    except ImportError:
        pass
    else:
        loops["uvloop"] = uvloop.new_event_loop
    return loops
