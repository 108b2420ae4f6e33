"""The in-process engine: every actor a coroutine-driven core on its system's loop.

``core`` assembles ``ActorCore`` from the modules named for its concerns:
``dispatch`` (the hot path), ``lifecycle``, ``restart``, ``checkpoint``, and
``deadlock`` detection; ``call`` holds the call objects, ``base`` the one
``__slots__`` layout they share.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import tasks
from .core import ActorCore, EagerCore

if TYPE_CHECKING:
    from ..._protocols import Backend, EngineCore, Host
    from ..._specs import ActorConfig, ClassSpec

__all__ = ["ActorCore", "LocalBackend", "backend"]

_new = object.__new__


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
    reserves_resources = True

    def open(
        self,
        host: Host,
        *,
        namespace: str,
        address: str | None,
        ray_init_options: Mapping[str, Any] | None,
    ) -> None:
        """Nothing to keep.

        Raises:
            ValueError: ``address`` or ``ray_init_options`` was given: they
                belong to ``backend="ray"``.
        """
        for option, value in (("address", address), ("ray_init_options", ray_init_options)):
            if value is not None:
                raise ValueError(
                    f"option {option!r} applies to backend='ray' only; "
                    "the local backend runs every actor in this process"
                )

    def start(self, host: Host) -> None:
        """Have the tasks actors' code starts on the loop owned by their actors."""
        tasks.install(host)

    async def close(self, host: Host) -> None:
        """Put the loop's task factory back, once no system uses it."""
        tasks.uninstall(host)

    def find_actor(self, host: Host, name: str, namespace: str) -> None:
        return None

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
        # cls(...), its __init__ called from here rather than from C (cheaper).
        core: ActorCore = _new(EagerCore if config.eager else ActorCore)
        ActorCore.__init__(core, host, spec, actor_id, config, name, namespace, args, kwargs)
        return core


def backend() -> Backend:
    """The engine object ``_backends.get_backend("local")`` returns."""
    return LocalBackend()
