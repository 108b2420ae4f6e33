"""``ActorInfo``: one actor as ``ActorSystem.list_actors()`` reports it.

Apart from ``_types``: a frozen dataclass takes longer to make than most
modules to load, and only listing actors and statistics need it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from ._types import ActorState

__all__ = ["ActorInfo"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorInfo:
    """One actor, as ``ActorSystem.list_actors()`` reports it.

    ``calls_processed`` counts calls that ran to an outcome (value or exception);
    ``calls_failed`` counts those of them that raised. ``mailbox_depth`` counts
    calls queued in the mailbox, not those waiting for room in it.
    ``resources`` is what the actor holds of its system's logical resources;
    ``pending_resources`` what it waits to hold: its whole demand while it
    waits to be created, or the increases a ``set_resources()`` waits for.
    """

    actor_id: int
    class_name: str
    name: str | None
    namespace: str
    state: ActorState
    mailbox_depth: int
    mailbox_capacity: int
    peak_depth: int
    calls_processed: int
    calls_failed: int
    running: int
    resources: Mapping[str, float] = field(default_factory=lambda: _NOTHING)
    pending_resources: Mapping[str, float] = field(default_factory=lambda: _NOTHING)


_NOTHING: Final[Mapping[str, float]] = MappingProxyType({})
