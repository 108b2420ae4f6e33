"""``get_runtime_context()``: what a method can learn about the actor running it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._context import RunningActor, current_system, running_actor
from ._resources import AssignedResources

if TYPE_CHECKING:
    from ._handle import ActorHandle
    from ._ref import ObjectRef

__all__ = ["RuntimeContext", "get_runtime_context"]


@dataclass(frozen=True, slots=True)
class RuntimeContext:
    """Where the calling code runs; ``actor_id`` is ``None`` outside an actor.

    The fields are a snapshot taken by ``get_runtime_context()``;
    ``is_canceled()`` asks afresh each time. Ray's spellings work too:
    ``get_actor_id()``, ``get_actor_name()``, ``was_current_actor_reconstructed``
    and ``current_actor``.
    """

    actor_id: int | None
    name: str | None
    namespace: str | None
    class_name: str | None
    restart_count: int
    was_restarted: bool
    _core: RunningActor | None = field(default=None, repr=False, compare=False)
    _call: ObjectRef[Any] | None = field(default=None, repr=False, compare=False)
    _system: Any = field(default=None, repr=False, compare=False)

    def is_canceled(self) -> bool:
        """Whether the running call's ref has been cancelled (``ref.cancel()``).

        A method running in a thread (``run_in_thread=True``) cannot be
        interrupted; it can poll this and return early. ``False`` outside a
        call, and in a sync method running on the loop, which cannot be
        cancelled while it runs.
        """
        call = self._call
        return call is not None and call._was_cancelled()

    def get_assigned_resources(self) -> AssignedResources:
        """What the actor holds now of its system's logical resources, as in Ray:
        ``{"CPU": 1.0, "GPU": 0.5}``, a dict whose ``gpu_ids`` attribute lists
        the ids of the GPUs it holds (``["3"]``; set ``CUDA_VISIBLE_DEVICES``
        from them). Empty outside an actor and for an actor that reserves
        nothing. Asked afresh each time (``set_resources()``)."""
        core = self._core
        if core is None or self._system is None:
            return AssignedResources()
        assigned: AssignedResources = self._system._resource_pool().assigned(core)
        return assigned

    def get_accelerator_ids(self) -> dict[str, list[str]]:
        """The ids of the GPUs the actor holds, as in Ray: ``{"GPU": ["3"]}``.

        Whole GPUs, or the one GPU a fraction shares. Set ``CUDA_VISIBLE_DEVICES``
        from them. Empty lists outside an actor and for an actor holding no GPU.
        """
        core = self._core
        if core is None or self._system is None:
            return {"GPU": []}
        return {"GPU": self._system._resource_pool().gpu_ids(core)}

    def get_actor_id(self) -> str | None:
        """Ray's spelling: the actor's id as a string, or ``None`` outside an actor."""
        return None if self.actor_id is None else str(self.actor_id)

    def get_actor_name(self) -> str | None:
        """Ray's spelling: the actor's name, or ``None`` if it has none or outside an actor."""
        return self.name

    @property
    def was_current_actor_reconstructed(self) -> bool:
        """Ray's spelling of ``was_restarted``."""
        return self.was_restarted

    @property
    def current_actor(self) -> ActorHandle[Any]:
        """A handle to the running actor, to pass to other actors.

        Raises:
            RuntimeError: called outside an actor.
        """
        core = self._core
        if core is None:
            raise RuntimeError("get_runtime_context().current_actor is only set inside an actor")
        handle: ActorHandle[Any] = core.spec.handle_type(core)
        return handle


def get_runtime_context() -> RuntimeContext:
    """Describe the actor whose method, ``__init__`` or hook is running, if any."""
    core = running_actor()
    system = current_system.get()
    if core is None:
        return RuntimeContext(None, None, system.namespace if system else None, None, 0, False)
    return RuntimeContext(
        core.actor_id,
        core.name,
        core.namespace,
        core.class_name,
        core.restarts,
        core.restarts > 0,
        core,
        core.running_call(),
        system,
    )
