"""This process's Ray: used as found, or started by the first system that needs it.

A system uses the Ray this process has already initialised, and never shuts
it down. Otherwise the first Ray system calls ``ray.init()``; the Ray it
started is shut down when the last system using it has shut down.

A local Ray started here listens on the loopback interface only: Ray's
servers bind to all interfaces unless told that this is a single-machine
cluster (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``) and given 127.0.0.1 as the
node's address.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import ray

from ..._ref import logger

__all__ = ["acquire", "init_ray", "release", "starts_local"]

_lock = threading.Lock()
# Whether this process's Ray was started by an ActorSystem, and how many
# systems use it; the last one to shut down shuts it down.
_started_here = False
_users = 0

_LOOPBACK = "127.0.0.1"
_SINGLE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def starts_local(address: str | None, options: Mapping[str, Any]) -> bool:
    """Whether ``ray.init(address=address)`` would start a new local Ray.

    ``None`` starts one unless ``RAY_ADDRESS`` or the last local cluster
    (``/tmp/ray/ray_current_cluster``) names one to join, as ``ray.init`` decides.
    """
    if address == "local":
        return True
    if address is not None and address != "auto":
        return False
    try:
        from ray._private.services import canonicalize_bootstrap_address
    except ImportError:  # pragma: no cover - a Ray without this helper
        return address is None and not os.environ.get("RAY_ADDRESS")
    try:
        found = canonicalize_bootstrap_address(address, options.get("_temp_dir"))  # type: ignore[arg-type]
        return found is None
    except Exception:
        # An unreachable or malformed address: ray.init reports it better.
        return False


@contextlib.contextmanager
def _single_machine() -> Iterator[None]:
    """While Ray starts: a single-machine cluster, which binds to 127.0.0.1.

    Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` twice: its servers (and the
    processes they start) from the environment as they start, and this process
    when Ray is imported, as a constant that decides whether 127.0.0.1 is kept
    as the node's address or replaced by the machine's external address.
    """
    from ray._private import ray_constants

    previous = os.environ.get(_SINGLE_MACHINE)
    constant = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_SINGLE_MACHINE] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = constant
        if previous is None:
            os.environ.pop(_SINGLE_MACHINE, None)
        else:
            os.environ[_SINGLE_MACHINE] = previous


def init_ray(
    address: str | None, namespace: str | None, ray_init_options: Mapping[str, Any] | None
) -> None:
    """``ray.init(address=address, namespace=namespace, **ray_init_options)``; a
    new local Ray listens on 127.0.0.1 only, unless ``_node_ip_address`` says otherwise.

    Raises:
        Exception: whatever ``ray.init`` raises (a bad option, an unreachable address).
    """
    options = dict(ray_init_options or {})
    if starts_local(address, options) and "_node_ip_address" not in options:
        options["_node_ip_address"] = _LOOPBACK
        with _single_machine():
            ray.init(address=address, namespace=namespace, **options)
    else:
        ray.init(address=address, namespace=namespace, **options)


def acquire(
    address: str | None, namespace: str, ray_init_options: Mapping[str, Any] | None
) -> bool:
    """Make sure Ray is initialised; return whether the caller now shares a Ray
    started by asyncactors (and must ``release()`` it).

    Raises:
        Exception: whatever ``ray.init`` raises (a bad option, an unreachable address).
    """
    global _started_here, _users
    with _lock:
        if ray.is_initialized():
            if _started_here:
                _users += 1
                return True
            if address is not None or ray_init_options:
                logger.warning(
                    "Ray is already initialised in this process: the actor system uses it "
                    "and ignores its address=%r and ray_init_options=%r",
                    address,
                    ray_init_options,
                )
            return False
        init_ray(address, namespace, ray_init_options)
        _started_here = True
        _users = 1
        return True


def release() -> None:
    """One system is done with the Ray asyncactors started; the last one shuts it down."""
    global _started_here, _users
    with _lock:
        _users -= 1
        if _users > 0 or not _started_here:
            return
        _started_here = False
        if ray.is_initialized():
            ray.shutdown()
