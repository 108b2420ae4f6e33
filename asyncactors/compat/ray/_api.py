"""Ray's module functions: ``get``, ``wait``, ``put``, ``kill``, ``cancel``, ``get_actor`` ..."""

from __future__ import annotations

import contextlib
import inspect
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..._handle import ActorHandle as NativeHandle
from ..._ref import ObjectRef as NativeRef
from ..._system import check_actor_lookup
from ._driver import LoopThreadError
from ._refs import NIL_USE, ObjectRef, ObjectRefGenerator, values
from ._serialization import serialize
from ._worker import NODE_IP, runtime
from .actor import ActorClass, ActorHandle, make_actor_class, wrap_handle

if TYPE_CHECKING:
    from .remote_function import RemoteFunction

__all__ = [
    "available_resources",
    "cancel",
    "cluster_resources",
    "get",
    "get_actor",
    "get_gpu_ids",
    "kill",
    "nodes",
    "put",
    "remote",
    "wait",
]


def remote(*args: Any, **options: Any) -> Any:
    """``@ray.remote`` or ``@ray.remote(**options)`` on a class (an actor) or a function (a task).

    Raises:
        TypeError: not a class or function, or options and a target together.
        ValueError: an unknown option, or one that does not apply to the target.
    """
    if len(args) == 1 and not options and callable(args[0]):
        return _make(args[0], {})
    if args:
        raise TypeError(
            "The @ray.remote decorator must be applied either with no arguments and no "
            "parentheses, for example '@ray.remote', or it must be applied using some of "
            "the arguments in the list ['num_returns', 'num_cpus', 'num_gpus', 'memory', "
            "'max_calls', 'max_restarts', ...], for example '@ray.remote(num_returns=2, "
            'resources={"CustomResource": 1})\'.'
        )

    def decorate(target: Any) -> Any:
        return _make(target, options)

    return decorate


def _make(target: Any, options: dict[str, Any]) -> ActorClass | RemoteFunction:
    if inspect.isclass(target):
        return make_actor_class(target, options)
    if inspect.isfunction(target) or inspect.ismethod(target) or inspect.isbuiltin(target):
        # Here: a program of actors alone never loads the tasks' module.
        from .remote_function import make_remote_function

        return make_remote_function(target, options)
    raise TypeError(
        "The @ray.remote decorator must be applied to either a function or a class, "
        f"got {type(target).__name__}"
    )


def _check_timeout(timeout: object) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be a number or None, got {type(timeout).__name__}")
    if timeout < 0:
        raise ValueError(f"The 'timeout' argument must be nonnegative. Received {timeout}")
    if not timeout >= 0:  # NaN
        raise ValueError(f"'timeout' must be a non-negative number, got {timeout}")


def _on_loop_error(api: str) -> RuntimeError:
    return RuntimeError(
        f"ray.{api}() would block the event loop that runs this async actor (and every "
        "other actor): use 'await ref' or 'await asyncio.gather(*refs)' inside async "
        "methods, or 'await asyncio.wait([asyncio.ensure_future(r) for r in refs])' "
        "instead of ray.wait()"
    )


