"""The engines the behaviour tests run on: ``backend`` is ``"local"`` or ``"ray"``.

One local Ray serves the whole session (``ray.init(num_cpus=2,
include_dashboard=False)``, on 127.0.0.1 only). It starts the first time a
test asks for ``backend="ray"``, and every Ray actor a test leaves behind is
killed after it.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

HAS_RAY = importlib.util.find_spec("ray") is not None


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """A local Ray for the session; the systems of the tests use it and leave it running."""
    if not HAS_RAY:
        pytest.skip("Ray is not installed: pip install -e '.[ray]'")
    import ray

    from asyncactors._backends._ray import _session

    _session.init_ray(
        None, None, {"num_cpus": 2, "include_dashboard": False, "log_to_driver": False}
    )
    try:
        yield
    finally:
        ray.shutdown()


def _kill_leftovers() -> None:
    import ray

    from asyncactors._backends._ray import _backend

    for handle in _backend.live_ray_actors():
        with contextlib.suppress(Exception):  # already gone
            ray.kill(handle, no_restart=True)


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The engine under test; a test marked ``only_local(reason)`` is skipped on Ray."""
    name: str = request.param
    if name == "ray":
        marker = request.node.get_closest_marker("only_local")
        if marker is not None:
            pytest.skip(f"local engine only: {marker.args[0]}")
        request.getfixturevalue("ray_session")
    yield name
    if name == "ray":
        _kill_leftovers()


def pytest_collection_modifyitems(items: list[Any]) -> None:
    for item in items:
        marker = item.get_closest_marker("only_local")
        if marker is not None and not marker.args:
            raise pytest.UsageError(f"{item.nodeid}: only_local needs a reason")
