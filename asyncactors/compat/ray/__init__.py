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

from . import actor, exceptions, remote_function, runtime_context, util
from ._alias import install_as_ray
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
