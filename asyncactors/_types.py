"""Shared vocabulary: states, kinds and reasons as enums.

A leaf module: every layer may import it, and it imports nothing of the package.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Final, Literal

__all__ = [
    "ASYNC",
    "STREAMS",
    "STREAM_ASYNC",
    "STREAM_SYNC",
    "STREAM_THREAD",
    "SYNC",
    "THREAD",
    "ActorState",
    "EventKind",
    "MethodKind",
    "RestartType",
    "StopReason",
]


class ActorState(StrEnum):
    """An actor's lifecycle state, as in Ray."""

    PENDING_CREATION = "PENDING_CREATION"
    ALIVE = "ALIVE"
    RESTARTING = "RESTARTING"
    DEAD = "DEAD"


class MethodKind(IntEnum):
    """How an actor method runs."""

    SYNC = 0  # inline on the loop
    ASYNC = 1  # awaited in a worker task
    THREAD = 2  # in a worker thread (``run_in_thread=True``)
    # Generator methods: a stream, driven in a worker task, item by item.
    STREAM_ASYNC = 3  # an async generator
    STREAM_SYNC = 4  # a generator, stepped inline on the loop
    STREAM_THREAD = 5  # a generator stepped in worker threads (``run_in_thread=True``)


# Module-level names: the hot path compares kinds without an attribute lookup.
SYNC: Final = MethodKind.SYNC
ASYNC: Final = MethodKind.ASYNC
THREAD: Final = MethodKind.THREAD
STREAM_ASYNC: Final = MethodKind.STREAM_ASYNC
STREAM_SYNC: Final = MethodKind.STREAM_SYNC
STREAM_THREAD: Final = MethodKind.STREAM_THREAD
# The kinds of generator methods, for the cold paths that treat streams apart.
STREAMS: Final = frozenset({STREAM_ASYNC, STREAM_SYNC, STREAM_THREAD})


class StopReason(StrEnum):
    """Why an actor stops gracefully."""

    SHUTDOWN = "shutdown"  # its actor system shuts down
    SUPERVISOR = "supervisor"  # its supervisor stops it
    RELEASED = "released"  # every handle to it is gone
    EXIT = "exit"  # a method called exit_actor()
    SYSTEM_EXIT = "system_exit"  # a method raised SystemExit
    STOP = "stop"  # asyncactors.stop(handle) ran
    TERMINATE = "terminate"  # handle.__ray_terminate__.remote() ran


class EventKind(StrEnum):
    """What happened to an actor, as ``ActorSystem.events()`` reports it."""

    STARTED = "started"
    CRASHED = "crashed"
    RESTARTING = "restarting"
    RESTARTED = "restarted"
    STOPPED = "stopped"  # a graceful stop
    DEAD = "dead"  # killed, or failed for good


# How OTP's supervisors treat a child that ended: always restart it, restart it
# after a crash only, or never.
RestartType = Literal["permanent", "transient", "temporary"]
