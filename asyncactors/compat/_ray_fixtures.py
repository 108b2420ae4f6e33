"""Ray's test fixtures, for tests written against Ray's own conftest.

Registered by the ``asyncactors.testing`` plugin. Each starts whatever
``import ray`` gives: ``asyncactors.compat.ray`` under ``--ray-in-process``
(or ``ASYNCACTORS_RAY_IN_PROCESS=1``), else the real Ray. A test's
``@pytest.mark.parametrize("ray_start_regular", [{...}], indirect=True)``
passes ``ray.init()`` keyword arguments, as with Ray's fixtures.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["ray_start_regular", "ray_start_regular_shared", "shutdown_only"]

# Ray's own fixtures start a one-CPU node unless told otherwise.
_DEFAULTS: dict[str, Any] = {"num_cpus": 1}


def _ray() -> Any:
    return importlib.import_module("ray")


def _start(request: pytest.FixtureRequest) -> Iterator[Any]:
    ray = _ray()
    params = getattr(request, "param", None) or {}
    context = ray.init(**{**_DEFAULTS, **params})
    try:
        yield context
    finally:
        ray.shutdown()


@pytest.fixture
def ray_start_regular(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Ray started for the test (``ray.init(num_cpus=1, **param)``), shut down after it;
    yields what ``ray.init()`` returned."""
    yield from _start(request)


@pytest.fixture(scope="module")
def ray_start_regular_shared(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Ray started once for the module's tests, shut down after the last."""
    yield from _start(request)


@pytest.fixture
def shutdown_only() -> Iterator[None]:
    """Nothing at first (the test calls ``ray.init()`` itself); ``ray.shutdown()`` after it."""
    yield None
    _ray().shutdown()
