"""Shared helpers.

Every test must leave no actor system open and no task pending: the project's
pytest configuration turns on ``asyncactors_strict_leaks`` of the asyncactors
pytest plugin (``asyncactors.testing``), which checks that after each test.
"""

from __future__ import annotations

import asyncio


def pending_tasks() -> set[asyncio.Task[object]]:
    """Tasks of the running loop other than the current one."""
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
