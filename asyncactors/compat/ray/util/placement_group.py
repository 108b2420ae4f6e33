"""``ray.util.placement_group``: reservations of bundles, trivially met by one node.

A placement group is accepted when each bundle fits the node, and is ready
at once; ``STRICT_SPREAD`` over several bundles needs several nodes and is
refused.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from typing import Any, Final

from .._refs import ObjectRef
from .._worker import runtime
from ..exceptions import UnsupportedFeatureError

__all__ = [
    "PlacementGroup",
    "get_current_placement_group",
    "get_placement_group",
    "placement_group",
    "placement_group_table",
    "remove_placement_group",
]

STRATEGIES: Final = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")

_ids = itertools.count(1)
_groups: dict[str, PlacementGroup] = {}
_lock = threading.Lock()


class PlacementGroup:
    """A placement group: its bundles, ready at once in one process."""

    def __init__(
        self, bundles: list[dict[str, float]], strategy: str, name: str, lifetime: str | None
    ) -> None:
        self.id = format(next(_ids), "036x")
        self.bundle_specs = bundles
        self.strategy = strategy
        self.name = name
        self.lifetime = lifetime
        self.removed = False

    @property
    def bundle_count(self) -> int:
        """How many bundles it has."""
        return len(self.bundle_specs)

    def ready(self) -> ObjectRef:
        """A ref that is ready when the group is: at once."""
        from .. import _api

        return _api.put(self)

    def wait(self, timeout_seconds: float = 30) -> bool:
        """Whether the group is ready within the timeout: it is."""
        return not self.removed

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PlacementGroup) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"PlacementGroup({self.id})"


def placement_group(
    bundles: list[Mapping[str, float]],
    strategy: str = "PACK",
    name: str = "",
    lifetime: str | None = None,
    **_ignored: Any,
) -> PlacementGroup:
    """Reserve ``bundles`` of resources; every bundle must fit the one node.

    Raises:
        ValueError: no bundles, an empty or negative bundle, a bundle larger
            than the node, or an unknown strategy.
        UnsupportedFeatureError: ``STRICT_SPREAD`` over more than one bundle,
            which needs as many nodes.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"Invalid placement group strategy {strategy!r}; valid: {STRATEGIES}")
    if not isinstance(bundles, list) or not bundles:
        raise ValueError(f"The placement group `bundles` argument cannot be empty, got {bundles!r}")
    node = runtime().cluster()
    checked = []
    for bundle in bundles:
        if not isinstance(bundle, Mapping) or not bundle:
            raise ValueError(f"Bundles must be non-empty dicts of resources, got {bundle!r}")
        for key, amount in bundle.items():
            if amount < 0:
                raise ValueError(f"Bundle resources must be >= 0, got {key}={amount}")
            if amount > node.get(key, 0.0):
                raise ValueError(
                    f"Bundle {dict(bundle)} cannot fit the node: it has {node.get(key, 0.0)} {key}"
                )
        checked.append({k: float(v) for k, v in bundle.items()})
    if strategy == "STRICT_SPREAD" and len(checked) > 1:
        raise UnsupportedFeatureError(
            "placement_group(strategy='STRICT_SPREAD') with several bundles",
            "it needs one node per bundle, and there is one node",
        )
    pg = PlacementGroup(checked, strategy, name, lifetime)
    with _lock:
        _groups[pg.id] = pg
    return pg


def remove_placement_group(placement_group: PlacementGroup) -> None:
    """Remove a placement group."""
    placement_group.removed = True
    with _lock:
        _groups.pop(placement_group.id, None)


def get_placement_group(placement_group_name: str) -> PlacementGroup:
    """The live placement group named so.

    Raises:
        ValueError: there is none.
    """
    with _lock:
        for pg in _groups.values():
            if pg.name == placement_group_name:
                return pg
    raise ValueError(f"Failed to look up placement group with name: {placement_group_name}")


def get_current_placement_group() -> PlacementGroup | None:
    """The placement group the running code is in: none."""
    return None


def placement_group_table(placement_group: PlacementGroup | None = None) -> Any:
    """The live placement groups, in Ray's format (one, or all by id)."""

    def row(pg: PlacementGroup) -> dict[str, Any]:
        return {
            "placement_group_id": pg.id,
            "name": pg.name,
            "bundles": dict(enumerate(pg.bundle_specs)),
            "strategy": pg.strategy,
            "state": "REMOVED" if pg.removed else "CREATED",
        }

    if placement_group is not None:
        return row(placement_group)
    with _lock:
        return {pg.id: row(pg) for pg in _groups.values()}
