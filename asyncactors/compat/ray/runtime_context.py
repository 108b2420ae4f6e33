"""``ray.runtime_context``: what running code can learn about where it runs."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import warnings
from typing import TYPE_CHECKING, Any

from ._driver import current_item
from ._refs import JobID, NodeID, TaskID, task_hex, task_number
from ._worker import NODE_IP, Runtime, runtime

if TYPE_CHECKING:
    from ..._runtime import RuntimeContext as NativeContext
    from ._exec import Target

__all__ = [
    "JobID",
    "NodeID",
    "RayDeprecationWarning",
    "RuntimeContext",
    "TaskID",
    "get_runtime_context",
]


class RayDeprecationWarning(DeprecationWarning):
    """Ray's warning for an API it keeps but deprecates (``RuntimeContext.get()``, ...)."""


def _deprecated(instead: str) -> None:
    warnings.warn(
        f"This API is deprecated and may be removed in future Ray releases.\nUse {instead} instead",
        RayDeprecationWarning,
        stacklevel=3,
    )


# The numbers of calls found by no other key: the actor's id and its count of
# finished calls, which stays put while a sync method holds the loop.
_inline_ids: dict[tuple[int, int], int] = {}


class RuntimeContext:
    """Ray's runtime context: the job, the node, and the actor running, if any."""

    def __init__(self, rt: Runtime, native: NativeContext) -> None:
        self._rt = rt
        self._native = native
        # Tasks run in a hidden actor: there, as in Ray's task workers, no actor is running.
        tasks = rt.tasks_core
        self._in_task = tasks is not None and native.actor_id == tasks.actor_id
        self._in_actor = native.actor_id is not None and not self._in_task

    def get(self) -> dict[str, Any]:
        """The job's and node's ids and the namespace, with the task's id inside a
        task or actor method and the actor's inside an actor, as a dict of id objects
        (``.hex()``); deprecated, as in Ray (``RayDeprecationWarning``)."""
        _deprecated("get_xxx_id() methods to get relevant ids")
        info: dict[str, Any] = {
            "job_id": JobID(self.get_job_id()),
            "node_id": NodeID(self.get_node_id()),
            "namespace": self.namespace,
        }
        task_id = self.get_task_id()
        if task_id is not None:
            info["task_id"] = TaskID(task_id)
        if self._in_actor:
            info["actor_id"] = self._actor_id()
        return info

    @property
    def job_id(self) -> JobID:
        """The job's id as an id object; deprecated, as in Ray."""
        _deprecated("get_job_id()")
        return JobID(self.get_job_id())

    @property
    def node_id(self) -> NodeID:
        """The node's id as an id object; deprecated, as in Ray."""
        _deprecated("get_node_id()")
        return NodeID(self.get_node_id())

    @property
    def task_id(self) -> TaskID | None:
        """The running task's id as an id object (``None`` in the driver); deprecated."""
        _deprecated("get_task_id()")
        task_id = self.get_task_id()
        return None if task_id is None else TaskID(task_id)

    @property
    def actor_id(self) -> Any:
        """The running actor's ``ActorID`` (``None`` outside an actor); deprecated."""
        _deprecated("get_actor_id()")
        return self._actor_id() if self._in_actor else None

    def _actor_id(self) -> Any:
        from .actor import ActorID

        return ActorID(self._native.actor_id or 0)

    def get_task_name(self) -> str | None:
        """The running task's name: ``Class.method`` for an actor method (``__init__``
        included), the function's name for a task; ``None`` in the driver."""
        running = _running_task()
        return None if running is None else running[1]

    def get_task_function_name(self) -> str | None:
        """The running task's function with its module: ``module.Class.method`` or
        ``module.function``; ``None`` in the driver."""
        running = _running_task()
        return None if running is None else ".".join(running)

    def get_temp_dir(self) -> str:
        """The node's temporary directory: the system's."""
        return tempfile.gettempdir()

    def get_session_name(self) -> str:
        """The name of this in-process cluster: one per ``ray.init()``."""
        return f"session_inprocess_{os.getpid()}_{self._rt.job_id}"

    def get_job_id(self) -> str:
        """The job's id, as hex."""
        return self._rt.job_id

    def get_node_id(self) -> str:
        """The node's id, as hex."""
        return self._rt.node_id

    def get_worker_id(self) -> str:
        """This worker's id: the job's, as all code runs in one worker process."""
        return self._rt.job_id.rjust(56, "0")

    def get_task_id(self) -> str | None:
        """The running task's or actor method call's id as 48 hex digits, one per call
        (the last 32 are the actor's id in an actor); ``None`` in the driver."""
        actor_id = self._native.actor_id
        if actor_id is None:
            return None
        number = _task_number(self._native)
        return task_hex(number, actor_id if self._in_actor else 0)

    def get_actor_id(self) -> str | None:
        """The running actor's id as hex, or ``None`` outside an actor (in a task too)."""
        return format(self._native.actor_id, "032x") if self._in_actor else None

    def get_actor_name(self) -> str | None:
        """The running actor's name, ``""`` if it has none (as Ray), ``None`` outside an actor."""
        if not self._in_actor:
            return None
        return self._native.name or ""

    @property
    def namespace(self) -> str:
        """The job's namespace: also inside an actor created in another one, as in Ray."""
        return self._rt.namespace

    @property
    def was_current_actor_reconstructed(self) -> bool:
        """Whether the running actor has been restarted (``max_restarts``).

        Raises:
            AssertionError: outside an actor (in the driver or a task), as Ray's
                assertion does: there is no actor to have been restarted.
        """
        if not self._in_actor:
            raise AssertionError(
                "was_current_actor_reconstructed is only available in an actor, "
                "not in the driver or a task"
            )
        return self._native.was_current_actor_reconstructed

    @property
    def current_actor(self) -> Any:
        """A handle to the running actor.

        Raises:
            RuntimeError: outside an actor (in a task too).
        """
        from .actor import wrap_handle

        if not self._in_actor:
            raise RuntimeError("This method is only available in an actor.")
        return wrap_handle(self._native.current_actor, self._rt)

    def get_assigned_resources(self) -> dict[str, float]:
        """What the running actor holds of the node's resources (its ``num_cpus`` ...),
        or what the running task asked for (``{"CPU": 1.0}`` by default): a plain dict,
        as Ray gives it."""
        if self._in_task:
            target = _running_target()
            if target is not None:
                from .actor import task_demand

                return task_demand({"num_cpus": 1, **target.options})
        return dict(self._native.get_assigned_resources())

    def get_accelerator_ids(self) -> dict[str, list[str]]:
        """The ids of the GPUs the running actor holds: ``{"GPU": ["0"]}``."""
        return self._native.get_accelerator_ids()

    def get_node_labels(self) -> dict[str, str]:
        """The node's labels: none."""
        return {}

    def get_runtime_env_string(self) -> str:
        """The job's runtime_env, as JSON: empty."""
        return "{}"

    @property
    def runtime_env(self) -> dict[str, Any]:
        """The job's runtime_env: empty."""
        return {}

    @property
    def gcs_address(self) -> str:
        """Where the cluster's control store would be: nowhere, in one process."""
        return f"{NODE_IP}:0"

    def get_placement_group_id(self) -> str | None:
        """The running code's placement group: none."""
        return None

    @property
    def current_placement_group_id(self) -> None:
        """The running code's placement group: none."""
        return None

    @property
    def should_capture_child_tasks_in_placement_group(self) -> bool:
        """Whether child tasks join the placement group: there is none."""
        return False

    def is_canceled(self) -> bool:
        """Whether the running call was cancelled (``ray.cancel``); a sync method that
        cannot be interrupted can poll this and return early."""
        item = current_item()
        if item is not None:
            return item.cancelled()
        return self._native.is_canceled()


