"""Shared helpers.

Every test must leave no actor system open and no task pending: the project's
pytest configuration turns on ``asyncactors_strict_leaks`` of the asyncactors
pytest plugin (``asyncactors.testing``), which checks that after each test.
"""

from __future__ import annotations

import asyncio

import pytest

# The pytest plugins of the dev extra that the configuration relies on, by plugin
# name: without them pytest stops later with an internal error on an unknown ini
# option (asyncio_default_fixture_loop_scope), which says nothing of the cause.
NEEDED_PLUGINS = {"asyncio": "pytest-asyncio", "timeout": "pytest-timeout"}


def pytest_configure(config: pytest.Config) -> None:
    """Stop at once, saying what to install, when a plugin the tests need is missing."""
    missing = [
        dist for name, dist in NEEDED_PLUGINS.items() if not config.pluginmanager.hasplugin(name)
    ]
    if missing:
        pytest.exit(
            f"the tests need {', '.join(missing)}, which this Python does not have (or which "
            "-p no:... disabled): install the dev extra, pip install -e '.[dev]', and run "
            "pytest with that environment's python",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


def pending_tasks() -> set[asyncio.Task[object]]:
    """Tasks of the running loop other than the current one."""
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
