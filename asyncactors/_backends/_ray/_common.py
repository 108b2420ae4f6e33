"""What the caller's side of the Ray engine shares: actor states, the orders the
host takes, and the registry of live Ray actors this process created."""

from __future__ import annotations

import asyncio
import itertools
import random
import weakref
from typing import Any, Final

import ray

from ..._ref import logger
from ..._types import ActorState

__all__ = [
    "BRING_UP",
    "CANCEL",
    "CRASH",
    "DIE",
    "REQUEST_STOP",
    "STOP",
    "TAKE_DOWN",
]

_get_running_loop = asyncio._get_running_loop
_CancelledError = asyncio.CancelledError

_PENDING: Final = ActorState.PENDING_CREATION
_ALIVE: Final = ActorState.ALIVE
_RESTARTING: Final = ActorState.RESTARTING
_DEAD: Final = ActorState.DEAD

# What the host is told to do, in order with the calls (see _host.ActorHost.call).
TAKE_DOWN: Final = "_take_down"
BRING_UP: Final = "_bring_up"
DIE: Final = "_die"
CRASH: Final = "_crash"
REQUEST_STOP: Final = "_request_stop"
STOP: Final = "_stop"
CANCEL: Final = "_cancel"

# The RayCore of each Ray actor this process owns, by Ray actor id: a handle
# that comes back from another actor is a handle to the same core.
_owners: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
# Ray actors this process created and has not killed, by key (for tests' cleanup).
_alive: dict[str, Any] = {}
_tokens = itertools.count(random.getrandbits(48) << 14)


def _actor_key(ray_handle: Any) -> str:
    return str(ray_handle._actor_id.hex())


def _kill(handle: Any) -> None:
    _alive.pop(_actor_key(handle), None)
    try:
        ray.kill(handle, no_restart=True)
    except Exception:
        # Already gone, or Ray is shutting down: nothing left to kill.
        logger.debug("ray.kill of %r failed", handle, exc_info=True)
