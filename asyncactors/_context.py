"""Context variables: the current actor system and the actor running a call."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._core import ActorCore
    from ._system import ActorSystem

__all__ = [
    "RuntimeContext",
    "current_actor",
    "current_system",
    "get_runtime_context",
    "running_actor",
]

current_system: ContextVar[ActorSystem | None] = ContextVar("asyncactors_system", default=None)
# Set in the tasks that run an actor's async methods and hooks. Sync methods run
# inline in a drain callback instead, which marks the actor on its system
# (ActorSystem._inline): two attribute stores cost less than a ContextVar
# set and reset on every drain.
current_actor: ContextVar[ActorCore | None] = ContextVar("asyncactors_actor", default=None)


def running_actor() -> ActorCore | None:
    """The actor whose code is running here, if any."""
    core = current_actor.get()
    if core is None:
        system = current_system.get()
        if system is not None:
            core = system._inline
    return core


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
    core: Any = running_actor()
    if core is None:
        system = current_system.get()
        return RuntimeContext(None, None, system.namespace if system else None, None, 0, False)
    return RuntimeContext(
        core.actor_id, core.name, core.namespace, core.spec.name, core.restarts, core.restarts > 0
    )
