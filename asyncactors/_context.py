"""Context variables: the current actor system and the actor running a call."""

from __future__ import annotations

import asyncio
import weakref
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._core import ActorCore
    from ._handle import ActorHandle
    from ._ref import ObjectRef
    from ._system import ActorSystem

__all__ = [
    "RuntimeContext",
    "current_actor",
    "current_call",
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
# Set only around a run_in_thread method: its thread has no task to look up.
# Weak: the context copied for the thread outlives the call in frames that a
# failure's traceback keeps, and must not keep the call alive (see _core._run_inline).
current_call: ContextVar[weakref.ref[ObjectRef[Any]] | None] = ContextVar(
    "asyncactors_call", default=None
)


def running_actor() -> ActorCore | None:
    """The actor whose code is running here, if any."""
    core = current_actor.get()
    if core is None:
        system = current_system.get()
        if system is not None:
            core = system._inline
    return core


def _running_call(core: ActorCore) -> ObjectRef[Any] | None:
    """The call whose method is running here: async and threaded methods only.

    A sync method running inline cannot be cancelled while it runs.
    """
    ref = current_call.get()
    if ref is not None:
        return ref()
    workers = core.workers
    if workers and asyncio._get_running_loop() is core.loop:
        task = asyncio.current_task()
        if task is not None:
            return workers.get(task)
    return None


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
    _core: ActorCore | None = field(default=None, repr=False, compare=False)
    _call: ObjectRef[Any] | None = field(default=None, repr=False, compare=False)

    def is_canceled(self) -> bool:
        """Whether the running call's ref has been cancelled (``ref.cancel()``).

        A method running in a thread (``run_in_thread=True``) cannot be
        interrupted; it can poll this and return early. ``False`` outside a
        call, and in a sync method running on the loop, which cannot be
        cancelled while it runs.
        """
        call = self._call
        return call is not None and call._was_cancelled()

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
        return core.spec.handle_type(core)


def get_runtime_context() -> RuntimeContext:
    """Describe the actor whose method, ``__init__`` or hook is running, if any."""
    core: Any = running_actor()
    if core is None:
        system = current_system.get()
        return RuntimeContext(None, None, system.namespace if system else None, None, 0, False)
    return RuntimeContext(
        core.actor_id,
        core.name,
        core.namespace,
        core.spec.name,
        core.restarts,
        core.restarts > 0,
        core,
        _running_call(core),
    )
