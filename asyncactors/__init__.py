"""asyncactors: asyncio-native actors with Ray's actor API.

>>> @asyncactors.remote
... class Counter:
...     def __init__(self, n=0): self.n = n
...     def incr(self, k=1): self.n += k; return self.n
>>> c = Counter.remote()
>>> await c.incr.remote(5)
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any
from typing import Final as _Final

from ._actor_class import ActorClass, MethodDef, method, remote
from ._exceptions import (
    ActorAlreadyExistsError,
    ActorDiedError,
    AsyncActorsError,
    CheckpointCorruptError,
    CheckpointError,
    DeadlockError,
    GetTimeoutError,
    MailboxFullError,
    PendingCallsLimitExceeded,
    TaskCancelledError,
)
from ._handle import ActorHandle, ActorMethod, typed
from ._ref import ObjectRef
from ._system import ActorSystem, init, shutdown
from ._types import ActorState, EventKind

if _TYPE_CHECKING:
    from ._api import exit_actor, get, get_actor, kill, put, set_resources, stop, wait
    from ._backoff import Backoff
    from ._batch import BatchMethod, batch
    from ._events import ActorEvent, ActorExitInfo, EventStream
    from ._info import ActorInfo
    from ._metrics import ActorStatistics, LatencyHistogram, LatencySummary
    from ._pool import ActorPool
    from ._resources import AssignedResources
    from ._runtime import RuntimeContext, get_runtime_context
    from ._statistics import GroupStatistics, SystemStatistics
    from ._stores import CheckpointStore, FileStore, MemoryStore
    from ._stream import StreamRef
    from ._stuck import StuckCall
    from ._supervisor import Supervisor
    from ._sync import get_sync, start_background

__all__ = [
    "ActorAlreadyExistsError",
    "ActorClass",
    "ActorDiedError",
    "ActorEvent",
    "ActorExitInfo",
    "ActorHandle",
    "ActorInfo",
    "ActorMethod",
    "ActorPool",
    "ActorState",
    "ActorStatistics",
    "ActorSystem",
    "AssignedResources",
    "AsyncActorsError",
    "Backoff",
    "BatchMethod",
    "CheckpointCorruptError",
    "CheckpointError",
    "CheckpointStore",
    "DeadlockError",
    "EventKind",
    "EventStream",
    "FileStore",
    "GetTimeoutError",
    "GroupStatistics",
    "LatencyHistogram",
    "LatencySummary",
    "MailboxFullError",
    "MemoryStore",
    "MethodDef",
    "ObjectRef",
    "PendingCallsLimitExceeded",
    "RuntimeContext",
    "StreamRef",
    "StuckCall",
    "Supervisor",
    "SystemStatistics",
    "TaskCancelledError",
    "batch",
    "exit_actor",
    "get",
    "get_actor",
    "get_runtime_context",
    "get_sync",
    "init",
    "kill",
    "method",
    "put",
    "remote",
    "set_resources",
    "shutdown",
    "start_background",
    "stop",
    "typed",
    "wait",
]

__version__ = "0.1.0.dev0"

# Names whose modules a program that never uses them need not import (anyio,
# msgpack, tempfile, ...: the sync bridge, the stores, the pool, statistics,
# streams, supervisors, resources; and the records, whose dataclasses take longer to make
# than most modules to load): each is imported on first use, by PEP 562's module
# __getattr__.
_LAZY: _Final = {
    "ActorEvent": "_events",
    "ActorExitInfo": "_events",
    "ActorInfo": "_info",
    "ActorPool": "_pool",
    "ActorStatistics": "_metrics",
    "AssignedResources": "_resources",
    "Backoff": "_backoff",
    "BatchMethod": "_batch",
    "CheckpointStore": "_stores",
    "EventStream": "_events",
    "FileStore": "_stores",
    "GroupStatistics": "_statistics",
    "LatencyHistogram": "_metrics",
    "LatencySummary": "_metrics",
    "MemoryStore": "_stores",
    "RuntimeContext": "_runtime",
    "StreamRef": "_stream",
    "StuckCall": "_stuck",
    "Supervisor": "_supervisor",
    "batch": "_batch",
    "SystemStatistics": "_statistics",
    "exit_actor": "_api",
    "get": "_api",
    "get_actor": "_api",
    "get_runtime_context": "_runtime",
    "get_sync": "_sync",
    "kill": "_api",
    "put": "_api",
    "set_resources": "_api",
    "start_background": "_sync",
    "stop": "_api",
    "wait": "_api",
}


def _publish(obj: _Any) -> None:
    # Make the objects' __module__ the public package, as in trio and anyio, so that
    # reprs, docs and pickling errors name the public path.
    if getattr(obj, "__module__", "").startswith("asyncactors._"):
        obj.__module__ = __name__


def __getattr__(name: str) -> _Any:
    """Import a lazily exported name's module on first use (PEP 562).

    Raises:
        AttributeError: ``name`` is not one of the package's names.
    """
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    obj = getattr(_importlib.import_module(f".{module}", __name__), name)
    _publish(obj)
    globals()[name] = obj
    return obj


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


for _name in __all__:
    if _name not in _LAZY:
        _publish(globals()[_name])
del _name
