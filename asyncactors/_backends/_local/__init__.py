"""The in-process engine: every actor is an ``ActorCore`` on its system's loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..._core import ActorCore

if TYPE_CHECKING:
    from ..._core import ActorConfig, ClassSpec

__all__ = ["LocalEngine", "open_engine"]


class LocalEngine:
    """Makes ``ActorCore``s; nothing to start or stop."""

    name = "local"

    def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

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
    ) -> ActorCore:
        return ActorCore(host, spec, actor_id, config, name, namespace, args, kwargs)

    def find_actor(self, host: Any, name: str, namespace: str) -> None:
        return None


def open_engine(
    *, namespace: str, address: str | None, ray_init_options: Mapping[str, Any] | None
) -> LocalEngine:
    """The local engine of one system.

    Raises:
        ValueError: ``address`` or ``ray_init_options`` was given: they belong
            to ``backend="ray"``.
    """
    for option, value in (("address", address), ("ray_init_options", ray_init_options)):
        if value is not None:
            raise ValueError(
                f"option {option!r} applies to backend='ray' only; "
                "the local backend runs every actor in this process"
            )
    return LocalEngine()
