"""``ray.util``: ``ActorPool``, ``as_completed``, ``map_unordered``, named actors, placement
groups and node helpers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .. import _api
from .._refs import ObjectRef
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
    "as_completed",
    "get_current_placement_group",
    "get_node_ip_address",
    "get_placement_group",
    "list_named_actors",
    "map_unordered",
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


def _check_batching(chunk_size: int, wait_kwargs: dict[str, Any]) -> None:
    if chunk_size < 1:
        raise ValueError("`chunk_size` must be >= 1")
    if "num_returns" in wait_kwargs:
        raise ValueError("Use the `chunk_size` argument instead of `num_returns`.")


def _next_batch(
    refs: list[ObjectRef], chunk_size: int, yield_obj_refs: bool, wait_kwargs: dict[str, Any]
) -> tuple[list[Any], list[ObjectRef]]:
    """The refs (or values) of up to ``chunk_size`` of ``refs`` once ready, and the rest."""
    ready, rest = _api.wait(refs, num_returns=min(chunk_size, len(refs)), **wait_kwargs)
    return (ready if yield_obj_refs else _api.get(ready)), rest


def as_completed(
    refs: Sequence[ObjectRef],
    *,
    chunk_size: int = 10,
    yield_obj_refs: bool = False,
    **wait_kwargs: Any,
) -> Iterator[Any]:
    """Yield the values of ``refs`` (their refs with ``yield_obj_refs``) as they are ready,
    ``chunk_size`` at a time (``ray.wait``'s ``num_returns``; ``wait_kwargs`` go to it).

    Raises:
        ValueError: ``chunk_size`` below 1, or ``num_returns`` among ``wait_kwargs``.
        Exception: what a task raised, when its value is reached.
    """
    _check_batching(chunk_size, wait_kwargs)
    pending = list(refs)
    while pending:
        batch, pending = _next_batch(pending, chunk_size, yield_obj_refs, wait_kwargs)
        yield from batch


def map_unordered(
    fn: Any,
    items: Iterable[Any],
    *,
    backpressure_size: int | None = 100,
    chunk_size: int = 10,
    yield_obj_refs: bool = False,
    **wait_kwargs: Any,
) -> Iterator[Any]:
    """``fn.remote(item)`` for each item, at most ``backpressure_size`` in flight;
    yield the values (or refs) as they are ready, as ``as_completed`` does.

    Raises:
        ValueError: ``backpressure_size`` not positive, ``chunk_size`` below 1, or
            ``num_returns`` among ``wait_kwargs``.
        Exception: what a task raised, when its value is reached.
    """
    if backpressure_size is not None and backpressure_size <= 0:
        raise ValueError("backpressure_size must be positive.")
    _check_batching(chunk_size, wait_kwargs)
    limit = float("inf") if backpressure_size is None else backpressure_size
    pending: list[ObjectRef] = []
    for item in items:
        pending.append(fn.remote(item))
        if len(pending) >= limit:
            batch, pending = _next_batch(pending, chunk_size, yield_obj_refs, wait_kwargs)
            yield from batch
    yield from as_completed(
        pending, chunk_size=chunk_size, yield_obj_refs=yield_obj_refs, **wait_kwargs
    )
