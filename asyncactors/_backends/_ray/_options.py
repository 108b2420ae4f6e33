"""Options of Ray actors: the host class per actor class, scheduling, what the
host is told, and what cannot work on Ray."""

from __future__ import annotations

import weakref
from typing import Any, Final

import ray

from ..._specs import ActorConfig, ClassSpec
from ..._stores import MemoryStore
from ..._types import STREAMS

__all__ = ["check_options", "host_options", "ray_scheduling", "register_host_class", "spec_for"]

# Ray's limit on a host's concurrent calls; the host's own lanes enforce the
# actor's max_concurrency and concurrency groups on its one event loop.
_RAY_MAX_CONCURRENCY: Final = 100_000

# What Ray's scheduler calls the resources of ActorConfig.resources.
_RAY_RESOURCE_OPTIONS: Final = {"CPU": "num_cpus", "GPU": "num_gpus", "memory": "memory"}

# The specs of classes seen here, so that every handle of a class shares one.
_specs: weakref.WeakKeyDictionary[type, ClassSpec] = weakref.WeakKeyDictionary()
_ray_classes: weakref.WeakKeyDictionary[type, Any] = weakref.WeakKeyDictionary()


# The Ray actor class every actor's host derives from (_host.ActorHost), which
# registers itself here: _host imports this module, not the other way round.
_host_class: list[type] = []


def register_host_class(cls: type) -> None:
    """Make ``cls`` the base of the Ray actor classes that host actors."""
    _host_class[:] = [cls]


def spec_for(cls: type) -> ClassSpec:
    """The ``ClassSpec`` of an actor class, built once per process."""
    spec = _specs.get(cls)
    if spec is None:
        from ..._actor_class import _build_spec

        spec = _specs[cls] = _build_spec(cls)
    return spec


def _ray_class(spec: ClassSpec) -> Any:
    """The Ray actor class hosting ``spec.cls``, named after it (``ray::Counter``)."""
    cls = spec.cls
    ray_cls = _ray_classes.get(cls)
    if ray_cls is None:
        base = _host_class[0]
        host = type(
            spec.name,
            (base,),
            {"__module__": base.__module__, "__qualname__": spec.name, "user_class": cls},
        )
        make: Any = ray.remote(max_concurrency=_RAY_MAX_CONCURRENCY)  # type: ignore[call-overload]
        ray_cls = _ray_classes[cls] = make(host)
    return ray_cls


def host_options(config: ActorConfig) -> dict[str, Any]:
    """The options the host builds its ``ActorConfig`` from: the engine's, in the
    actor's process (scheduling, supervision and the handle's limits stay here)."""
    return {
        "max_concurrency": config.max_concurrency,
        "concurrency_groups": dict(config.groups) if config.groups else None,
        "mailbox_size": config.mailbox_size,
        "max_task_retries": config.max_task_retries,
        "restart_on": config.restart_on,
        "checkpoint_store": config.store,
        "checkpoint_every": config.checkpoint_every,
        "on_corrupt_checkpoint": config.on_corrupt_checkpoint,
    }


def ray_scheduling(config: ActorConfig) -> dict[str, Any]:
    """``num_cpus``, ``num_gpus``, ``memory`` and ``resources`` for Ray's scheduler."""
    options: dict[str, Any] = {}
    custom: dict[str, float] = {}
    for key, amount in (config.resources or {}).items():
        option = _RAY_RESOURCE_OPTIONS.get(key)
        if option is None:
            custom[key] = amount
        else:
            options[option] = amount
    if custom:
        options["resources"] = custom
    return options


def check_options(spec: ClassSpec, config: ActorConfig) -> None:
    """Refuse what cannot work on Ray, naming it and the backend.

    Raises:
        ValueError: generator or batched methods (not on Ray yet), a ``MemoryStore``,
            or a checkpoint store that cannot be pickled.
    """
    streams = sorted(m.name for m in spec.methods.values() if m.kind in STREAMS)
    if streams:
        raise ValueError(
            f"{spec.name} has generator methods ({', '.join(streams)}): backend='ray' "
            "has no streaming methods yet; return lists, or use backend='local'"
        )
    batched = sorted(m.name for m in spec.methods.values() if m.batch is not None)
    if batched:
        raise ValueError(
            f"{spec.name} has batched methods ({', '.join(batched)}): backend='ray' has "
            "no @asyncactors.batch yet; batch in the caller, or use backend='local'"
        )
    store = config.store
    if store is None:
        return
    if isinstance(store, MemoryStore):
        raise ValueError(
            f"option 'checkpoint_store' of {spec.name}: a MemoryStore cannot work on "
            "backend='ray', where each actor runs in its own process; use "
            "asyncactors.FileStore(path) on a path every node can reach"
        )
    dumps: Any = ray.cloudpickle.dumps
    try:
        dumps(store)
    except Exception as exc:
        raise ValueError(
            f"option 'checkpoint_store' of {spec.name}: backend='ray' sends the store to the "
            f"actor's process, and {type(store).__name__} cannot be pickled: {exc}"
        ) from exc
