"""The event loops the benchmarks run on: those of the ``asyncactors`` command line.

asyncactors never installs an event loop policy and neither do the benchmarks,
so each run builds its loop from an explicit factory.
"""

from __future__ import annotations

from asyncactors._tools import KNOWN_LOOPS, available_loops

__all__ = ["KNOWN_LOOPS", "available_loops"]
