"""The in-process engine: every actor a coroutine-driven core on its system's loop.

``core`` assembles ``ActorCore`` from the modules named for its concerns:
``dispatch`` (the hot path), ``lifecycle``, ``restart``, ``checkpoint``, and
``deadlock`` detection; ``call`` holds the call objects, ``base`` the one
``__slots__`` layout they share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core import ActorCore

if TYPE_CHECKING:
    from ..._protocols import Backend, EngineCore, Host
    from ..._specs import ActorConfig, ClassSpec

__all__ = ["ActorCore", "LocalBackend", "backend"]


class LocalBackend:
    """Makes ``ActorCore``s: actors in this process, on the system's event loop."""

    name = "local"
    # The engine's functions that call an actor's own code, where the stack of
    # that code starts (for the watchdog's reports).
    runner_codes = frozenset(
        f.__code__
        for f in (
            ActorCore._run_inline,
            ActorCore._work,
            ActorCore._in_thread,
            ActorCore._create,
            ActorCore._finish_creation,
            ActorCore._call_pre_destroy,
            ActorCore._logged,
        )
    )

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
        return ActorCore(host, spec, actor_id, config, name, namespace, args, kwargs)


def backend() -> Backend:
    """The engine object ``_backends.get_backend("local")`` returns."""
    return LocalBackend()
