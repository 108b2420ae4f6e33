"""Ray's API in one process: ``import asyncactors.compat.ray as ray``.

Code written for Ray's actors and tasks runs unchanged on asyncactors: in
this process, with no cluster to start, at microseconds per call. What a
program using actors touches is here with Ray's names and semantics:
``init``/``shutdown``, ``@ray.remote`` on classes and functions, ``get``,
``wait``, ``put``, ``kill``, ``cancel``, ``get_actor``, ``method``,
``get_runtime_context``, ``ray.util.ActorPool``, ``ray.exceptions`` ...

Where the event loop runs: in whichever thread blocks on it. A thread
waiting in ``ray.get`` runs the actors' loop itself, and runs threaded
actors' methods between its turns, so a sequential call from a sync driver
costs no thread hand-off. A helper thread runs the loop while nobody does,
so background work goes on (see ``_driver``).

Semantics as Ray's where they differ from asyncactors' own: arguments and
results are copied (pickle protocol 5); a task's exception arrives as
``RayTaskError`` and as its own class; sync methods of a class without async
methods run off the loop, one at a time; ``ray.get`` inside an async method
raises (``await`` the ref instead). What cannot exist in one process is
accepted and ignored where that is safe (placement, scheduling strategies,
``object_store_memory``) or refused with ``UnsupportedFeatureError``
(``runtime_env`` installs).
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any
from typing import Final as _Final

from . import actor
from ._api import (
    available_resources,
    cancel,
    cluster_resources,
    get,
    get_actor,
    get_gpu_ids,
    kill,
    nodes,
    put,
    remote,
    wait,
)
from ._refs import ObjectRef, ObjectRefGenerator
from ._worker import RayContext, init, is_initialized, shutdown
from .actor import ActorClass, ActorHandle, ActorID, method

if _TYPE_CHECKING:
    from . import exceptions, remote_function, runtime_context, util
    from ._alias import install_as_ray
    from .runtime_context import get_runtime_context

__all__ = [
    "ActorClass",
    "ActorHandle",
    "ActorID",
    "ObjectRef",
    "ObjectRefGenerator",
    "RayContext",
    "actor",
    "available_resources",
    "cancel",
    "cluster_resources",
    "exceptions",
    "get",
    "get_actor",
    "get_gpu_ids",
    "get_runtime_context",
    "init",
    "install_as_ray",
    "is_initialized",
    "kill",
    "method",
    "nodes",
    "put",
    "remote",
    "remote_function",
    "runtime_context",
    "shutdown",
    "util",
    "wait",
]

# The Ray release whose API this follows.
__version__ = "2.60.0"

# Submodules and names that many programs never touch, or only once something
# fails (ray.exceptions, ray.util, task functions, the runtime context, installing
# this module as `ray`): each is imported on first use, by PEP 562's module
# __getattr__, as `import ray.util` would.
_LAZY_MODULES: _Final = frozenset({"exceptions", "remote_function", "runtime_context", "util"})
_LAZY_NAMES: _Final = {"get_runtime_context": "runtime_context", "install_as_ray": "_alias"}


def __getattr__(name: str) -> _Any:
    """Import a lazily loaded submodule or name on first use (PEP 562).

    Raises:
        AttributeError: ``name`` is not one of the module's names.
    """
    if name in _LAZY_MODULES:
        # Importing a submodule sets it as this module's attribute too.
        return _importlib.import_module(f".{name}", __name__)
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    obj = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = obj
    return obj


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
