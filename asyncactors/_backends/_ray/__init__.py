"""The Ray engine: each actor is a Ray actor, driven by this process.

Imported only by ``get_backend("ray")``: importing asyncactors never imports Ray.
"""

from __future__ import annotations

import ray  # noqa: F401  # a missing Ray is reported by get_backend, naming the extra

from . import _host  # noqa: F401  # registers the Ray actor class that hosts actors
from ._backend import RayBackend, backend

__all__ = ["RayBackend", "backend"]
