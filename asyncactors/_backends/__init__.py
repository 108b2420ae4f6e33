"""Engines, imported lazily by name: the front end and the system never import one.

As anyio keeps ``_backends/_asyncio.py`` and ``_backends/_trio.py`` behind
``get_async_backend``, asyncactors keeps each engine in ``_backends/_<name>/``
and imports it only when a system asks for it, so that ``import asyncactors``
never imports Ray.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final, cast

if TYPE_CHECKING:
    from .._protocols import Backend

__all__ = ["BACKENDS", "get_backend"]

# Each engine's name, and what to install for it (None: nothing).
BACKENDS: Final[dict[str, str | None]] = {"local": None, "ray": "asyncactors[ray]"}

_loaded: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    """The engine called ``name``, imported on first use.

    Raises:
        ValueError: no engine has that name (the message lists them).
        ImportError: the engine needs a package that is not installed (the
            message says what to install).
    """
    backend = _loaded.get(name)
    if backend is not None:
        return backend
    if name not in BACKENDS:
        raise ValueError(
            f"unknown backend {name!r}; valid backends: {', '.join(map(repr, BACKENDS))}"
        )
    try:
        module = importlib.import_module(f"{__name__}._{name}")
    except ModuleNotFoundError as exc:
        extra = BACKENDS[name]
        missing = (exc.name or "").split(".")[0]
        if extra is None or not missing or missing == "asyncactors":
            raise
        raise ImportError(
            f"backend={name!r} needs {missing}, which is not installed: pip install '{extra}'"
        ) from exc
    backend = _loaded[name] = cast("Backend", module.backend())
    return backend
