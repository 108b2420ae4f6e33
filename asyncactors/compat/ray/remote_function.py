"""``ray.remote_function``: tasks, run by a hidden actor of the runtime.

A task call is a call to that actor's one method, which has no concurrency
limit: a sync task runs off the loop (in the thread blocked on it, or a pool
thread), an async task on the loop. asyncactors resolves ref arguments
before it runs and retries it under ``max_retries`` when ``retry_exceptions``
allows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn

from ... import _exceptions as native_exc
from ..._actor_class import remote as native_remote
from ..._context import current_actor
from ..._handle import ActorMethod as NativeMethod
from ..._options import validate_actor_options
from ..._ref import describe_failure
from ._exec import (
    STREAMING,
    Target,
    TaskExited,
    call_async,
    call_sync,
    check_retry_exceptions,
    encode_args,
)
from ._refs import Stream
from ._serialization import share
from ._worker import Runtime, runtime
from .actor import (
    COMMON_OPTIONS,
    TASK_ONLY_OPTIONS,
    check_int_options,
    check_options,
    check_scheduling,
    finish_call,
    task_demand,
)

__all__ = ["RemoteFunction", "make_remote_function"]

TASK_OPTIONS: Final = COMMON_OPTIONS | TASK_ONLY_OPTIONS
_RESOURCE_KEYS: Final = ("num_cpus", "num_gpus", "memory", "resources")


class _Tasks:
    """The hidden actor that runs a runtime's tasks."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._driver = rt.driver

    async def run(self, ctl: Any, target: Target, demand: Any, *args: Any, **kwargs: Any) -> Any:
        rt = self._rt
        if demand:
            rt.use(demand, 1)
        try:
            if target.is_async:
                return await call_async(target, None, ctl, args, kwargs)
            core = current_actor.get()
            assert core is not None
            return await self._driver.submit(
                (call_sync, target, None, ctl, args, kwargs),
                core.running_call(),
                core,
                pool_only=target.generator is not None,
                share=False,
            )
        finally:
            if demand:
                rt.use(demand, -1)


_TASKS: Final = native_remote(max_concurrency=1 << 30, mailbox_size=1 << 30)(_Tasks)


def _task_runner(rt: Runtime) -> Any:
    handle = rt.tasks
    if handle is None:
        driver = rt.driver
        entered = driver.enter()
        try:
            handle = rt.system._create(_TASKS._spec, _TASKS._config, _TASKS._options, (rt,), {})
        finally:
            if entered:
                driver.leave()
        rt.tasks = handle
        rt.tasks_core = handle._core
    return handle


class RemoteFunction:
    """A remote function: ``f.remote(*args)`` runs it as a task and returns its ``ObjectRef``."""

    def __init__(self, func: Callable[..., Any], options: Mapping[str, Any]) -> None:
        check_int_options(options)
        # A task's resources are checked as an actor's are (Ray refuses the same).
        validate_actor_options({k: options[k] for k in _RESOURCE_KEYS if k in options})
        self._function = func
        self._options = dict(options)
        self._target = Target(func, func.__name__, self._options)
        self._task_name = f"task ray::{func.__name__}()"
        self._demand = task_demand({"num_cpus": 1, **self._options})
        retry = check_retry_exceptions(self._options.get("retry_exceptions", False))
        max_retries = self._options.get("max_retries")
        if max_retries is None:  # Ray's default, also for an explicit None
            max_retries = 3
        self._max_retries: int = max_retries
        self._retry = retry
        self._cache: tuple[Runtime, NativeMethod[..., Any]] | None = None
        self.__name__ = func.__name__
        self.__qualname__ = getattr(func, "__qualname__", func.__name__)
        self.__doc__ = func.__doc__

    def _method(self, rt: Runtime) -> NativeMethod[..., Any]:
        cache = self._cache
        if cache is not None and cache[0] is rt:
            return cache[1]
        method: NativeMethod[..., Any] = _task_runner(rt).run
        if self._max_retries:
            # A task that called sys.exit() is retried as one whose worker died
            # (Ray's system failure), whatever retry_exceptions says.
            retry = self._retry
            method = method.options(
                max_task_retries=self._max_retries,
                retry_exceptions=True if retry is True else [*(retry or ()), TaskExited],
            )
        self._cache = (rt, method)
        return method

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task; return its ``ObjectRef`` (a list for ``num_returns > 1``,
        an ``ObjectRefGenerator`` for a streaming generator).

        Raises:
            TypeError: the arguments do not fit the function, or one cannot be serialized.
        """
        target = self._target
        check = target.check
        if kwargs or not check.fast_min <= len(args) <= check.fast_max:
            check(args, kwargs)
        rt = runtime()
        method = self._method(rt)
        args, kwargs = encode_args(args, kwargs)
        n = target.num_returns
        driver = rt.driver
        stream = Stream(driver) if n == STREAMING else None
        entered = driver.enter()
        try:
            call = method.remote(stream, target, self._demand, *args, **kwargs)
            # Its failure, if nobody gets it, is logged as the task's, not as a
            # call to the hidden actor that runs tasks.
            if entered:
                describe_failure(call, self._task_name)
            else:
                driver.call_on_loop(describe_failure, call, self._task_name)
        except native_exc.PendingCallsLimitExceeded as exc:  # pragma: no cover - no cap
            from .exceptions import PendingCallsLimitExceeded  # here: loaded by errors only

            raise PendingCallsLimitExceeded(str(exc)) from None
        finally:
            if entered:
                driver.leave()
        return finish_call(call, n, stream, driver, target.label)

    def options(self, **options: Any) -> RemoteFunction:
        """This function with options overridden.

        Raises:
            ValueError: an unknown option, an actor-only one, ``max_calls`` (as in
                Ray), an int option out of range, or a negative resource amount.
            TypeError: ``max_retries`` is not an int.
        """
        check_options(options, TASK_OPTIONS, "remote functions")
        if "max_calls" in options:
            raise ValueError("Setting 'max_calls' is not supported in '.options()'.")
        check_scheduling(options, f"{self.__name__}.options()")
        return RemoteFunction(self._function, {**self._options, **options})

    def bind(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Ray's DAG API.

        Raises:
            UnsupportedFeatureError: always.
        """
        from .exceptions import UnsupportedFeatureError

        raise UnsupportedFeatureError("RemoteFunction.bind() (Ray DAGs)", "call .remote() instead")

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            "Remote functions cannot be called directly. Instead of running "
            f"'{self.__name__}()', try '{self.__name__}.remote()'."
        )

    def __reduce__(self) -> Any:
        return share(self) or (RemoteFunction, (self._function, self._options))

    def __repr__(self) -> str:
        return f"<RemoteFunction {self.__qualname__}>"


def make_remote_function(func: Callable[..., Any], options: Mapping[str, Any]) -> RemoteFunction:
    """``@ray.remote`` on a function.

    Raises:
        ValueError: an unknown option, an actor-only one, or an int option out of range.
        TypeError: ``max_retries`` or ``max_calls`` is not an int.
    """
    check_options(options, TASK_OPTIONS, "remote functions")
    check_scheduling(options, f"@ray.remote on {func.__name__}")
    return RemoteFunction(func, options)
