"""Running Ray's tasks and actor methods: arguments in, results out, errors wrapped.

A ``Target`` is one remote function or actor method with its Ray options.
Its arguments arrive as payloads (``_serialization``) and load in the
worker; its result leaves as payloads (one per return for ``num_returns=n``),
or item by item into a ``Stream`` for a streaming generator; what it raises
reaches the caller as ``RayTaskError`` (``exceptions.task_error``).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any, Final, Literal

from ..._context import current_actor
from ..._exceptions import _ActorExit
from ..._signature import ArgChecker
from ._driver import current_item, note_ctrl_c
from ._refs import NIL_USE, ObjectRef, ObjectRefGenerator, Stream
from ._serialization import ATOMS, Serialized, load_args, serialize

__all__ = [
    "STREAMING",
    "Crash",
    "Target",
    "TaskExited",
    "call_async",
    "call_sync",
    "check_num_returns",
    "check_retry_exceptions",
    "encode_args",
]

STREAMING: Final = "streaming"
NumReturns = int | Literal["streaming"]


def check_num_returns(value: object) -> NumReturns:
    """Refuse a ``num_returns`` that is neither an int >= 0 nor ``"streaming"``.

    Raises:
        ValueError: a negative int, ``"dynamic"`` (Ray's deprecated mode) or another string.
        TypeError: neither an int nor a string.
    """
    if value == STREAMING:
        return STREAMING
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str):
            raise ValueError(
                f"num_returns={value!r} is not supported; use an int >= 0 or 'streaming'"
            )
        raise TypeError(f"num_returns must be an int or 'streaming', got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"num_returns must be >= 0, got {value}")
    return value


def check_retry_exceptions(value: object) -> bool | tuple[type[BaseException], ...]:
    """Ray's ``retry_exceptions``: a bool or a list of exception types.

    Raises:
        TypeError: anything else.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, list | tuple) and all(
        isinstance(t, type) and issubclass(t, BaseException) for t in value
    ):
        return tuple(value)
    raise TypeError(f"retry_exceptions must be a bool or a list of exception types, got {value!r}")


# What passes through as it is: a cancellation (ray.cancel of an async call), an
# actor's exit_actor(), a generator being closed.
_PASS: Final = (asyncio.CancelledError, _ActorExit, GeneratorExit)


class TaskExited(Exception):
    """A task called ``sys.exit()``: Ray's worker process would have exited.

    Not Ray's: the engine retries the task under ``max_retries``
    (``remote_function`` lists this class in its ``retry_exceptions``), and its
    callers get ``WorkerCrashedError`` (``exceptions.from_native``, which knows
    it by ``_worker_exit``: this module is above that one). Defined here, not
    there, so that running a task loads no exception classes.
    """

    _worker_exit = True