def get(object_refs: Any, *, timeout: float | None = None) -> Any:
    """The value of a ref, or the values of a list of refs in order (new copies).

    Blocks this thread; meanwhile it runs the actors' event loop itself.
    ``timeout=-1`` waits without limit, as ``None`` does. An
    ``ObjectRefGenerator`` is given back as it is, as Ray does.

    Raises:
        GetTimeoutError: not every value was ready within ``timeout`` seconds.
        RayTaskError: a task or method raised (also an instance of its exception's class).
        ActorDiedError: the actor died before finishing the call.
        TaskCancelledError: the call was cancelled.
        ValueError: ``object_refs`` is neither a ref nor a list, or ``timeout``
            is negative (other than -1) or NaN, or the nil ref is among them.
        TypeError: the list holds something other than refs.
        RuntimeError: called inside an async actor's method, where it would
            block the event loop (use ``await``).
    """
    if isinstance(object_refs, ObjectRefGenerator):
        return object_refs  # as Ray gives it back: iterate it for the refs of its items
    single = isinstance(object_refs, ObjectRef)
    if single:
        refs = [object_refs]
    elif isinstance(object_refs, list):
        refs = object_refs
        for r in refs:
            if not isinstance(r, ObjectRef):
                raise TypeError(
                    f"Attempting to call `get` on the value {r!r}, which is not an ray.ObjectRef."
                )
    else:
        raise ValueError(
            f"Invalid type of object refs, {type(object_refs)}, is given. "
            "'object_refs' must either be an ObjectRef or a list of ObjectRefs. "
        )
    if timeout == -1:  # Ray's "no timeout" (its other negative timeouts crash it)
        timeout = None
    _check_timeout(timeout)
    if refs:
        driver = refs[0]._driver
        try:
            # As Ray's, a get of several refs raises as soon as one of them fails.
            ready = driver.wait(
                [r._native for r in refs],
                len(refs),
                timeout,
                [r._call for r in refs],
                fail_fast=len(refs) > 1,
            )
        except LoopThreadError:
            raise _on_loop_error("get") from None
        if not ready:
            from .exceptions import GetTimeoutError

            raise GetTimeoutError("Get timed out: some object(s) not ready.")
    if single:
        return object_refs._value()
    return values(refs)


def wait(
    ray_waitables: list[Any],
    *,
    num_returns: int = 1,
    timeout: float | None = None,
    fetch_local: bool = True,
) -> tuple[list[Any], list[Any]]:
    """Wait until ``num_returns`` of the refs are ready (failed counts) or ``timeout`` passes.

    Returns ``(ready, not_ready)``, each in input order; ``ready`` holds at
    most ``num_returns`` refs. ``fetch_local`` changes nothing: every value is local.

    Raises:
        TypeError: not a list of refs.
        ValueError: duplicate refs, the nil ref, ``num_returns`` outside 1..len, a
            negative timeout.
        RuntimeError: called inside an async actor's method with a timeout
            other than 0 (use ``asyncio.wait``).
    """
    if isinstance(ray_waitables, ObjectRef | ObjectRefGenerator):
        raise TypeError(
            "wait() expected a list of ray.ObjectRef or ray.ObjectRefGenerator, got a "
            f"single ray.ObjectRef or ray.ObjectRefGenerator {ray_waitables}"
        )
    if not isinstance(ray_waitables, list):
        raise TypeError(
            "wait() expected a list of ray.ObjectRef or ray.ObjectRefGenerator, "
            f"got {type(ray_waitables)}"
        )
    natives: list[NativeRef[Any]] = []
    for r in ray_waitables:
        if isinstance(r, ObjectRef):
            if r.is_nil():
                raise ValueError(NIL_WAIT)
            natives.append(r._native)
        elif isinstance(r, ObjectRefGenerator):
            natives.append(r._stream.slot(r._i))
        else:
            raise TypeError(
                "wait() expected a list of ray.ObjectRef or ray.ObjectRefGenerator, "
                f"got list containing {type(r)}"
            )
    _check_timeout(timeout)
    if not natives:
        return [], []
    if len(set(map(id, natives))) != len(natives):
        raise ValueError("Wait requires a list of unique ray_waitables.")
    if isinstance(num_returns, bool) or not isinstance(num_returns, int):
        raise TypeError(f"num_returns must be an int, got {type(num_returns).__name__}")
    if num_returns <= 0:
        raise ValueError(f"Invalid number of objects to return {num_returns}.")
    if num_returns > len(natives):
        raise ValueError(
            "num_returns cannot be greater than the number of ray_waitables provided to ray.wait."
        )
    if natives:
        driver = (
            ray_waitables[0]._driver
            if isinstance(ray_waitables[0], ObjectRef)
            else ray_waitables[0]._completed._driver
        )
        calls = [r._call if isinstance(r, ObjectRef) else None for r in ray_waitables]
        try:
            driver.wait(natives, num_returns, timeout, calls)
        except LoopThreadError:
            raise _on_loop_error("wait") from None
    ready: list[Any] = []
    not_ready: list[Any] = []
    for r, n in zip(ray_waitables, natives, strict=True):
        (ready if n._state and len(ready) < num_returns else not_ready).append(r)
    return ready, not_ready


