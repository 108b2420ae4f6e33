"""The tasks an actor's code starts belong to its incarnation, and end with it.

As a linked process in OTP, or a task of a Ray actor's process: a task created
on the system's loop while an actor's code runs (``__init__``, the hooks, its
methods, and the tasks those start in turn) is owned by that incarnation, which
cancels it when it ends (see ``Lifecycle._end_tasks``).

Ownership is decided in the task factory each system installs on its loop
(``install``), from the context the task will run in: the actor of
``_ref.actor_var`` there (set in the tasks running an actor's async code), or,
for a task made in the current context, the actor whose sync code runs inline
(``Host.inline`` of the context's system). The factory chains the one set
before it, and is put back at the last system's shutdown if still in place.

The engine's own tasks never pass through the factory: it makes them with
``asyncio.Task(...)`` directly, so that a call one actor makes to another, or a
hook's task, is never taken for the running actor's.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..._context import current_system
from ..._exceptions import _ActorExit
from ..._ref import actor_var, logger
from .common import local_state

if TYPE_CHECKING:
    from ..._protocols import Host
    from ..._ref import ObjectRef

__all__ = ["ActorTask", "TaskFactory", "install", "origin_call", "track_origins", "uninstall"]

_Task = asyncio.Task
_actor_here = actor_var.get
_system_here = current_system.get

TaskFactory = Callable[..., "asyncio.Future[Any]"]
_T = TypeVar("_T")


class _Owner(Protocol):
    """What the factory needs of the actor owning a task (an ``ActorCore``)."""

    loop: asyncio.AbstractEventLoop

    def describe(self) -> str: ...

    def running_call(self) -> ObjectRef[Any] | None: ...

    def _own_task(self, task: asyncio.Future[Any]) -> None: ...


class ActorTask(asyncio.Task):  # type: ignore[type-arg]
    """A task an actor's code started: it names the actor if it fails unseen.

    What it raised, if nobody retrieved it by the time the task is collected, is
    logged on the ``asyncactors`` logger naming the actor (asyncio's own message
    names the task only). ``origin_call()`` gives the call whose code started it.
    """

    __slots__ = ("_origin", "_owner")

    _owner: _Owner | None
    # The call running in the task that started this one (inherited from a task
    # that is itself an ActorTask), as a contextvar would carry it: a weak reference.
    _origin: weakref.ref[ObjectRef[Any]] | None

    def __del__(self) -> None:
        if self._log_traceback:
            exc = self.exception()  # retrieved now: asyncio's message is not given too
            owner = self._owner
            # exit_actor() in the task stopped the actor already: nothing failed.
            if exc is not None and not isinstance(exc, _ActorExit) and owner is not None:
                # Logging can fail at interpreter shutdown; a destructor must not raise.
                with contextlib.suppress(Exception):
                    logger.error(
                        "task %r started by %s failed and nobody retrieved its exception",
                        self.get_name(),
                        owner.describe(),
                        exc_info=(type(exc), exc, exc.__traceback__),
                    )
        super().__del__()


def _owner_for(loop: asyncio.AbstractEventLoop, kwargs: dict[str, Any]) -> _Owner | None:
    """The actor whose incarnation a task made on ``loop`` with ``kwargs`` belongs to."""
    context = kwargs.get("context")
    if context is None:
        core: Any = _actor_here()
        if core is None:
            system = _system_here()
            if system is None:
                return None
            core = system._host.inline
            if core is None:
                return None
    else:
        # Only the context the task runs in counts: Context() given from an
        # actor's sync method makes a task of nobody's.
        core = context.get(actor_var)
        if core is None:
            return None
    # An actor of another loop (a call from another system's actor, made here
    # through run_coroutine_threadsafe) owns nothing on this one.
    if core.loop is not loop:
        return None
    owner: _Owner = core
    return owner


# Whether the tasks that actors' code starts record the call that started them. Only
# compat.ray asks (get_task_id() in such a task), so only it turns this on.
_track_origins = False


def track_origins() -> None:
    """Make tasks that actors' code starts from now on record the call that started
    them, for ``origin_call()``; nothing else pays for it."""
    global _track_origins
    _track_origins = True


def _origin_here(owner: _Owner) -> weakref.ref[ObjectRef[Any]] | None:
    """The call whose code is starting a task now: the one running in the current task,
    or the one that started the current task, if that is an owned task."""
    call = owner.running_call()
    if call is not None:
        return weakref.ref(call)
    current = asyncio.current_task(owner.loop)
    origin: weakref.ref[ObjectRef[Any]] | None = getattr(current, "_origin", None)
    return origin


def origin_call(task: asyncio.Task[Any] | None) -> ObjectRef[Any] | None:
    """The call of an actor whose code started ``task`` (directly, or through tasks it
    started), if it is still referenced and ``track_origins()`` was on when the task
    was made; else ``None``."""
    origin: weakref.ref[ObjectRef[Any]] | None = getattr(task, "_origin", None)
    return None if origin is None else origin()


def _eager_factory(previous: TaskFactory | None) -> TaskFactory | None:
    """The factory of owned tasks, when ``previous`` is asyncio's eager one (3.12+)."""
    if previous is not None and previous is getattr(asyncio, "eager_task_factory", None):
        make: TaskFactory = asyncio.create_eager_task_factory(ActorTask)  # type: ignore[attr-defined]
        return make
    return None


class _OwningFactory:
    """The task factory of one loop: it chains ``previous`` (``None``: none was set),
    and counts the systems on the loop that use it."""

    __slots__ = ("owned_factory", "previous", "systems")

    def __init__(self, previous: TaskFactory | None) -> None:
        self.previous = previous
        self.owned_factory = _eager_factory(previous)
        self.systems = 0

    def __call__(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, _T] | Generator[Any, None, _T],
        /,
        **kwargs: Any,
    ) -> asyncio.Future[_T]:
        previous = self.previous
        owner = _owner_for(loop, kwargs)
        if owner is None:
            if previous is None:
                return _Task(coro, loop=loop, **kwargs)
            return previous(loop, coro, **kwargs)
        task: asyncio.Future[Any]
        # Found before the task is made: an eager task runs its first step while being
        # made, as the current task.
        origin = _origin_here(owner) if _track_origins else None
        if previous is None:
            task = ActorTask(coro, loop=loop, **kwargs)
            task._owner = owner
            task._origin = origin
        elif self.owned_factory is not None:
            task = self.owned_factory(loop, coro, **kwargs)
            if isinstance(task, ActorTask):
                task._owner = owner
                task._origin = origin
        else:
            # A factory of the program's: its tasks are owned, but what they
            # raise unseen is asyncio's to report.
            task = previous(loop, coro, **kwargs)
        if not task.done():  # an eager task may have finished already
            owner._own_task(task)
        return task


def install(host: Host) -> None:
    """Install the owning task factory on ``host``'s loop, or join the one there."""
    loop = host.loop
    current = loop.get_task_factory()
    if isinstance(current, _OwningFactory):
        factory = current
    else:  # not ours: chain it
        factory = _OwningFactory(current)
        loop.set_task_factory(factory)
    factory.systems += 1
    local_state(host).task_factory = factory


def uninstall(host: Host) -> None:
    """``host``'s system has shut down: put back the factory that was set before
    ours, once no system on the loop uses ours, if ours is still in place."""
    state = local_state(host)
    factory: _OwningFactory | None = state.task_factory
    if factory is None:
        return
    state.task_factory = None
    factory.systems -= 1
    if factory.systems:
        return
    loop = host.loop
    if loop.get_task_factory() is factory and not loop.is_closed():
        loop.set_task_factory(factory.previous)
