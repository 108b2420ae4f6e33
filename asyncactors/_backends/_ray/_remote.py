"""Passing handles between processes: ``Passable`` (how every core's handles
pickle), ``rebuild_handle`` (which unpickles one to the core it refers to) and
``RemoteCore`` (a handle to a Ray actor this process does not own)."""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Mapping
from typing import Any

from ray.exceptions import RayActorError

from ..._options import ACTOR_DEFAULTS
from ..._specs import ActorConfig, ClassSpec
from ..._types import StopReason
from ._caller import _Caller
from ._common import _ALIVE, _DEAD, CRASH, _actor_key, _get_running_loop, _kill, _owners, _tokens
from ._options import spec_for
from ._refs import on_ray_result
from ._sending import Sending

__all__ = ["Passable", "RemoteCore", "home", "hosted", "rebuild_handle"]

# The actor hosted in this process, if it is an actor's process: a handle to
# itself that comes back is a local handle.
hosted: dict[str, Any] = {}
# Handles to Ray actors this process does not own, one core per actor.
_remotes: weakref.WeakValueDictionary[str, RemoteCore] = weakref.WeakValueDictionary()


class Passable(_Caller):
    """A core whose handles can be passed to other processes (pickled)."""

    def reduce_handle(self) -> Any:
        """A handle pickles to its Ray handle and what rebuilds an ``ActorHandle`` from it.

        Raises:
            TypeError: the actor has no Ray actor right now (it is restarting
                after its process died, or waits for its supervisor).
        """
        if self._ray_handle is None:
            raise TypeError(
                f"a handle to {self.describe()} cannot be passed right now: it has no Ray "
                "actor while it restarts or waits for its supervisor; await the handle first"
            )
        return (
            rebuild_handle,
            (
                self._ray_handle,
                self.spec.cls,
                self._host_opts,
                self.actor_id,
                self.name,
                self.namespace,
            ),
        )


class RemoteCore(Passable, Sending):
    """A handle to a Ray actor this process does not own: calls, kill, monitor.

    Made when a handle arrives from another process, or by ``get_actor`` for an
    actor of another driver. Its owner supervises it; this side sees it ALIVE
    until it learns that it died.
    """

    def __init__(
        self,
        ray_handle: Any,
        spec: ClassSpec,
        host_opts: dict[str, Any],
        actor_id: int,
        name: str | None,
        namespace: str,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        config = ActorConfig(spec, {**ACTOR_DEFAULTS, **host_opts})
        super().__init__(spec, config, host_opts, actor_id, name, namespace, loop)
        self.state = _ALIVE
        self._ray_handle = ray_handle
        self._remote = ray_handle.call.remote
        self._token = next(_tokens)
        self._stopped: asyncio.Future[None] | None = None

    @property
    def max_restarts(self) -> int:
        return self.config.max_restarts

    @property
    def restart(self) -> str:
        return self.config.restart

    def handle_added(self) -> None:
        pass

    def handle_released(self) -> None:
        pass

    async def wait_ready(self) -> None:
        """Wait until the actor has started.

        Raises:
            ActorDiedError: it failed to start or is dead.
        """
        if self.state is _DEAD:
            raise self._dead_error()
        await self._ask("ready")

    def stopped(self) -> asyncio.Future[None]:
        """A future of the loop that completes when the actor is DEAD."""
        loop = self.loop
        fut: asyncio.Future[None] = loop.create_future()
        if self.state is _DEAD or self._ray_handle is None:
            fut.set_result(None)
            return fut
        if self._stopped is None:
            self._stopped = loop.create_future()
            on_ray_result(loop, self._ray_handle.control.remote("stopped"), self._on_stopped)
        self._stopped.add_done_callback(functools.partial(_copy_done, fut))
        return fut

    def _on_stopped(self, result: Any) -> None:
        if self.state is not _DEAD:
            if isinstance(result, RayActorError):
                self._gone(result)
            elif isinstance(result, tuple):
                self.state = _DEAD
                self.refusing = True
                kind, self.reason, self.death = result
                self._final_kind = kind
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    async def checkpoint(self) -> None:
        """Save the actor's state now; see ``ActorHandle.checkpoint``."""
        if self.config.store is None:
            raise RuntimeError(f"{self.describe()} has no checkpoint_store option")
        await self._ask("checkpoint")

    def kill(self, *, no_restart: bool = True, by: str = "asyncactors.kill") -> None:
        """``ray.kill`` the actor, or with ``no_restart=False`` crash it in place."""
        if _get_running_loop() is not self.loop:
            self.loop.call_soon_threadsafe(
                functools.partial(self.kill, no_restart=no_restart, by=by)
            )
            return
        if self._ray_handle is None:
            return
        if no_restart:
            handle = self._ray_handle
            self._gen += 1
            self._ray_handle = self._remote = None
            self.state = _DEAD
            self.refusing = True
            self.reason = f"was killed by {by}()"
            self._final_kind = "dead"
            _kill(handle)
        else:
            self._order(CRASH)

    def request_stop(self, why: StopReason) -> None:
        """Not this process's to stop: its owner does (``asyncactors.stop()`` works)."""


def _copy_done(fut: asyncio.Future[None], _: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def rebuild_handle(
    ray_handle: Any,
    cls: type,
    opts: Mapping[str, Any],
    actor_id: int,
    name: str | None,
    namespace: str,
) -> Any:
    """Unpickle an ``ActorHandle``: the owner's core here, else a ``RemoteCore``."""
    key = _actor_key(ray_handle)
    core: Any = _owners.get(key) or hosted.get(key)
    if core is None:
        core = _remotes.get(key)
        if core is None:
            core = RemoteCore(
                ray_handle, spec_for(cls), dict(opts), actor_id, name, namespace, _home_loop()
            )
            _remotes[key] = core
    return core.spec.handle_type(core)


# The loop of this process's actor host, if this is an actor's process.
home: list[asyncio.AbstractEventLoop] = []


def _home_loop() -> asyncio.AbstractEventLoop | None:
    loop = _get_running_loop()
    if loop is None and home:
        loop = home[0]
    return loop
