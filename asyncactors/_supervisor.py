"""Supervision trees: OTP's strategies and restart intensity, with backoff.

A supervisor's children are actors (engine cores) and other supervisors, in
start order. When a child fails, the supervisor counts the restart against its
intensity (``max_restarts`` within ``within_s``), then restarts the child, all
children, or the child and those started after it. Past the intensity it takes
all its children down in reverse start order and fails itself, and its parent
decides about the whole subtree.

The system's root supervisor is one_for_one without an intensity of its own:
each of its actors is limited by its own ``max_restarts``, as in Ray. A
top-level supervisor that fails is its permanent child: the root restarts the
subtree after the supervisor's own backoff, which grows with each failure in a
row; a ``temporary`` one stays down.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from enum import Enum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, cast

from ._context import current_system
from ._ref import logger
from ._types import RestartType, StopReason

if TYPE_CHECKING:
    from ._backoff import Backoff
    from ._protocols import Host

__all__ = ["Supervisor"]

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
_STRATEGIES: Final = ("one_for_one", "one_for_all", "rest_for_one")
SupervisorRestart = Literal["permanent", "temporary"]
_SUPERVISOR_RESTARTS: Final = ("permanent", "temporary")

# Why the children of a restart still waiting out its backoff die at shutdown.
_ABANDONED: Final = "was shut down with its actor system while waiting out a restart backoff"


class _Status(Enum):
    """Where a supervisor is in its own life."""

    UP = "up"
    # Down with its children, until its parent (or the root) brings it back.
    RESTARTING = "restarting"
    # Down for good: it takes no new children.
    FAILED = "failed"


def _bad_restart(restart: object) -> str:
    why = (
        " ('transient' would act as 'permanent': a supervisor fails only by "
        "exceeding its restart intensity, never normally)"
        if restart == "transient"
        else ""
    )
    return (
        f"unknown restart {restart!r} for a Supervisor; valid: "
        f"{', '.join(map(repr, _SUPERVISOR_RESTARTS))}{why}"
    )


class Supervisor:
    """Supervises actors and supervisors with OTP's strategies.

    Actors join with ``Cls.options(supervisor=sup, restart=...).remote()``;
    supervisors with ``Supervisor(parent=sup)``. Use it as ``async with`` (leaving
    the block stops its children, newest first) or as a plain object owned by the
    actor system.

    ``restart`` is what happens when this supervisor itself fails (more than
    ``max_restarts`` restarts within ``within_s``): ``"permanent"`` (the default)
    has its parent, or the system's root for a top-level supervisor, restart it
    with all its children; the root waits ``backoff.delay(n)`` first, n counting
    the failures in a row, each within ``within_s`` of the restart before it.
    ``"temporary"`` leaves it and its children down for good. ``"transient"`` is
    not offered: it would act as ``"permanent"``, since a supervisor fails only by
    exceeding its intensity, never normally.

    Raises:
        ValueError: an unknown strategy or restart type, a negative
            ``max_restarts``, or a ``within_s`` that is not > 0 (NaN included).
        TypeError: ``within_s`` is not a number, ``backoff`` is not a
            ``Backoff`` or ``parent`` not a ``Supervisor``.
        RuntimeError: ``parent`` has failed for good.
    """

    def __init__(
        self,
        strategy: Strategy = "one_for_one",
        max_restarts: int = 3,
        within_s: float = 5.0,
        backoff: Backoff | None = None,
        name: str | None = None,
        parent: Supervisor | None = None,
        restart: SupervisorRestart = "permanent",
    ) -> None:
        if strategy not in _STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; valid: {', '.join(_STRATEGIES)}")
        if restart not in _SUPERVISOR_RESTARTS:
            raise ValueError(_bad_restart(restart))
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < 0:
            raise ValueError(f"max_restarts must be an int >= 0, got {max_restarts!r}")
        if isinstance(within_s, bool) or not isinstance(within_s, int | float):
            raise TypeError(f"within_s must be a number of seconds, got {within_s!r}")
        if not within_s > 0:  # NaN too
            raise ValueError(f"within_s must be > 0, got {within_s!r}")
        if backoff is not None:
            from ._backoff import Backoff

            if not isinstance(backoff, Backoff):
                raise TypeError(f"backoff must be an asyncactors.Backoff, got {backoff!r}")
        if parent is not None and not isinstance(parent, Supervisor):
            raise TypeError(f"parent must be a Supervisor, got {type(parent).__name__}")
        self.strategy = strategy
        self.max_restarts = max_restarts
        self.within_s = within_s
        self._backoff = backoff
        self.name = name
        self.parent = parent
        self.restart: SupervisorRestart = restart
        self.is_root = False
        self._system: Host | None = None
        self._children: list[Any] = []
        self._history: deque[float] = deque()
        self._status = _Status.UP
        self._why = ""  # why it failed for good
        # Restarts waiting out their backoff, and the children each brings up.
        self._timers: dict[asyncio.TimerHandle, list[Any]] = {}
        # The root's: every supervisor of the system with pending restarts.
        self._timed: set[Supervisor] = set()
        # Failures of the whole subtree in a row, and when it last came up.
        self._streak = 0
        self._up_since = 0.0
        if parent is not None and not parent._add_child(self):
            self._status = _Status.RESTARTING

    # -- membership ---------------------------------------------------------------

    @property
    def backoff(self) -> Backoff:
        """The backoff between this supervisor's restarts: ``Backoff()`` unless given."""
        backoff = self._backoff
        if backoff is None:
            # Made on first use: most supervisors never restart anything, and the
            # dataclass's module takes longer to load than the rest of a restart.
            from ._backoff import Backoff

            backoff = self._backoff = Backoff()
        return backoff

    def _bind(self, system: Host) -> None:
        if self._system is None:
            self._system = system
            if self.parent is not None:
                self.parent._bind(system)
        elif self._system is not system:
            raise RuntimeError(f"{self!r} belongs to another ActorSystem")

    def _check_open(self) -> None:
        """Raise ``RuntimeError`` if this supervisor is down for good and takes no children."""
        if self._status is _Status.FAILED:
            hint = (
                ", or give it restart='permanent' (the default) to have a failed "
                "supervisor restarted after a backoff"
                if self.restart == "temporary"
                else ""
            )
            raise RuntimeError(
                f"{self!r} has failed and stays down; it takes no new children. "
                f"Create a new Supervisor for them{hint}. It failed because: {self._why}"
            )

    def _add_child(self, child: Any) -> bool:
        """Add a child, newest last; return whether it may start now.

        While this supervisor is down waiting to be restarted, a new child waits
        too, and starts with its siblings.

        Raises:
            RuntimeError: this supervisor has failed for good.
        """
        self._check_open()
        self._children.append(child)
        return self._status is _Status.UP

    def _forget(self, child: Any) -> None:
        """A child stopped for good (not to be restarted)."""
        if self.is_root:
            return  # the root keeps no list: it may have millions of children
        with contextlib.suppress(ValueError):
            self._children.remove(child)

    @property
    def children(self) -> list[Any]:
        """The live children, handles and supervisors, in start order."""
        return [c if isinstance(c, Supervisor) else c.spec.handle_type(c) for c in self._children]

    # -- failure handling ---------------------------------------------------------

    def _child_failed(self, child: Any, reason: str) -> None:
        """Apply the strategy to a child that crashed (it is already taken down)."""
        if child.restart == "temporary":
            self._forget(child)
            if isinstance(child, Supervisor):
                what = f"{child!r} is a temporary supervisor"
            else:
                what = "it is a temporary child"
            child._die(f"{reason}; {what}, never restarted")
            return
        if self.is_root:
            if isinstance(child, Supervisor):
                self._restart_top_level(child, reason)
            else:
                self._restart_root_child(child, reason)
            return
        restarts = self._count_restart(self._history)
        if restarts > self.max_restarts:
            self._escalate(reason)
            return
        affected = self._affected(child)
        for sibling in reversed(affected):
            if sibling is not child:
                sibling._take_down(f"a sibling crashed ({self.strategy} of {self!r})")
        self._schedule(self.backoff.delay(restarts), affected)

    def _restarts_after_exit(self, child: Any) -> bool:
        """Whether a child that stopped normally (``exit_actor()``) is restarted.

        OTP restarts a permanent child whatever ended it. The root, like Ray,
        restarts only after crashes, and is never asked: an actor asks only the
        supervisor it was given (``_backends._supervised``).
        """
        restart: RestartType = child.restart
        return restart == "permanent"

    def _affected(self, child: Any) -> list[Any]:
        if self.strategy == "one_for_one":
            return [child]
        if self.strategy == "one_for_all":
            return list(self._children)
        index = self._children.index(child)
        return self._children[index:]

    def _schedule(self, delay: float, children: list[Any]) -> None:
        """Bring ``children`` (taken down) up again after ``delay`` seconds."""
        system = self._system
        assert system is not None
        if system.closing:
            # Nothing restarts during a shutdown, which must not wait out a backoff.
            for c in children:
                c._die(_ABANDONED)
            return
        root = self._root()
        assert root is not None

        def bring_up() -> None:
            del self._timers[handle]
            if not self._timers:
                root._timed.discard(self)
            for c in children:
                c._bring_up()

        handle = system.loop.call_later(delay, bring_up)
        self._timers[handle] = children
        root._timed.add(self)

    def _cancel_timers(self) -> None:
        """Drop this supervisor's pending restarts: its children come back with it."""
        if self._timers:
            for handle in self._timers:
                handle.cancel()
            self._timers.clear()
            root = self._root()
            if root is not None:
                root._timed.discard(self)

    def _abandon_restarts(self) -> None:
        """The root's, at shutdown: no pending restart happens; its children die."""
        for sup in list(self._timed):
            pending, sup._timers = sup._timers, {}
            for handle, children in pending.items():
                handle.cancel()
                for c in children:
                    c._die(_ABANDONED)
        self._timed.clear()

    def _restart_top_level(self, child: Supervisor, reason: str) -> None:
        """A failed top-level supervisor is the root's permanent child: back after a backoff."""
        now = time.monotonic()
        if now - child._up_since > child.within_s:
            child._streak = 0  # it had been quiet for a while: start the backoff over
        child._streak += 1
        delay = child.backoff.delay(child._streak)
        logger.warning(
            "%r failed (%s); restarting it with its children in %.3g s (failure %d in a row)",
            child,
            reason,
            delay,
            child._streak,
        )
        self._schedule(delay, [child])

    def _restart_root_child(self, child: Any, reason: str) -> None:
        limit = child.max_restarts
        if limit != -1 and child.restarts >= limit:
            self._forget(child)
            if limit:
                reason = f"{reason}; it ran out of restarts ({limit})"
            child._die(reason)
            return
        restarts = self._count_restart(child.crash_times)
        self._schedule(self.backoff.delay(restarts), [child])

    def _count_restart(self, history: deque[float]) -> int:
        """Record a restart now; return how many fall within the last ``within_s``."""
        now = time.monotonic()
        while history and now - history[0] > self.within_s:
            history.popleft()
        history.append(now)
        return len(history)

    def _escalate(self, reason: str) -> None:
        """Intensity exceeded: take every child down, newest first, then fail."""
        self._take_down(f"its supervisor {self!r} exceeded its restart intensity")
        why = (
            f"{reason}; supervisor {self!r} exceeded {self.max_restarts} restarts "
            f"within {self.within_s} s"
        )
        parent = self.parent if self.parent is not None else self._root()
        if parent is None:
            self._die(why)
        else:
            parent._child_failed(self, why)

    def _root(self) -> Supervisor | None:
        return cast("Supervisor", self._system.root) if self._system is not None else None

    # -- the Child protocol, for nesting ------------------------------------------

    def _take_down(self, reason: str) -> None:
        """Take every child down, newest first, until ``_bring_up``."""
        if self._status is _Status.FAILED:
            return
        self._status = _Status.RESTARTING
        # Its own pending restarts would bring children up inside a subtree that
        # is down; they come back with the subtree instead.
        self._cancel_timers()
        for c in reversed(self._children):
            c._take_down(reason)

    def _bring_up(self) -> None:
        """Restart every child in start order, with a fresh restart intensity."""
        if self._status is not _Status.RESTARTING:
            return
        self._status = _Status.UP
        self._history.clear()
        self._up_since = time.monotonic()
        for c in list(self._children):
            c._bring_up()

    def _die(self, reason: str) -> None:
        """Fail for good: every child dies, newest first, and no new one is taken."""
        self._status = _Status.FAILED
        self._why = reason
        self._cancel_timers()
        for c in reversed(list(self._children)):
            c._die(reason)
        self._children.clear()
        if self.parent is not None:
            self.parent._forget(self)

    # -- context manager ----------------------------------------------------------

    async def __aenter__(self) -> Supervisor:
        # Bound now inside a system; otherwise when its first child is created.
        system = current_system.get()
        if system is not None:
            self._bind(system._host)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop every child gracefully, newest first, waiting for each to finish."""
        for c in reversed(list(self._children)):
            if isinstance(c, Supervisor):
                await c.stop()
            else:
                c.request_stop(StopReason.SUPERVISOR)
                await c.stopped()
        self._children.clear()
        if self.parent is not None:
            self.parent._forget(self)

    def __repr__(self) -> str:
        label = "root" if self.is_root else (self.name or hex(id(self)))
        return f"<Supervisor {label} {self.strategy}>"