def put(value: Any, *, _owner: Any = None) -> ObjectRef:
    """Store a copy of ``value``; return a ref to it.

    Raises:
        TypeError: ``value`` is an ObjectRef, or cannot be serialized.
    """
    if isinstance(value, ObjectRef):
        raise TypeError(
            "Calling 'put' on an ray.ObjectRef is not allowed. If you really want to do "
            "this, you can wrap the ray.ObjectRef in a list and call 'put' on it."
        )
    payload = serialize(value, "the value")
    rt = runtime()
    ref: NativeRef[Any] = NativeRef(rt.driver.loop)
    ref._set_result(payload)
    return ObjectRef(ref, rt.driver, None)


# Ray's words for ray.wait() of the nil ref (a space where ray.get's have none).
NIL_WAIT = NIL_USE.replace("(NIL_ID)", "(NIL_ID )")


def _check_handle(actor: object, api: str) -> ActorHandle:
    if not isinstance(actor, ActorHandle):
        raise ValueError(
            f"ray.{api}() only supported for actors. For tasks, try ray.cancel(). "
            f"Got: {type(actor)}."
        )
    return actor


def kill(actor: Any, *, no_restart: bool = True) -> None:
    """Kill an actor at once: its pending calls fail with ``ActorDiedError``.

    With ``no_restart=False`` it restarts if ``max_restarts`` allows, its
    queued calls surviving.

    Raises:
        ValueError: ``actor`` is not an actor handle.
    """
    handle = _check_handle(actor, "kill")
    handle._rt.driver.call_on_loop(_kill, handle._native, no_restart)


def _kill(native: NativeHandle[Any], no_restart: bool) -> None:
    native._core.kill(no_restart=no_restart, by="ray.kill")


def cancel(ray_waitable: Any, *, force: bool = False, recursive: bool = True) -> None:
    """Cancel the task or actor call behind a ref; ``ray.get`` on it then raises
    ``TaskCancelledError``.

    A queued call never runs; a running async one is cancelled; a running sync
    one cannot be interrupted and goes on, its result dropped (it can poll
    ``ray.get_runtime_context().is_canceled()``). ``recursive`` changes nothing:
    tasks the cancelled one started are not cancelled.

    Raises:
        TypeError: not an ObjectRef or ObjectRefGenerator, or the nil ref.
        ValueError: ``force=True`` for an actor call, as in Ray.
    """
    if isinstance(ray_waitable, ObjectRefGenerator):
        ray_waitable = ray_waitable._completed
    if not isinstance(ray_waitable, ObjectRef):
        raise TypeError(
            "ray.cancel() only supported for object refs. For actors, try ray.kill(). "
            f"Got: {type(ray_waitable)}."
        )
    if ray_waitable.is_nil():
        raise TypeError("No owner found for object.")
    call = ray_waitable._call
    if call is None:
        return
    if force:
        rt = runtime()
        if getattr(call, "_core", None) is not rt.tasks_core:
            raise ValueError(
                "force=True is not supported for actor tasks; use ray.kill() to stop the actor"
            )
    # A closed loop (after ray.shutdown()) runs nothing more: nothing to cancel.
    with contextlib.suppress(RuntimeError):
        ray_waitable._driver.call_on_loop(_cancel, call, force, ray_waitable._task)


