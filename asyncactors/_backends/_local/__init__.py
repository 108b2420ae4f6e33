"""The in-process engine: every actor a coroutine-driven core on its system's loop.

``core`` assembles ``ActorCore`` from the modules named for its concerns:
``dispatch`` (the hot path), ``lifecycle``, ``restart``, ``checkpoint``, and
``deadlock`` detection; ``call`` holds the call objects, ``base`` the one
``__slots__`` layout they share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core import ActorCore, EagerCore

if TYPE_CHECKING:
    from ..._protocols import Backend, EngineCore, Host
    from ..._specs import ActorConfig, ClassSpec

__all__ = ["ActorCore", "LocalBackend", "backend"]


class LocalBackend:
    """Makes ``ActorCore``s: actors in this process, on the system's event loop."""

    name = "local"

    def create_core(
        self,
        host: Host,
        spec: ClassSpec,
        actor_id: int,
        config: ActorConfig,
        name: str | None,
        namespace: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> EngineCore:
        """A core for a new actor; ``start()`` it to create the actor."""
        cls = EagerCore if config.eager else ActorCore
        return cls(host, spec, actor_id, config, name, namespace, args, kwargs)


def backend() -> Backend:
    """The engine object ``_backends.get_backend("local")`` returns."""
    return LocalBackend()
