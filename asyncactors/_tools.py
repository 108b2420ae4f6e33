"""What the command line and the repository's benchmarks share: event loops, durations, plots."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "KNOWN_LOOPS",
    "LoopFactory",
    "available_loops",
    "format_duration",
    "matplotlib_missing",
    "pyplot",
]

LoopFactory = Callable[[], asyncio.AbstractEventLoop]

KNOWN_LOOPS: Final = ("asyncio", "uvloop")


def available_loops() -> dict[str, LoopFactory]:
    """The loop factories importable here, by name, in :data:`KNOWN_LOOPS` order."""
    # asyncactors never installs an event loop policy and neither do its tools, so
    # asyncio.new_event_loop gives the standard library's own loop.
    loops: dict[str, LoopFactory] = {"asyncio": asyncio.new_event_loop}
    try:
        import uvloop
    except ImportError:
        pass
    else:
        loops["uvloop"] = uvloop.new_event_loop
    return loops


def format_duration(seconds: float) -> str:
    """``75.2`` -> ``"1:15"``."""
    seconds = max(0, int(seconds + 0.5))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def matplotlib_missing(install: str = "pip install matplotlib") -> str | None:
    """Why plotting is unavailable (ending with ``install``), or ``None`` if matplotlib imports."""
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        return f"matplotlib is not installed ({install})"
    return None


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend: files only, no window."""
    matplotlib: Any = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")
