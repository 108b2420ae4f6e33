"""Context variables: the current actor system and the actor running a call.

A low layer: it names what the engines and the front end share without
importing either. ``RunningActor`` is what code running inside an actor can ask
of it (``_protocols.EngineCore`` extends it).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Generator, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol, cast

from ._ref import ObjectRef, actor_var

if TYPE_CHECKING:
    from ._specs import ClassSpec

__all__ = [
    "RunningActor",
    "current_actor",
    "current_call",
    "current_system",
    "running_actor",
]


class RunningActor(Protocol):
    """What code running inside an actor may ask of its actor."""

    actor_id: int
    name: str | None
    namespace: str
    restarts: int
    spec: ClassSpec

    @property
    def class_name(self) -> str: ...

    def request_exit(self) -> None:
        """``exit_actor()`` was called in this actor's code (any thread)."""

    def running_call(self) -> ObjectRef[Any] | None:
        """The call whose method runs here, if the engine can tell."""

    def blocking_wait(
        self, ref: ObjectRef[Any], fut: asyncio.Future[Any]
    ) -> Generator[Any, None, Any]:
        """``await ref`` here, for a ref not done: the engine may refuse a deadlock."""

    def check_wait(
        self, refs: Sequence[ObjectRef[Any]], needed: int, fut: asyncio.Future[Any] | None
    ) -> None:
        """A wait for ``needed`` of ``refs`` is about to block this actor's code."""

    def done_waiting(self) -> None:
        """The wait ``check_wait()`` recorded has ended."""

    def set_batch_limits(
        self, method: str, max_batch_size: int | None, batch_wait_timeout_s: float | None
    ) -> None:
        """Change a batched method's limits (``None``: unchanged) for this incarnation."""


# The ActorSystem that Cls.remote() uses here. Typed loosely: the system module
# sits above this one, and only it and the supervisors look inside.
current_system: ContextVar[Any] = ContextVar("asyncactors_system", default=None)
# Set in the tasks that run an actor's async methods and hooks. Sync methods run
# inline in a drain callback instead, which marks the actor on its system's host
# (Host.inline): two attribute stores cost less than a ContextVar set and reset
# on every drain.
# The same variable as _ref.actor_var, seen with its full type.
current_actor = cast("ContextVar[RunningActor | None]", actor_var)
# Set only around a run_in_thread method: its thread has no task to look up.
# Weak: the context copied for the thread outlives the call in frames that a
# failure's traceback keeps, and must not keep the call alive.
current_call: ContextVar[weakref.ref[ObjectRef[Any]] | None] = ContextVar(
    "asyncactors_call", default=None
)


def running_actor() -> RunningActor | None:
    """The actor whose code is running here, if any."""
    core = current_actor.get()
    if core is None:
        system = current_system.get()
        if system is not None:
            inline: RunningActor | None = system._host.inline
            return inline
    return core