def _running_frame() -> Any:
    """The frame of what runs the task, actor method or constructor whose code called
    this: a ``call_sync`` or ``call_async`` (its ``target``), or a constructor (its
    ``meta``), found up the stack (no bookkeeping per call for a question few ask)."""
    from ._exec import call_async, call_sync
    from .actor import RUNNERS

    runners = (call_sync.__code__, call_async.__code__, *RUNNERS)
    frame: Any = sys._getframe(2)
    while frame is not None and frame.f_code not in runners:
        frame = frame.f_back
    return frame


def _running_target() -> Target | None:
    """The task or actor method whose code called this (``None`` in a constructor)."""
    frame = _running_frame()
    if frame is None:
        return None
    target: Target | None = frame.f_locals.get("target")
    return target


def _running_task() -> tuple[str, str] | None:
    """The module and the name (``Class.method``, ``function``) of what called this."""
    frame = _running_frame()
    if frame is None:
        return None
    names = frame.f_locals
    target: Target | None = names.get("target")
    if target is not None:
        return target.func.__module__, target.label
    cls = names["meta"].cls
    return cls.__module__, f"{cls.__name__}.__init__"


def _task_number(native: NativeContext) -> int:
    """The number of the running call, as its refs' ``task_id()`` give it (keyed by the
    engine's call): found from the thread's item for sync code run off the loop, else
    from the engine's running call, the task that started this one, or the frame of
    a sync method running inline. Else (an actor's constructor) a number per actor
    and count of finished calls, which stays put while a sync method holds the loop."""
    key = _running_call(native)
    if key is None:
        core: Any = native._core
        inline = (native.actor_id or 0, getattr(core, "processed", 0))
        number = _inline_ids.get(inline)
        if number is None:
            _inline_ids.clear()  # only the running one matters
            number = _inline_ids[inline] = task_number()
        return number
    return task_number(key)


def _running_call(native: NativeContext) -> Any:
    """The engine's call whose code is running here (or the item that stands for it),
    if it can be found; asked only by ``get_task_id()``, so nothing is kept per call."""
    core: Any = native._core
    loop = asyncio._get_running_loop()
    # Off the actors' loop: a sync task's or method's item, also inside an event loop
    # of its own (asyncio.run() in a task).
    if loop is None or loop is not getattr(core, "loop", loop):
        item = current_item()
        if item is None:
            return native._call
        if item.call is not None:
            return item.call()
        # A threaded actor that runs one call at a time: it is the one running.
        workers = getattr(core, "workers", None)
        calls = [c for c in list(workers.values()) if c is not None] if workers else []
        return calls[0] if len(calls) == 1 else item
    call = native._call
    if call is not None:
        return call
    from ..._backends._local.tasks import origin_call  # here: few ask for task ids

    call = origin_call(asyncio.current_task())
    if call is not None:  # a task started by an async method: its call's, as in Ray
        return call
    return _inline_call()


def _inline_call() -> Any:
    """The call of the sync method running inline on the loop, from the engine's frame."""
    from ..._backends._local.dispatch import Dispatch

    code = Dispatch._run_inline.__code__
    frame: Any = sys._getframe(1)
    while frame is not None:
        if frame.f_code is code:
            return frame.f_locals.get("call")
        frame = frame.f_back
    return None


def get_runtime_context() -> RuntimeContext:
    """Ray's runtime context of the running code."""
    from ..._runtime import get_runtime_context as native_context  # loaded when first asked

    return RuntimeContext(runtime(), native_context())
