"""An actor's side of supervision, shared by the engines' cores: ``Supervised``.

The local ``ActorCore`` and the Ray engine's ``RayCore`` keep the supervisor an
actor was given in ``own_supervisor`` (``None`` under the system's root); this
mixin is the one implementation of what they ask of it. It is not in
``_supervisor``, which loads only once a program makes a supervisor (or the
root's first restart needs one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._ref import logger

if TYPE_CHECKING:
    from .._protocols import Host, Parent
    from .._specs import ActorConfig
    from .._types import RestartType

__all__ = ["Supervised"]


class Supervised:
    """``supervisor`` over the core's ``own_supervisor``, what the supervisor reads of
    the actor's options, and what a crash, a normal exit and a stop for good ask of it."""

    __slots__ = ()

    if TYPE_CHECKING:
        # The core's own fields (CoreBase's, or RayCore's attributes), declared
        # here without adding a slot of this mixin's.
        host: Host
        config: ActorConfig

        def describe(self) -> str: ...
        def _die(self, reason: str) -> None: ...

        @property
        def own_supervisor(self) -> Parent | None: ...
        @own_supervisor.setter
        def own_supervisor(self, value: Parent | None) -> None: ...

    @property
    def supervisor(self) -> Parent:
        """The actor's supervisor: the system's root unless it was given one."""
        own = self.own_supervisor
        return self.host.root if own is None else own

    @supervisor.setter
    def supervisor(self, supervisor: Parent) -> None:
        # The root is left unmade (and unkept): it keeps no list of its children
        # and restarts none after a normal exit, so only a crash needs it.
        self.own_supervisor = None if supervisor.is_root else supervisor

    @property
    def max_restarts(self) -> int:
        """The root supervisor's limit for this actor (Ray's ``max_restarts``)."""
        return self.config.max_restarts

    @property
    def restart(self) -> RestartType:
        """``permanent``, ``transient`` or ``temporary``, as OTP means them."""
        return self.config.restart

    def _ask_supervisor(self, reason: str) -> None:
        """The actor crashed (it is taken down): its supervisor decides what follows."""
        try:
            self.supervisor._child_failed(self, reason)
        except Exception:
            # A supervisor that cannot decide must not leave callers waiting
            # on an actor that will never come back.
            logger.exception("the supervisor of %s failed; the actor dies", self.describe())
            self._die(f"{reason}; its supervisor failed to handle the crash")

    def _exit_restarts(self) -> bool:
        """Whether a normal exit (``exit_actor()``) restarts the actor: only under a
        supervisor it was given, as the root restarts only after crashes."""
        own = self.own_supervisor
        return own is not None and own._restarts_after_exit(self)

    def _leave_supervisor(self) -> None:
        """The actor stopped for good: its supervisor drops it (the root keeps no list)."""
        own = self.own_supervisor
        if own is not None:
            own._forget(self)
