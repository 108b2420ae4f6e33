"""Shared fixtures: Ray's API in one process, started and shut down around each test."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

import asyncactors.compat.ray as compat_ray


@pytest.fixture
def ray() -> Iterator[ModuleType]:
    """``asyncactors.compat.ray``, initialized for the test and shut down after it."""
    compat_ray.init(num_cpus=2)
    yield compat_ray
    compat_ray.shutdown()
