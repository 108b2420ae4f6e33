"""The watchdog's public records: ``StuckCall`` and ``LoopBlock``.

Apart from the watchdog (``_watchdog.py``), which loads this module only once it
has something to report: a dataclass costs about a millisecond to make, and the
watchdog starts with the first actor system.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CallKind", "LoopBlock", "StuckCall"]

CallKind = Literal["sync", "async", "thread"]


@dataclass(frozen=True, slots=True)
class StuckCall:
    """A call that has been running for a while, as ``system.stuck_calls()`` reports it.

    ``age_s`` is how long it has been running, to within the watchdog's sample
    interval. ``kind`` is ``"async"`` (a coroutine: its await chain),
    ``"thread"`` (``run_in_thread``: its thread's stack) or ``"sync"`` (a sync
    method holding the loop right now). ``stack`` is formatted as a traceback's
    lines, the method's frame first.
    """

    actor_id: int
    class_name: str
    name: str | None
    method: str
    kind: CallKind
    age_s: float
    stack: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LoopBlock:
    """A method seen holding the event loop, from ``timestamp`` on, for ``held_s`` seconds
    (to within the watchdog's tick: it is updated while the block lasts)."""

    actor_id: int
    class_name: str
    name: str | None
    method: str
    held_s: float
    timestamp: float
    stack: tuple[str, ...]