def _cancel(call: NativeRef[Any], force: bool, task: str | None) -> None:
    from ..._backends._local.call import RUNNING  # here: few programs cancel

    running = getattr(call, "_pos", None) == RUNNING
    cancel: Callable[[], Any] = getattr(call, "_cancel", call.cancel)
    if cancel() and running and not force:
        # Stopped while it ran: for Ray an interrupted task or a cancelled asyncio
        # task, whose caller gets a RayTaskError(TaskCancelledError) (pending, or
        # killed with force=True: a plain TaskCancelledError).
        exc: Any = call._exc
        exc.ray_error = _interrupted_error(call, task)


def _interrupted_error(call: Any, task: str | None) -> BaseException:
    """The error of a call (of task ``task``, if one) cancelled while it ran: a
    ``RayTaskError(TaskCancelledError)`` naming its task id, as Ray's."""
    from ._exec import call_error
    from .exceptions import RayTaskError, TaskCancelledError

    core = call._core
    meta = vars(core.spec.cls).get("_compat_meta")
    ref = ObjectRef(call, runtime().driver, call, task)
    cancelled = TaskCancelledError(ref.task_id())
    if meta is None:  # a task
        err = call_error(cancelled, task or call._spec.name, None, core)
    else:
        label = f"{meta.name}.{call._spec.name.removeprefix('ray:')}"
        err = call_error(cancelled, label, core.instance._obj, core)
    assert isinstance(err, RayTaskError)
    kind = type(cancelled)
    # No frames to show: the code ran on in its thread, or its asyncio task was cancelled.
    err._traceback_str = (
        f"Traceback (most recent call last):\n{kind.__module__}.{kind.__qualname__}: {cancelled}\n"
    )
    return err


def get_actor(name: str, namespace: str | None = None) -> ActorHandle:
    """A handle to the live actor named ``name`` in ``namespace`` (default: the job's).

    Raises:
        ValueError: no such actor, or an empty name.
    """
    check_actor_lookup(name, namespace)
    rt = runtime()
    try:
        native = rt.system.get_actor(name, namespace)
    except ValueError:
        ns = namespace if namespace is not None else rt.namespace
        raise ValueError(
            f"Failed to look up actor with name '{name}' in namespace '{ns}'. This could "
            "be because 1. You are trying to look up a named actor you didn't create. "
            "2. The named actor died. 3. You did not use a namespace matching the "
            "namespace of the actor."
        ) from None
    return wrap_handle(native, rt)


def cluster_resources() -> dict[str, float]:
    """The resources of the one node: ``CPU`` (``num_cpus``), ``GPU``, ``memory``, custom ones."""
    return runtime().cluster()


def available_resources() -> dict[str, float]:
    """The node's resources not held by live actors (their ``num_cpus`` etc.) and running tasks."""
    return runtime().available()


def nodes() -> list[dict[str, Any]]:
    """The one node, in Ray's format (its keys; no ports or sockets: -1, 0 or empty)."""
    rt = runtime()
    return [
        {
            "NodeID": rt.node_id,
            "Alive": True,
            "NodeManagerAddress": NODE_IP,
            "NodeManagerHostname": socket.gethostname(),
            "NodeManagerPort": 0,
            "ObjectManagerPort": 0,
            "ObjectStoreSocketName": "",
            "RayletSocketName": "",
            "MetricsExportPort": -1,
            "MetricsAgentPort": -1,
            "DashboardAgentListenPort": -1,
            "RuntimeEnvAgentPort": -1,
            "DeathReason": 0,
            "DeathReasonMessage": "",
            "NodeName": NODE_IP,
            "alive": True,
            "Resources": rt.cluster(),
            "Labels": {"ray.io/node-id": rt.node_id},
        }
    ]


def get_gpu_ids() -> list[int]:
    """The ids of the GPUs the running actor holds (its ``num_gpus``); none outside actors."""
    from ..._runtime import get_runtime_context as native_context

    return [int(i) for i in native_context().get_accelerator_ids()["GPU"]]
