"""The in-process "cluster": ``ray.init()``, ``ray.shutdown()`` and what they own.

One ``Runtime`` at a time: an ``ActorSystem`` on the ``Driver``'s loop, the
node's resources, and the hidden actor that runs tasks. As in Ray, the first
use without ``init()`` starts one, also after ``shutdown()``.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final

from ..._options import check_resource_amounts
from ..._system import ActorSystem
from ._driver import Driver, outlived

__all__ = [
    "NODE_IP",
    "RayContext",
    "Runtime",
    "check_runtime_env",
    "current",
    "init",
    "is_initialized",
    "runtime",
    "shutdown",
]

NODE_IP: Final = "127.0.0.1"

# ray.init()'s keyword arguments that mean nothing in one process: accepted, ignored.
_IGNORED_INIT: Final = frozenset(
    {
        "address",
        "labels",
        "object_store_memory",
        "local_mode",
        "include_dashboard",
        "dashboard_host",
        "dashboard_port",
        "job_config",
        "configure_logging",
        "logging_level",
        "logging_format",
        "logging_config",
        "log_to_driver",
        "enable_resource_isolation",
        "cgroup_path",
        "system_reserved_cpu",
        "system_reserved_memory",
        "proxy_server_url",
    }
)

# runtime_env fields that would install or fetch something for the workers.
_RUNTIME_ENV_INSTALLS: Final = (
    "pip",
    "conda",
    "uv",
    "container",
    "image_uri",
    "py_modules",
    "py_executable",
)
# Fields that change nothing here.
_RUNTIME_ENV_IGNORED: Final = (
    "config",
    "eager_install",
    "worker_process_setup_hook",
    "_ray_commit",
)


def check_runtime_env(env: Any, where: str, *, job: bool = False) -> None:
    """Refuse what a ``runtime_env`` asks that one process cannot do; ignore the rest.

    ``env_vars`` of the job (``ray.init``) are set in this process; an actor's
    or task's own cannot be, and are refused. ``working_dir`` must be the
    current directory.

    Raises:
        UnsupportedFeatureError: an install (pip, conda, uv, container,
            py_modules), per-actor or per-task ``env_vars``, or another
            ``working_dir``.
        TypeError: ``env`` is not a dict.
    """
    if env is None:
        return
    if not isinstance(env, Mapping):
        raise TypeError(f"runtime_env must be a dict, got {type(env).__name__}")
    from .exceptions import UnsupportedFeatureError  # here: most programs give no runtime_env

    for key, value in env.items():
        if key in _RUNTIME_ENV_INSTALLS:
            raise UnsupportedFeatureError(
                f"runtime_env[{key!r}] ({where})",
                "there are no worker processes to install anything for; install it in "
                "this environment instead",
            )
        if key == "env_vars":
            if not job:
                raise UnsupportedFeatureError(
                    f"runtime_env['env_vars'] ({where})",
                    "actors and tasks share the process's environment; set them in "
                    "ray.init(runtime_env=...) or in the environment",
                )
        elif key == "working_dir":
            if value is not None and os.path.realpath(str(value)) != os.path.realpath(os.getcwd()):
                raise UnsupportedFeatureError(
                    f"runtime_env['working_dir'] = {value!r} ({where})",
                    "tasks run in this process's current directory",
                )
        elif key not in _RUNTIME_ENV_IGNORED:
            raise UnsupportedFeatureError(
                f"runtime_env[{key!r}] ({where})", "only env_vars and working_dir apply in-process"
            )


class Runtime:
    """What ``ray.init()`` starts: the loop, the actor system, the node's resources."""

    def __init__(
        self,
        *,
        namespace: str | None,
        num_cpus: float | None,
        num_gpus: float | None,
        resources: Mapping[str, float] | None,
    ) -> None:
        self.driver = Driver()
        self.namespace = namespace if namespace is not None else _uuid4()
        capacity: dict[str, Any] = {
            "CPU": float(num_cpus if num_cpus is not None else (os.cpu_count() or 1))
        }
        if num_gpus:
            capacity["GPU"] = num_gpus
        capacity.update({k: float(v) for k, v in (resources or {}).items()})
        # Actors' num_cpus, num_gpus, memory and resources reserve the system's
        # capacity (see Resources): an actor that does not fit waits, as in Ray.
        # No watchdog: it watches one thread's stack for an actor holding the loop,
        # and here the loop runs in whichever thread blocks on it (see _driver).
        self.system = ActorSystem(
            namespace=self.namespace, resources=capacity, block_warning_s=None
        )
        self.system._bind(self.driver.loop)
        # get_task_id() in an asyncio task that an async method started is the method's.
        from ..._backends._local.tasks import track_origins  # here: with the engine

        track_origins()
        # No thread is the loop's for good: the engine hands work to it thread-safely.
        self.system._host.thread_id = None
        self.job_id = self.driver.job_id = format(_next_job(), "08x")
        self.node_id = os.urandom(28).hex()
        # What Ray's node has beside the logical resources: see _extras().
        self._node_extras: dict[str, float] | None = None
        # What running tasks hold (actors' reservations are the system's).
        self._tasks_use: dict[str, float] = {}
        self._tasks_lock = threading.Lock()
        # The hidden actor that runs tasks, made on the first task.
        self.tasks: Any = None
        self.tasks_core: Any = None

    def use(self, demand: Mapping[str, float], sign: int) -> None:
        """Count a running task's ``demand`` as in use (``sign`` 1) or free again (-1)."""
        with self._tasks_lock:
            for key, amount in demand.items():
                self._tasks_use[key] = self._tasks_use.get(key, 0.0) + sign * amount

    def _extras(self) -> dict[str, float]:
        """What Ray's node has beside the logical resources (worked out when first asked)."""
        extras = self._node_extras
        if extras is None:
            from ..._resources import machine_memory  # here: loaded with the system's ledger

            extras = self._node_extras = {
                "object_store_memory": float(machine_memory() // 3),
                f"node:{NODE_IP}": 1.0,
                "node:__internal_head__": 1.0,
            }
        return extras

    def cluster(self) -> dict[str, float]:
        """The node's resources, as Ray's ``cluster_resources()``."""
        return {**self.system.cluster_resources(), **self._extras()}

    def available(self) -> dict[str, float]:
        """The node's resources not reserved by actors nor held by running tasks."""
        with self._tasks_lock:
            used = dict(self._tasks_use)
        free = {**self.system.available_resources(), **self._extras()}
        free = {k: v - used.get(k, 0.0) for k, v in free.items()}
        return {k: v for k, v in free.items() if v > 0}

    def close(self) -> None:
        """Kill every actor at once, as Ray's shutdown does, and stop the loop and threads."""
        self.driver.close(self.system.shutdown(timeout=0))


def _uuid4() -> str:
    """A random UUID (version 4) as text, as ``str(uuid.uuid4())``, without importing
    ``uuid`` (and ``platform`` with it) at ``ray.init()``."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_jobs = 0


def _next_job() -> int:
    global _jobs
    _jobs += 1
    return _jobs


_runtime: Runtime | None = None
_lock = threading.RLock()
_exit_hooked = False


class RayContext:
    """What ``ray.init()`` returns: the in-process node's details; a context manager
    that shuts Ray down on exit."""

    def __init__(self, rt: Runtime) -> None:
        self.address_info = {
            "node_ip_address": NODE_IP,
            "address": "in-process",
            "node_id": rt.node_id,
            "session_dir": None,
            "webui_url": None,
        }
        self.dashboard_url: str | None = None
        self.python_version = ".".join(map(str, sys.version_info[:3]))
        self.ray_version = "in-process"
        self.namespace = rt.namespace

    def __getitem__(self, key: str) -> Any:
        return self.address_info[key]

    def __enter__(self) -> RayContext:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        shutdown()

    def disconnect(self) -> None:
        """Shut Ray down."""
        shutdown()


def _check_node(num_cpus: object, num_gpus: object, resources: object) -> None:
    """Check what ``ray.init`` says the node has (see ``init``), naming what is wrong."""
    if resources is not None:
        check_resource_amounts(resources, "ray.init(resources=...)")
    for option, amount in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
        if amount is not None:
            check_resource_amounts({option: amount}, "ray.init()")


def init(
    address: str | None = None,
    *,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    resources: Mapping[str, float] | None = None,
    namespace: str | None = None,
    runtime_env: Mapping[str, Any] | None = None,
    ignore_reinit_error: bool = False,
    **kwargs: Any,
) -> RayContext:
    """Start Ray in this process: an actor system on an event loop run by the blocked threads.

    ``num_cpus``, ``num_gpus`` and ``resources`` describe the node
    (``ray.cluster_resources()``); ``namespace`` holds named actors;
    ``runtime_env`` may set the job's ``env_vars`` (in this process's
    environment). Ray's other keyword arguments (``address``, ``local_mode``,
    ``include_dashboard``, ``object_store_memory``, logging, ``_system_config``
    and the rest beginning with ``_``) are accepted and ignored.

    Raises:
        RuntimeError: Ray is already initialized (unless ``ignore_reinit_error``).
        TypeError: an unknown keyword argument; ``resources`` not a dict of names to
            numbers, or ``num_cpus``/``num_gpus`` not a number.
        ValueError: a negative, NaN or infinite amount (the message names it).
        UnsupportedFeatureError: a ``runtime_env`` that needs installs.
    """
    global _runtime
    unknown = sorted(k for k in kwargs if k not in _IGNORED_INIT and not k.startswith("_"))
    if unknown:
        raise TypeError(f"Unknown keyword argument(s): {', '.join(unknown)}")
    if namespace is not None and (not isinstance(namespace, str) or not namespace):
        raise ValueError(f"namespace must be a non-empty str, got {namespace!r}")
    check_runtime_env(runtime_env, "ray.init", job=True)
    _check_node(num_cpus, num_gpus, resources)
    with _lock:
        if _runtime is not None:
            if ignore_reinit_error:
                return RayContext(_runtime)
            raise RuntimeError(
                "Maybe you called ray.init twice by accident? This error can be suppressed "
                "by passing in 'ignore_reinit_error=True' or by calling 'ray.shutdown()' "
                "prior to 'ray.init()'."
            )
        if runtime_env and runtime_env.get("env_vars"):
            os.environ.update({str(k): str(v) for k, v in runtime_env["env_vars"].items()})
        _runtime = Runtime(
            namespace=namespace, num_cpus=num_cpus, num_gpus=num_gpus, resources=resources
        )
        global _exit_hooked
        if not _exit_hooked:
            # As Ray: a program that never calls shutdown() has it called at exit.
            atexit.register(shutdown)
            _exit_hooked = True
        return RayContext(_runtime)


def shutdown(_exiting_interpreter: bool = False) -> None:
    """Stop Ray: kill every actor (their pending calls fail), stop the loop and its threads.

    Idempotent. The next ``ray.init()``, or the next use, starts afresh.

    Raises:
        RuntimeError: called inside an async actor method (on the event loop).
    """
    global _runtime
    with _lock:
        rt = _runtime
        if rt is None:
            return
        rt.close()
        _runtime = None


def is_initialized() -> bool:
    """Whether Ray is running in this process."""
    return _runtime is not None


def current() -> Runtime | None:
    """The running ``Runtime``, if any."""
    return _runtime


def runtime() -> Runtime:
    """The running ``Runtime``, started with defaults if there is none (Ray's auto-init)."""
    rt = _runtime
    if rt is not None:
        return rt
    if outlived():
        raise RuntimeError(
            "ray.shutdown() was called while this task or actor method ran; it cannot "
            "use Ray any more (Ray would have stopped its worker process)"
        )
    with _lock:
        if _runtime is None:
            init()
        assert _runtime is not None
        return _runtime
