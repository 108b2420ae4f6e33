"""``ray.util``: ``ActorPool``, named actors, placement groups and node helpers."""

from __future__ import annotations

from typing import Any

from .._worker import NODE_IP, runtime
from . import scheduling_strategies
from .actor_pool import ActorPool
from .placement_group import (
    PlacementGroup,
    get_current_placement_group,
    get_placement_group,
    placement_group,
    placement_group_table,
    remove_placement_group,
)

__all__ = [
    "ActorPool",
    "PlacementGroup",
    "get_current_placement_group",
    "get_node_ip_address",
    "get_placement_group",
    "list_named_actors",
    "placement_group",
    "placement_group_table",
    "remove_placement_group",
    "scheduling_strategies",
]


def list_named_actors(all_namespaces: bool = False) -> list[Any]:
    """The names of the live named actors in the job's namespace; with
    ``all_namespaces``, dicts of ``name`` and ``namespace`` for every namespace."""
    rt = runtime()
    system = rt.system
    with system._lock:
        keys = sorted(system._names)
    if all_namespaces:
        return [{"name": name, "namespace": ns} for ns, name in keys]
    return [name for ns, name in keys if ns == rt.namespace]


def get_node_ip_address(address: str = "8.8.8.8:53") -> str:
    """This node's IP address: the loopback, as everything runs here."""
    return NODE_IP
