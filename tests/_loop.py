"""What tests look at on an event loop, and of the watchdog's monitor thread."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from asyncactors._watchdog import Watchdog


def pending_timers(loop: asyncio.AbstractEventLoop | None = None) -> list[asyncio.TimerHandle]:
    """Timers of ``loop`` (the running one by default) not yet run or cancelled, but the
    watchdog's beat, which a started actor system keeps while it runs."""
    found: Any = loop if loop is not None else asyncio.get_running_loop()
    return [
        h
        for h in found._scheduled
        if not h.cancelled() and not isinstance(getattr(h._callback, "__self__", None), Watchdog)
    ]


def until(done: Callable[[], object], timeout: float = 5) -> bool:
    """Whether ``done()`` comes true within ``timeout`` seconds, asked every millisecond."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def native_id_of(pulse: Any) -> int:
    """The native id of ``pulse``'s monitor thread, waiting a little for a starting one."""
    until(lambda: pulse.native_id is not None)
    native_id: int | None = pulse.native_id
    assert native_id is not None, "the monitor thread never ran"
    return native_id


def monitor_thread_alive(watchdog: Watchdog) -> bool:
    """Whether the OS thread of ``watchdog``'s monitor exists (Linux: ``/proc``)."""
    return os.path.exists(f"/proc/self/task/{native_id_of(watchdog._pulse)}")


def thread_gone(native_id: int) -> bool:
    """Whether the OS thread ``native_id`` is gone (Linux: ``/proc``), waiting a little for a
    thread that has just ended: a Python thread's join() returns before its OS thread exits,
    and the kernel lists a thread a moment after pthread_join() has returned."""
    return until(lambda: not os.path.exists(f"/proc/self/task/{native_id}"))


def monitor_thread_gone(watchdog: Watchdog) -> bool:
    """Whether the OS thread of ``watchdog``'s (stopped) monitor is gone; see thread_gone()."""
    native_id = watchdog._pulse.native_id
    assert native_id is not None, "the monitor thread never ran"
    return thread_gone(native_id)
