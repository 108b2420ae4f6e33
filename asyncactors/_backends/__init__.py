"""Engines, imported lazily by name: ``get_backend("local")``, ``get_backend("ray")``.

As anyio imports ``anyio._backends._asyncio`` only when asked for it, the
engine ``name`` lives in ``asyncactors._backends._<name>`` and is imported the
first time a system asks for it: importing asyncactors never imports Ray.

Each engine module offers ``open_engine(namespace=, address=, ray_init_options=)``,
which returns the ``Engine`` of one actor system.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

if TYPE_CHECKING:
    from .._core import ActorConfig, ClassSpec

__all__ = ["BACKENDS", "Backend", "BackendName", "Engine", "get_backend"]

BackendName = Literal["local", "ray"]
BACKENDS: Final[tuple[BackendName, ...]] = ("local", "ray")


class Engine(Protocol):
    """One actor system's engine: starts with the system, makes its actors' cores."""

    name: str

    def start(self) -> None:
        """Called once, when the system binds to its event loop (sync, on that loop)."""

    async def close(self) -> None:
        """Called once every actor of the system has stopped."""

    def create_core(
        self,
        host: Any,
        spec: ClassSpec,
        actor_id: int,
        config: ActorConfig,
        opts: Mapping[str, Any],
        name: str | None,
        namespace: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """A core for a new actor; ``core.start()`` or ``core._hold()`` follows.

        Raises:
            ValueError: an option this engine cannot honour (the message names it).
        """

    def find_actor(self, host: Any, name: str, namespace: str) -> Any | None:
        """A core for a live named actor this system does not own, or ``None``."""


class Backend(Protocol):
    """An engine module."""

    def open_engine(
        self,
        *,
        namespace: str,
        address: str | None,
        ray_init_options: Mapping[str, Any] | None,
    ) -> Engine: ...


_loaded: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    """The engine module called ``name``, imported on first use.

    Raises:
        ValueError: ``name`` is not an engine (the message lists the valid ones).
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
    module: Any = importlib.import_module(f"{__name__}._{name}")
    _loaded[name] = module
    return module  # type: ignore[no-any-return]
