"""Context variables: the current actor system and the actor running a call."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._core import ActorCore
    from ._system import ActorSystem

__all__ = ["RuntimeContext", "current_actor", "current_system", "get_runtime_context"]

current_system: ContextVar[ActorSystem | None] = ContextVar("asyncactors_system", default=None)
current_actor: ContextVar[ActorCore | None] = ContextVar("asyncactors_actor", default=None)


@dataclass(frozen=True, slots=True)
class RuntimeContext:
    """Where the calling code runs; ``actor_id`` is ``None`` outside an actor."""

    actor_id: int | None
    name: str | None
    namespace: str | None
    class_name: str | None
    restart_count: int
    was_restarted: bool


def get_runtime_context() -> RuntimeContext:
    """Describe the actor whose method, ``__init__`` or hook is running, if any."""
    core: Any = current_actor.get()
    if core is None:
        system = current_system.get()
        return RuntimeContext(None, None, system.namespace if system else None, None, 0, False)
    return RuntimeContext(
        core.actor_id, core.name, core.namespace, core.spec.name, core.restarts, core.restarts > 0
    )
