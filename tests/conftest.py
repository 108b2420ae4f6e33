"""Shared fixtures: every test must leave no actor system open and no task pending."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from asyncactors import _system
from asyncactors._sync import BackgroundSystem


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Fail a test that leaves an actor system open or one of its tasks pending.

    Like pykka's ``_stop_all``, but strict: a test must shut down what it starts
    (``async with ActorSystem()`` or ``await asyncactors.shutdown()``), and
    stop every ``start_background()`` system.
    """
    before = set(map(id, _system.live_systems()))
    yield
    leaked = []
    for system in _system.live_systems():
        if id(system) in before:
            continue
        if isinstance(system, BackgroundSystem) and system._running:
            leaked.append(f"{system!r} was not stopped: its loop thread still runs")
        elif system._loop is not None and not system._closed:
            leaked.append(f"{system!r} was not shut down")
        elif system._orphans:
            leaked.append(f"{system!r} left tasks pending: {system._orphans}")
        elif any(
            core.workers for core in system._actors.values()
        ):  # pragma: no cover - shutdown guarantees this
            leaked.append(f"{system!r} left worker tasks")
    if leaked:
        # Stop what leaked so that it cannot spill into the next test.
        for system in _system.live_systems():
            if isinstance(system, BackgroundSystem):
                system._stop(1, give_up_after=3)
                continue
            loop = system._loop
            if loop is not None and not loop.is_closed() and not loop.is_running():
                loop.run_until_complete(system.shutdown(timeout=1))
        pytest.fail("leaked: " + "; ".join(leaked))


def pending_tasks() -> set[asyncio.Task[object]]:
    """Tasks of the running loop other than the current one."""
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
