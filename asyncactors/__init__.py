"""asyncactors: asyncio-native actors with Ray's actor API.

>>> @asyncactors.remote
... class Counter:
...     def __init__(self, n=0): self.n = n
...     def incr(self, k=1): self.n += k; return self.n
>>> c = Counter.remote()
>>> await c.incr.remote(5)
"""

from ._actor_class import ActorClass, MethodDef, method, remote
from ._api import get, get_actor, kill, put, stop, wait
from ._context import RuntimeContext, get_runtime_context
from ._core import ActorState, exit_actor
from ._events import ActorEvent, ActorExitInfo, EventStream
from ._exceptions import (
    ActorAlreadyExistsError,
    ActorDiedError,
    AsyncActorsError,
    CheckpointCorruptError,
    CheckpointError,
    GetTimeoutError,
    MailboxFullError,
    PendingCallsLimitExceeded,
    TaskCancelledError,
)
from ._handle import ActorHandle, ActorMethod, typed
from ._pool import ActorPool
from ._ref import ObjectRef
from ._statistics import (
    ActorStatistics,
    GroupStatistics,
    LatencyHistogram,
    LatencySummary,
    SystemStatistics,
)
from ._stores import CheckpointStore, FileStore, MemoryStore
from ._supervisor import Backoff, Supervisor
from ._system import ActorInfo, ActorSystem, init, shutdown
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
    "AsyncActorsError",
    "Backoff",
    "CheckpointCorruptError",
    "CheckpointError",
    "CheckpointStore",
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
    "StuckCall",
    "Supervisor",
    "SystemStatistics",
    "TaskCancelledError",
    "exit_actor",
    "get",
    "get_actor",
    "get_runtime_context",
    "init",
    "kill",
    "method",
    "put",
    "remote",
    "shutdown",
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
