"""The Ray engine: each actor is a Ray actor, driven by this process.

Imported only by ``get_backend("ray")``: importing asyncactors never imports Ray.
"""

from __future__ import annotations

try:
    import ray  # noqa: F401
except ModuleNotFoundError as exc:  # pragma: no cover - exercised in a subprocess
    if exc.name is None or exc.name.split(".")[0] != "ray":
        raise
    raise ImportError(
        "backend='ray' needs Ray, which is not installed: pip install 'asyncactors[ray]'"
    ) from exc

from ._engine import RayEngine, open_engine

__all__ = ["RayEngine", "open_engine"]
