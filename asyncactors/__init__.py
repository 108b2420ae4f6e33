"""asyncactors: asyncio-native actors with Ray's actor API.

>>> @asyncactors.remote
... class Counter:
...     def __init__(self, n=0): self.n = n
...     def incr(self, k=1): self.n += k; return self.n
>>> c = Counter.remote()
>>> await c.incr.remote(5)
"""

from ._actor_class import ActorClass, MethodDef, method, remote
from ._api import exit_actor, get, get_actor, kill, put, set_resources, stop, wait
from ._batch import BatchMethod, batch
from ._events import ActorEvent, ActorExitInfo, EventStream
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
from ._metrics import ActorStatistics, LatencyHistogram, LatencySummary
from ._pool import ActorPool
from ._ref import ObjectRef
from ._resources import AssignedResources
from ._runtime import RuntimeContext, get_runtime_context
from ._statistics import GroupStatistics, SystemStatistics
from ._stores import CheckpointStore, FileStore, MemoryStore
from ._stream import StreamRef
from ._supervisor import Backoff, Supervisor
from ._sync import get_sync, start_background
from ._system import ActorSystem, init, shutdown
from ._types import ActorInfo, ActorState, EventKind
from ._watchdog import StuckCall

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

# Make the objects' __module__ the public package, as in trio and anyio, so that
# reprs, docs and pickling errors name the public path.
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("asyncactors._"):
        _obj.__module__ = __name__
del _name, _obj
