"""``RayBackend``: the Ray engine object, which opens Ray for each system and
makes its ``RayCore``s; ``live_ray_actors`` for tests' cleanup."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ray
from ray.exceptions import RayError

from ..._ref import logger
from ..._specs import ActorConfig, ClassSpec
from .._local import LocalBackend
from . import _session
from ._common import _actor_key, _alive, _owners
from ._core import RayCore
from ._options import check_options, spec_for
from ._refs import Raised
from ._remote import RemoteCore, _remotes

if TYPE_CHECKING:
    from ..._protocols import Host


__all__ = ["RayBackend", "backend", "live_ray_actors"]


class _RaySystem:
    """What the Ray backend keeps for one actor system (``Host.engine``)."""

    __slots__ = ("address", "holds", "namespace", "options")

    def __init__(
        self, namespace: str, address: str | None, options: Mapping[str, Any] | None
    ) -> None:
        self.namespace = namespace
        self.address = address
        self.options = options
        # Whether the system shares a Ray that asyncactors started (see _session).
        self.holds = False


class RayBackend:
    """The Ray engine: uses or starts Ray for each system, makes ``RayCore``s."""

    name = "ray"
    # Ray's scheduler reserves num_cpus, num_gpus, memory and resources.
    reserves_resources = False
    # The actors this process hosts run on the local engine (see _host).
    runner_codes = LocalBackend.runner_codes

    def open(
        self,
        host: Host,
        *,
        namespace: str,
        address: str | None,
        ray_init_options: Mapping[str, Any] | None,
    ) -> None:
        """Keep the system's namespace, ``address`` and ``ray_init_options`` until it starts.

        Raises:
            TypeError: ``ray_init_options`` is not a mapping.
        """
        if ray_init_options is not None and not isinstance(ray_init_options, Mapping):
            raise TypeError(
                f"ray_init_options must be a dict of ray.init() options, got "
                f"{type(ray_init_options).__name__}"
            )
        host.engine = _RaySystem(namespace, address, ray_init_options)

    def start(self, host: Host) -> None:
        state: _RaySystem = host.engine
        state.holds = _session.acquire(state.address, state.namespace, state.options)

    async def close(self, host: Host) -> None:
        state: _RaySystem | None = host.engine
        if state is not None and state.holds:
            state.holds = False
            _session.release()

    def create_core(
        self,
        host: Host,
        spec: ClassSpec,
        actor_id: int,
        config: ActorConfig,
        name: str | None,
        namespace: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> RayCore:
        """A core for a new Ray actor; ``start()`` creates it.

        Raises:
            ValueError: what cannot work on Ray (see ``check_options``).
        """
        check_options(spec, config)
        return RayCore(host, spec, actor_id, config, name, namespace, args, kwargs)

    def find_actor(self, host: Host, name: str, namespace: str) -> Any | None:
        """A core for the live Ray actor ``name`` this system does not own, or ``None``.

        Asks the actor what it is: this blocks for one call to it.
        """
        try:
            ray_handle = ray.get_actor(name, namespace=namespace)
        except ValueError:
            return None
        key = _actor_key(ray_handle)
        core: Any = _owners.get(key) or _remotes.get(key)
        if core is not None:
            return core
        try:
            described: Any = ray.get(ray_handle.control.remote("describe"), timeout=30)
        except RayError as exc:
            logger.warning("%r in namespace %r did not answer: %s", name, namespace, exc)
            return None
        if type(described) is Raised:
            raise described.error()
        cls, opts, actor_id, a_name, a_namespace = described
        core = RemoteCore(ray_handle, spec_for(cls), opts, actor_id, a_name, a_namespace, host.loop)
        _remotes[key] = core
        return core


_backend = RayBackend()


def backend() -> RayBackend:
    """The engine object ``_backends.get_backend("ray")`` returns."""
    return _backend


def live_ray_actors() -> list[Any]:
    """Ray handles of actors this process created and has not killed (for tests)."""
    return list(_alive.values())
