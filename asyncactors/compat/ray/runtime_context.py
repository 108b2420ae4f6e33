"""``ray.runtime_context``: what running code can learn about where it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._driver import current_item
from ._worker import NODE_IP, Runtime, runtime

if TYPE_CHECKING:
    from ..._runtime import RuntimeContext as NativeContext

__all__ = ["RuntimeContext", "get_runtime_context"]


class RuntimeContext:
    """Ray's runtime context: the job, the node, and the actor running, if any."""

    def __init__(self, rt: Runtime, native: NativeContext) -> None:
        self._rt = rt
        self._native = native
        # A task runs in the runtime's hidden actor: for Ray it runs in no actor.
        self._in_task = native._core is not None and native._core is rt.tasks_core

    def get(self) -> dict[str, Any]:
        """The job, node, namespace and (inside an actor) actor ids, as a dict."""
        info: dict[str, Any] = {
            "job_id": self.get_job_id(),
            "node_id": self.get_node_id(),
            "namespace": self.namespace,
        }
        if self._native.actor_id is not None and not self._in_task:
            info["actor_id"] = self.get_actor_id()
        return info

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
        """The running task's id (``None`` in the driver); not tracked, the id of the
        actor running it stands in (for tasks, the runtime's hidden one)."""
        actor_id = self._native.actor_id
        return None if actor_id is None else format(actor_id, "048x")

    def get_actor_id(self) -> str | None:
        """The running actor's id as hex, or ``None`` outside an actor."""
        actor_id = self._native.actor_id
        return None if actor_id is None or self._in_task else format(actor_id, "032x")

    def get_actor_name(self) -> str | None:
        """The running actor's name, or ``None``."""
        return None if self._in_task else self._native.name

    @property
    def namespace(self) -> str:
        """The namespace of the job (or of the running actor)."""
        return self._native.namespace or self._rt.namespace

    @property
    def was_current_actor_reconstructed(self) -> bool:
        """Whether the running actor has been restarted (``max_restarts``)."""
        return self._native.was_current_actor_reconstructed

    @property
    def current_actor(self) -> Any:
        """A handle to the running actor.

        Raises:
            RuntimeError: outside an actor.
        """
        from .actor import wrap_handle

        if self._in_task:
            raise RuntimeError("get_runtime_context().current_actor is only set inside an actor")
        return wrap_handle(self._native.current_actor, self._rt)

    def get_assigned_resources(self) -> dict[str, float]:
        """What the running actor holds of the node's resources (its ``num_cpus`` ...):
        a plain dict, as Ray gives it."""
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


def get_runtime_context() -> RuntimeContext:
    """Ray's runtime context of the running code."""
    from ..._runtime import get_runtime_context as native_context  # loaded when first asked

    return RuntimeContext(runtime(), native_context())