class Target:
    """A remote function or an actor method, and how Ray code asked to call it.

    Raises (when made):
        ValueError: a bad ``num_returns``, or ``"streaming"`` for a function that
            is not a generator.
        TypeError: a ``num_returns`` that is neither an int nor a string.
    """

    __slots__ = (
        "bound",
        "check",
        "func",
        "generator",
        "is_async",
        "label",
        "name",
        "native_name",
        "num_returns",
        "options",
    )

    def __init__(
        self,
        func: Callable[..., Any],
        label: str,
        options: Mapping[str, Any],
        *,
        name: str | None = None,
        bound: bool = False,
        drop_first: bool = False,
    ) -> None:
        self.func = func
        self.name = name or func.__name__
        self.label = label
        self.bound = bound
        self.native_name = self.name if not self.name.startswith("_") else f"ray:{self.name}"
        if inspect.isasyncgenfunction(func):
            self.generator: Literal["sync", "async"] | None = "async"
        elif inspect.isgeneratorfunction(func):
            self.generator = "sync"
        else:
            self.generator = None
        self.is_async = inspect.iscoroutinefunction(func) or self.generator == "async"
        self.options = dict(options)
        num_returns = options.get("num_returns")
        if num_returns is None:  # Ray's default, also for an explicit None
            num_returns = STREAMING if self.generator else 1
        self.num_returns: NumReturns = check_num_returns(num_returns)
        if self.num_returns == STREAMING and not self.generator:
            raise ValueError(
                "num_returns='streaming' can only be used with generator functions "
                "(functions that use 'yield'). The decorated function is not a generator "
                "function."
            )
        self.check = ArgChecker(func, label, drop_first=drop_first)

    def invoke(self, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Call the function: a task's plainly, a method's on ``obj``."""
        if obj is None:
            return self.func(*args, **kwargs)
        if self.bound:  # a static or class method
            return getattr(obj, self.name)(*args, **kwargs)
        return self.func(obj, *args, **kwargs)


def pack(target: Target, ctl: Any, value: Any) -> Any:
    """The payload(s) of a result: one, or a tuple of ``num_returns`` of them.

    Raises:
        ValueError: the result does not have ``num_returns`` items.
        TypeError: the result cannot be serialized.
    """
    n = target.num_returns if ctl is None else ctl
    if n == 1:
        return serialize(value, "the return value")
    if n == 0:
        return None
    try:
        items = tuple(value)
    except TypeError:
        # Ray's class for it (its message only says the object has no len()).
        raise TypeError(
            f"{target.label}() returned {type(value).__name__}, not {n} values (num_returns={n})"
        ) from None
    if len(items) != n:
        raise ValueError(f"Task returned {len(items)} objects, but num_returns={n}.")
    return tuple([serialize(v, "a return value") for v in items])


def call_sync(
    target: Target, obj: Any, ctl: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Run a sync function or method (off the loop, or inline in an async actor)."""
    # load_args(), called only when some argument is a payload to load.
    for a in args:
        if type(a) is Serialized:
            args, kwargs = load_args(args, kwargs)
            break
    else:
        if kwargs:
            args, kwargs = load_args(args, kwargs)
    try:
        if obj is None or target.bound:
            value = target.invoke(obj, args, kwargs)
        else:  # target.invoke(), inlined for a plain method
            value = target.func(obj, *args, **kwargs)
        if target.generator is not None:
            if isinstance(ctl, Stream):
                _stream_sync(value, ctl, target.label, obj)
                return None
            value = _first_items(target, ctl, itertools.islice(value, _count(target, ctl)))
        elif ctl is None and target.num_returns == 1 and type(value) in ATOMS:
            return value  # pack(), inlined for one immutable result: nothing to copy
        return pack(target, ctl, value)
    except (KeyboardInterrupt, SystemExit) as exc:
        raise _interrupted(exc, target.label, obj) from None
    except asyncio.CancelledError as exc:
        # Raised by the function itself: sync code is never cancelled while it runs.
        if asyncio._get_running_loop() is None:
            # A task's or a threaded actor's: an error as any other, as in Ray.
            raise _failed(exc, target.label, obj) from exc
        # A sync method of an async actor, which Ray runs on its loop too.
        raise _cancelled_itself(exc, target.label, obj) from None
    except _PASS:
        raise
    except BaseException as exc:  # a user's own BaseException too: a RayTaskError, as Ray's
        raise _failed(exc, target.label, obj) from exc


async def call_async(
    target: Target, obj: Any, ctl: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Run an async function or method on the loop."""
    args, kwargs = load_args(args, kwargs)
    try:
        if target.generator == "async":
            agen = target.invoke(obj, args, kwargs)
            if isinstance(ctl, Stream):
                await _stream_async(agen, ctl, target.label, obj)
                return None
            n = _count(target, ctl)
            items = []
            if n:
                async for v in agen:
                    items.append(v)
                    if len(items) == n:
                        break
            value = _first_items(target, ctl, items)
        else:
            value = await target.invoke(obj, args, kwargs)
        return pack(target, ctl, value)
    except (KeyboardInterrupt, SystemExit) as exc:
        raise _interrupted(exc, target.label, obj) from None
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is None or task.cancelling():  # the call is being cancelled (or stopped)
            raise
        raise _cancelled_itself(exc, target.label, obj) from None
    except _PASS:
        raise
    except BaseException as exc:  # a user's own BaseException too: a RayTaskError, as Ray's
        raise _failed(exc, target.label, obj) from exc


def _cancelled_itself(exc: asyncio.CancelledError, label: str, obj: Any) -> BaseException:
    """What the caller of code on the event loop (an async actor's method, an async
    task) that raised ``CancelledError`` itself gets: as in Ray's async actors, a
    ``RayTaskError(TaskCancelledError)``, whose text shows where it was raised."""
    from .exceptions import TaskCancelledError

    cancelled = TaskCancelledError(
        error_message=f"{label}() raised CancelledError, which cancels a call on the event loop"
    )
    cancelled.__context__ = exc
    return _failed(cancelled, label, obj)


def _count(target: Target, ctl: Any) -> int:
    """How many values a generator called with a fixed ``num_returns`` gives (``ctl``
    overrides the target's ``num_returns``)."""
    n = target.num_returns if ctl is None else ctl
    assert isinstance(n, int)
    return n


def _first_items(target: Target, ctl: Any, items: Iterable[Any]) -> Any:
    """The result of a generator called with ``num_returns=n``: its first ``n``
    values, as Ray takes them (the generator is not run further), the one value
    for ``n == 1``.

    Raises:
        ValueError: it yielded fewer than ``n`` values.
    """
    n = _count(target, ctl)
    values = list(items)
    if len(values) < n:
        raise ValueError(f"Task returned {len(values)} objects, but num_returns={n}.")
    return values[0] if n == 1 else values


def _failed(exc: BaseException, label: str, obj: Any) -> BaseException:
    """What the caller of a task or method (of the actor ``obj``, running here) that
    raised ``exc`` gets: see ``call_error``."""
    return call_error(exc, label, obj, current_actor.get())


def call_error(exc: BaseException, label: str, obj: Any, core: Any) -> BaseException:
    """What the caller of a task or method (of the actor ``obj``, whose engine core is
    ``core``) that ended with ``exc`` gets: ``RayTaskError`` naming it, and for a
    method the actor's id and repr, as Ray's."""
    from .exceptions import task_error

    if obj is None:
        return task_error(exc, label)
    actor_id = None if core is None else format(core.actor_id, "032x")
    try:
        actor_repr = repr(obj)
    except Exception:
        actor_repr = f"<{type(obj).__name__} object>"
    return task_error(exc, label, actor_id, actor_repr)


def _interrupted(exc: KeyboardInterrupt | SystemExit, label: str, obj: Any) -> BaseException:
    """What a task or method that raised ``KeyboardInterrupt`` or ``SystemExit`` ends with.

    ``KeyboardInterrupt`` is how Ray cancels a running task: its caller gets a
    ``RayTaskError`` that is a ``TaskCancelledError``. Ctrl-C that interrupted it in
    the thread of a ``ray.get`` (the main thread runs calls while it waits) fails it
    so too, and that ``ray.get`` raises ``KeyboardInterrupt`` (``note_ctrl_c``).
    ``SystemExit`` in a task ends Ray's worker process: the task fails as a system
    failure, retried under ``max_retries``, then ``WorkerCrashedError``. In an actor's method,
    ``sys.exit(0)`` (or no code) ends the actor (``exc`` itself, as
    ``exit_actor()``), and any other code crashes it (see ``actor_crash``).
    Neither may reach the thread that runs the loop, where it would stop the
    loop for everyone.
    """
    if isinstance(exc, KeyboardInterrupt):
        from .exceptions import TaskCancelledError

        cancelled = TaskCancelledError(error_message=f"task {label}() was cancelled")
        # Its text shows where the task was when interrupted, as Ray's does.
        note_ctrl_c(exc)
        return _failed(cancelled.with_traceback(exc.__traceback__), label, obj)
    if obj is not None:
        return exc if exc.code is None or exc.code == 0 else actor_crash(exc, label)
    return TaskExited(
        f"task ray::{label}() did not finish: the worker running it exited "
        f"(SystemExit: {exc.code!r})"
    )


class Crash(Exception):
    """What a compat actor's ``restart_on`` names: a method ended its worker process
    in Ray (``sys.exit(1)``), a crash here."""


# The classes of actor_crash's errors, made when first needed: True for an actor that
# restarts (ActorUnavailableError), False for one that dies (ActorDiedError).
_crash_errors: dict[bool, type[Exception]] = {}


def actor_crash(exc: SystemExit, label: str) -> Exception:
    """What ``sys.exit(code)`` with a failure code in an actor's method becomes: an
    error that crashes the actor (a ``Crash``), as Ray's worker process dying does.
    As Ray's caller, that of the method gets ``ActorUnavailableError`` if the actor
    restarts (within ``max_restarts``), else ``ActorDiedError``."""
    from ..._context import running_actor
    from . import exceptions

    core: Any = running_actor()
    limit = -1 if core is None else core.max_restarts
    restarts = limit == -1 or core.restarts < limit
    cls: Any = _crash_errors.get(restarts)
    if cls is None:
        name = "ActorCrashedError" if restarts else "ActorExitedError"
        base = exceptions.ActorUnavailableError if restarts else exceptions.ActorDiedError
        cls = _crash_errors[restarts] = type(name, (base, Crash), {"__module__": __name__})
        globals()[name] = cls  # pickled by reference
    actor_id = None if core is None else format(core.actor_id, "032x")
    what = f"{label}() called sys.exit({exc.code!r}), which ends its worker process in Ray"
    err: Exception
    if restarts:
        err = cls(actor_id, f"The actor is unavailable: {what}; it restarts")
    else:
        err = cls(
            f"The actor died unexpectedly before finishing this task: {what}, and it "
            f"has no restarts left (max_restarts={limit})",
            actor_id=actor_id,
        )
    return err


def _stream_sync(gen: Iterator[Any], stream: Stream, label: str, obj: Any) -> None:
    item = current_item()
    try:
        for value in gen:
            stream.push(serialize(value, "a yielded value"))
            if item is not None and item.cancelled():
                gen.close()  # type: ignore[attr-defined]
                break
    except (KeyboardInterrupt, SystemExit) as exc:
        _stream_interrupted(stream, exc, label, obj)
    except _PASS:
        raise
    except BaseException as exc:  # a user's own BaseException too, as in calls
        stream.fail(_failed(exc, label, obj))
    else:
        stream.close()


async def _stream_async(agen: AsyncIterator[Any], stream: Stream, label: str, obj: Any) -> None:
    try:
        async for value in agen:
            stream.push(serialize(value, "a yielded value"))
    except (KeyboardInterrupt, SystemExit) as exc:
        _stream_interrupted(stream, exc, label, obj)
    except _PASS:
        raise
    except BaseException as exc:  # a user's own BaseException too, as in calls
        stream.fail(_failed(exc, label, obj))
    else:
        stream.close()


def _stream_interrupted(
    stream: Stream, exc: KeyboardInterrupt | SystemExit, label: str, obj: Any
) -> None:
    """End a stream whose generator raised ``KeyboardInterrupt`` or ``SystemExit``
    with the error Ray's caller gets, never retried (items may have been taken);
    an actor's ``SystemExit`` goes on to end the actor, which ends the stream."""
    err = _interrupted(exc, label, obj)
    if err is exc:
        raise exc
    from .exceptions import from_native

    stream.fail(from_native(err))


def encode_args(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Arguments as a call carries them: refs as the engine's refs (it resolves
    them first), immutable atoms as they are, the rest serialized now.

    Raises:
        TypeError: an argument cannot be serialized.
    """
    for a in args:
        if type(a) not in ATOMS:
            args = tuple([_encode(x) for x in args])
            break
    if kwargs:
        for v in kwargs.values():
            if type(v) not in ATOMS:
                kwargs = {k: _encode(x) for k, x in kwargs.items()}
                break
    return args, kwargs


def _encode(value: Any) -> Any:
    kind = type(value)
    if kind in ATOMS:
        return value
    if kind is ObjectRef:
        if value.is_nil():
            raise ValueError(NIL_USE)
        return value._native
    if kind is ObjectRefGenerator:
        raise TypeError(
            "an ObjectRefGenerator cannot be passed to a task or actor; pass the refs it yields"
        )
    return serialize(value, "the argument")
