"""``ray.actor``: actor classes, handles and methods, over asyncactors' actors.

An actor class becomes an asyncactors actor whose methods wrap the user's:
a class with an async method is an async actor (its methods run on the event
loop, ``max_concurrency=1000``), any other a threaded actor (its methods run
off the loop, one at a time by default, so that they may block in
``ray.get``). Arguments are serialized at ``.remote()`` and load in the
actor; results are serialized when the method returns.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn

from ... import _exceptions as native_exc
from ..._actor_class import ActorClass as NativeActorClass
from ..._actor_class import method as native_method
from ..._actor_class import remote as native_remote
from ..._context import current_actor
from ..._handle import ActorHandle as NativeHandle
from ..._handle import ActorMethod as NativeMethod
from ..._options import _check_int as check_int
from ..._ref import FAILED
from ..._ref import ObjectRef as NativeRef
from ..._signature import ArgChecker
from ..._types import StopReason
from ._exec import (
    STREAMING,
    Crash,
    Target,
    call_async,
    call_sync,
    check_num_returns,
    check_retry_exceptions,
    encode_args,
)
from ._refs import ObjectRef, ObjectRefGenerator, Stream, split
from ._serialization import ATOMS, deserialize, load_args, lookup, register, share
from ._worker import Runtime, check_runtime_env, runtime

__all__ = [
    "ActorClass",
    "ActorClassInheritanceException",
    "ActorHandle",
    "ActorID",
    "ActorMethod",
    "exit_actor",
    "method",
]

# Ray's options, by where they apply (ray/_common/ray_option_utils.py's names).
COMMON_OPTIONS: Final = frozenset(
    {
        "accelerator_type",
        "enable_task_events",
        "fallback_strategy",
        "label_selector",
        "memory",
        "name",
        "num_cpus",
        "num_gpus",
        "object_store_memory",
        "placement_group",
        "placement_group_bundle_index",
        "placement_group_capture_child_tasks",
        "resources",
        "runtime_env",
        "scheduling_strategy",
        "_labels",
        "_metadata",
    }
)
TASK_ONLY_OPTIONS: Final = frozenset(
    {
        "max_calls",
        "max_retries",
        "num_returns",
        "retry_exceptions",
        "_generator_backpressure_num_objects",
        "_num_objects_per_yield",
    }
)
ACTOR_ONLY_OPTIONS: Final = frozenset(
    {
        "allow_out_of_order_execution",
        "concurrency_groups",
        "enable_tensor_transport",
        "get_if_exists",
        "lifetime",
        "max_concurrency",
        "max_pending_calls",
        "max_restarts",
        "max_task_retries",
        "namespace",
        "_actor_generator_backpressure_num_objects",
    }
)
ACTOR_OPTIONS: Final = COMMON_OPTIONS | ACTOR_ONLY_OPTIONS
# Handed to asyncactors as they are; the other actor options are checked and ignored.
_NATIVE_ACTOR_OPTIONS: Final = (
    "name",
    "namespace",
    "get_if_exists",
    "lifetime",
    "max_concurrency",
    "concurrency_groups",
    "max_pending_calls",
    "max_restarts",
    "max_task_retries",
    "num_cpus",
    "num_gpus",
    "memory",
    "resources",
)
_RESOURCE_OPTIONS: Final = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}
METHOD_OPTIONS: Final = frozenset(
    {
        "num_returns",
        "concurrency_group",
        "max_task_retries",
        "retry_exceptions",
        "enable_task_events",
        "tensor_transport",
        "_generator_backpressure_num_objects",
    }
)
CALL_OPTIONS: Final = frozenset(
    {
        "num_returns",
        "concurrency_group",
        "max_task_retries",
        "retry_exceptions",
        "name",
        "enable_task_events",
        "_generator_backpressure_num_objects",
    }
)
# Ray's special methods on every handle.
_SPECIAL: Final = ("__ray_ready__", "__ray_call__", "__ray_terminate__")
# A mailbox as deep as Ray's queue of pending calls: no limit worth the name.
_MAILBOX: Final = 1 << 30
_METHOD_OPTIONS_ATTR: Final = "__ray_method_options__"
_new = object.__new__
# On a threaded method's async wrapper: the function that returns what the wrapper awaits.
_AWAITS: Final = "__compat_awaits__"


def check_options(opts: Mapping[str, Any], valid: frozenset[str], what: str) -> None:
    """Refuse option names Ray does not know for ``what``, as Ray words it.

    Raises:
        ValueError: an unknown option, or one for tasks given to an actor (or back).
    """
    for key in opts:
        if key not in valid:
            raise ValueError(
                f"Invalid option keyword {key} for {what}. "
                f"Valid ones are {sorted(k for k in valid if not k.startswith('_'))}."
            )


# Ray's integer options of tasks and methods that asyncactors' own checks do not see
# (actor options go through them): the least each takes, and whether -1 (no limit) is valid.
_INT_OPTIONS: Final = {
    "max_retries": (0, True),
    "max_calls": (0, False),
    "max_task_retries": (0, True),
}


def check_int_options(opts: Mapping[str, Any]) -> None:
    """Refuse a ``max_retries``, ``max_calls`` or ``max_task_retries`` that is not an
    int (a bool, NaN, inf, a float) or is out of range, naming the option.

    Raises:
        TypeError: not an int.
        ValueError: below its least value (-1 means no limit where it is allowed).
    """
    for key, (minimum, minus_one) in _INT_OPTIONS.items():
        value = opts.get(key)
        if value is not None:
            check_int(key, value, minimum=minimum, allow_minus_one=minus_one)


def check_scheduling(opts: Mapping[str, Any], where: str) -> None:
    """Placement options (``scheduling_strategy``, ``placement_group``, ...) are accepted and
    ignored: one node has room for any bundle that ``placement_group()`` accepted. A
    ``runtime_env`` is checked.

    Raises:
        UnsupportedFeatureError: a ``runtime_env`` that one process cannot honour.
    """
    check_runtime_env(opts.get("runtime_env"), where)


# -- ray.method ---------------------------------------------------------------------------


def method(*args: Any, **options: Any) -> Any:
    """``@ray.method(num_returns=, concurrency_group=, max_task_retries=, retry_exceptions=)``,
    or a bare ``@ray.method``, which changes nothing.

    Raises:
        ValueError: an unknown option, a bad ``num_returns``, or ``max_task_retries`` < -1.
        TypeError: positional arguments other than one function, used on something
            not a function, or ``max_task_retries`` not an int.
    """
    if len(args) == 1 and not options and callable(args[0]):
        return args[0]  # bare @ray.method: no options to record
    if args:
        raise TypeError(
            "The @ray.method decorator must be applied with no arguments or with "
            "keyword options, e.g. @ray.method(num_returns=1)"
        )
    check_options(options, METHOD_OPTIONS, "actor methods")
    check_int_options(options)
    if "num_returns" in options:
        check_num_returns(options["num_returns"])
    if "retry_exceptions" in options:
        check_retry_exceptions(options["retry_exceptions"])

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(func):
            raise TypeError(f"@ray.method decorates methods, got {func!r}")
        setattr(func, _METHOD_OPTIONS_ATTR, dict(options))
        return func

    return decorate


# -- actor classes ------------------------------------------------------------------------


class ClassMeta:
    """What the compatibility layer knows of one decorated class."""

    def __init__(self, cls: type, options: Mapping[str, Any]) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.methods: dict[str, Target] = {}
        for name in dir(cls):
            if name.startswith("__"):
                continue
            static = inspect.getattr_static(cls, name)
            if isinstance(static, staticmethod):
                func, bound, drop = static.__func__, True, False
            elif isinstance(static, classmethod):
                func, bound, drop = static.__func__, True, True
            elif inspect.isfunction(static):
                func, bound, drop = static, False, True
            else:
                continue
            opts = getattr(func, _METHOD_OPTIONS_ATTR, {})
            self.methods[name] = Target(
                func, f"{self.name}.{name}", opts, name=name, bound=bound, drop_first=drop
            )
        # An async __init__ is awaited on the actor's loop, and makes an async actor, as in Ray.
        self.async_init = inspect.iscoroutinefunction(getattr(cls, "__init__", None))
        self.is_async = self.async_init or any(t.is_async for t in self.methods.values())
        self.init_check = ArgChecker(cls, f"{self.name}.__init__", drop_first=False)
        self.holder = _holder_class(self)
        base: dict[str, Any] = {
            "max_concurrency": 1000 if self.is_async else 1,
            "mailbox_size": _MAILBOX,
            # sys.exit(1) in a method crashes the actor (see _exec.actor_crash).
            "restart_on": (Crash,),
        }
        if options.get("concurrency_groups") is not None:
            base["concurrency_groups"] = options["concurrency_groups"]
        self.native: NativeActorClass[Any] = native_remote(**base)(self.holder)
        for spec in self.native._spec.methods.values():
            awaited = getattr(spec.func, _AWAITS, None)
            if awaited is not None:
                # The engine awaits what the method returns: the awaitable itself,
                # without a coroutine per call that only awaits it. (The async
                # wrapper told the engine the method is async.)
                spec.func = awaited


def _holder_class(meta: ClassMeta) -> type:
    """The class asyncactors runs: it holds the user's instance and wraps its methods."""
    namespace: dict[str, Any] = {
        "__init__": _holder_init,
        "__post_create__": _holder_post_create,
        "__module__": meta.cls.__module__,
        "__qualname__": meta.cls.__qualname__,
        "ray:ready": _ready,
        "ray:call": _ray_call_threaded if not meta.is_async else _ray_call_async,
    }
    for target in meta.methods.values():
        namespace[target.native_name] = _wrap(target, threaded=not meta.is_async)
    holder = type(meta.name, (), namespace)
    holder._compat_meta = meta  # type: ignore[attr-defined]
    return holder


def _wrap(target: Target, *, threaded: bool) -> Any:
    run: Callable[..., Any]
    if target.is_async:

        async def run(self: Any, ctl: Any, *args: Any, **kwargs: Any) -> Any:
            return await call_async(target, self._obj, ctl, args, kwargs)

    elif threaded:
        pool_only = target.generator is not None

        def submit(self: Any, ctl: Any, *args: Any, **kwargs: Any) -> Any:
            core = self._core
            return self._driver.submit(
                (call_sync, target, self._obj, ctl, args, kwargs),
                # One call at a time: the actor, not the call, says whose wait it serves.
                None if self._serial else core.running_call(),
                core,
                pool_only,
            )

        async def run(self: Any, ctl: Any, *args: Any, **kwargs: Any) -> Any:
            return await submit(self, ctl, *args, **kwargs)

        submit.__name__ = submit.__qualname__ = target.native_name
        setattr(run, _AWAITS, submit)

    else:  # a sync method of an async actor runs on its loop, as in Ray

        def run(self: Any, ctl: Any, *args: Any, **kwargs: Any) -> Any:
            return call_sync(target, self._obj, ctl, args, kwargs)

    run.__name__ = run.__qualname__ = target.native_name
    opts = target.options
    native_opts: dict[str, Any] = {}
    if opts.get("concurrency_group") is not None:
        native_opts["concurrency_group"] = opts["concurrency_group"]
    if opts.get("max_task_retries") is not None:
        native_opts["max_task_retries"] = opts["max_task_retries"]
    if "retry_exceptions" in opts:
        retry = check_retry_exceptions(opts["retry_exceptions"])
        native_opts["retry_exceptions"] = list(retry) if isinstance(retry, tuple) else retry
    return native_method(**native_opts)(run)


def _holder_init(self: Any, boot: tuple[Any, ClassMeta], *args: Any, **kwargs: Any) -> None:
    self._driver, self._meta = boot
    self._init = (args, kwargs)
    self._obj = None
    self._serial = False
    self._core = None  # the engine's core, once created


async def _holder_post_create(self: Any) -> None:
    core: Any = current_actor.get()  # the engine's core: its config too
    config = core.config
    self._core = core
    self._serial = config.max_concurrency == 1 and not config.groups
    args, kwargs = self._init
    args, kwargs = await _resolved(args, kwargs)
    meta: ClassMeta = self._meta
    if meta.async_init:
        self._obj = await _construct_async(meta, args, kwargs)
    elif meta.is_async:
        # On the loop, as Ray runs an async actor's __init__ where its loop is.
        self._obj = _construct(meta, args, kwargs)
    else:
        self._obj = await self._driver.submit((_construct, meta, args, kwargs), core=core)


def _construct(meta: ClassMeta, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    args, kwargs = load_args(args, kwargs)
    try:
        return meta.cls(*args, **kwargs)
    except Exception as exc:
        from .exceptions import task_error

        raise task_error(exc, f"{meta.name}.__init__") from exc


async def _construct_async(meta: ClassMeta, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The instance of a class whose ``__init__`` is a coroutine function, awaited."""
    args, kwargs = load_args(args, kwargs)
    cls: Any = meta.cls
    try:
        new = cls.__new__
        obj = new(cls) if new is object.__new__ else new(cls, *args, **kwargs)
        await obj.__init__(*args, **kwargs)
    except Exception as exc:
        from .exceptions import task_error

        raise task_error(exc, f"{meta.name}.__init__") from exc
    return obj


# The frames of an actor's constructor (see runtime_context.get_task_name()).
RUNNERS: Final = (_construct.__code__, _construct_async.__code__)


async def _resolved(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Constructor arguments with refs replaced by their payloads (asyncactors resolves
    methods' ref arguments itself, but not a constructor's)."""
    if any(isinstance(a, NativeRef) for a in args):
        args = tuple([await a if isinstance(a, NativeRef) else a for a in args])
    if any(isinstance(v, NativeRef) for v in kwargs.values()):
        kwargs = {k: await v if isinstance(v, NativeRef) else v for k, v in kwargs.items()}
    return args, kwargs


async def _ready(self: Any, ctl: Any) -> bool:
    return True


def _ray_call_target(fn: Any) -> Target:
    fn = deserialize(fn)
    return Target(fn, getattr(fn, "__name__", "__ray_call__"), {})


async def _ray_call_threaded(self: Any, ctl: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
    target = _ray_call_target(fn)
    core = current_actor.get()
    assert core is not None
    return await self._driver.submit(
        (call_sync, target, None, ctl, (self._obj, *args), kwargs), core.running_call(), core
    )


async def _ray_call_async(self: Any, ctl: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
    target = _ray_call_target(fn)
    if target.is_async:
        return await call_async(target, None, ctl, (self._obj, *args), kwargs)
    return call_sync(target, None, ctl, (self._obj, *args), kwargs)


_READY: Final = Target(lambda: True, "__ray_ready__", {}, name="__ray_ready__")
_CALL: Final = Target(lambda fn, *a, **k: None, "__ray_call__", {}, name="__ray_call__")
_READY.native_name = "ray:ready"
_CALL.native_name = "ray:call"


class ActorClassInheritanceException(TypeError):
    """A class statement tried to subclass an actor class (``@ray.remote`` class)."""


class ActorClass:
    """An actor class: ``Cls.remote(...)`` creates an actor and returns its handle."""

    def __init__(self, meta: ClassMeta, options: Mapping[str, Any]) -> None:
        self._meta = meta
        self._options = dict(options)
        self._native: NativeActorClass[Any] | None = None

    @property
    def __name__(self) -> str:
        return self._meta.name

    def options(self, **options: Any) -> ActorClass:
        """This class with options overridden for the next ``remote()``.

        Raises:
            ValueError: an unknown option, or ``concurrency_groups`` (declare
                those in ``@ray.remote``, as Ray requires).
        """
        check_options(options, ACTOR_OPTIONS, "actors")
        if "concurrency_groups" in options:
            raise ValueError(
                "concurrency_groups cannot be set in ActorClass.options(); declare them "
                "in @ray.remote(concurrency_groups=...)"
            )
        check_scheduling(options, f"{self._meta.name}.options()")
        return ActorClass(self._meta, {**self._options, **options})

    def _native_class(self) -> NativeActorClass[Any]:
        native = self._native
        if native is None:
            opts = {k: self._options[k] for k in _NATIVE_ACTOR_OPTIONS if k in self._options}
            opts.pop("concurrency_groups", None)  # in the base class already
            if opts.get("lifetime") == "non_detached":
                opts["lifetime"] = None
            native = self._native = self._meta.native.options(**opts)
        return native

    def remote(self, *args: Any, **kwargs: Any) -> ActorHandle:
        """Create the actor; its ``__init__`` runs in the background.

        Raises:
            TypeError: the arguments do not fit ``__init__``.
            ValueError: the name is taken (``ActorAlreadyExistsError``) and
                ``get_if_exists`` is false.
        """
        meta = self._meta
        meta.init_check(args, kwargs)
        native = self._native_class()
        rt = runtime()
        args, kwargs = encode_args(args, kwargs)
        driver = rt.driver
        entered = driver.enter()
        try:
            nh = rt.system._create(
                native._spec, native._config, native._options, ((driver, meta), *args), kwargs
            )
        except native_exc.AsyncActorsError as exc:
            from .exceptions import from_native

            raise from_native(exc) from None
        finally:
            if entered:
                driver.leave()
        core = nh._core
        if core.spec is not native._spec:
            # get_if_exists found an actor of another class: a handle to it, with its methods.
            nh = core.spec.handle_type(core)
        return ActorHandle(nh, rt)

    def bind(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Ray's DAG API.

        Raises:
            UnsupportedFeatureError: always.
        """
        from .exceptions import UnsupportedFeatureError

        raise UnsupportedFeatureError("ActorClass.bind() (Ray DAGs)", "call .remote() instead")

    def __mro_entries__(self, bases: tuple[Any, ...]) -> NoReturn:
        """``class Sub(ActorCls)``: refused, as in Ray.

        Raises:
            ActorClassInheritanceException: always.
        """
        name = self._meta.name
        raise ActorClassInheritanceException(
            f"Attempted to define a subclass of actor class '{name}'. Inheriting from "
            "actor classes is not supported: inherit from the plain class instead and "
            "make the subclass an actor class with @ray.remote."
        )

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        name = self._meta.name
        raise TypeError(
            f"Actors cannot be instantiated directly. Instead of '{name}()', use '{name}.remote()'."
        )

    def __reduce__(self) -> Any:
        return share(self) or (ActorClass, (self._meta, self._options))

    def __repr__(self) -> str:
        return f"ActorClass({self._meta.name})"


def task_demand(options: Mapping[str, Any]) -> dict[str, float]:
    """The resources a task holds while it runs (an actor's are the engine's business)."""
    demand = {
        resource: float(options[key])
        for key, resource in _RESOURCE_OPTIONS.items()
        if options.get(key)
    }
    for key, amount in (options.get("resources") or {}).items():
        demand[key] = demand.get(key, 0.0) + float(amount)
    return demand


def make_actor_class(cls: type, options: Mapping[str, Any]) -> ActorClass:
    """``@ray.remote`` on a class.

    Raises:
        ValueError: an unknown option, or a concurrency group a method uses
            that the options do not declare.
        TypeError: the class is already an actor class.
    """
    if isinstance(cls, ActorClass):
        raise TypeError("this class is already an actor class")
    check_options(options, ACTOR_OPTIONS, "actors")
    check_scheduling(options, f"@ray.remote on {cls.__name__}")
    return ActorClass(ClassMeta(cls, options), options)


# -- handles and methods ------------------------------------------------------------------


class ActorID:
    """An actor's id: ``hex()`` and ``binary()``."""

    __slots__ = ("_id",)

    def __init__(self, actor_id: int) -> None:
        self._id = actor_id

    def hex(self) -> str:
        """The id as 32 hex digits."""
        return format(self._id, "032x")

    def binary(self) -> bytes:
        """The id as 16 bytes."""
        return bytes.fromhex(self.hex())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorID) and other._id == self._id

    def __hash__(self) -> int:
        return hash(self._id)

    def __repr__(self) -> str:
        return f"ActorID({self.hex()})"


class ActorHandle:
    """A handle to an actor: ``handle.method.remote(...)`` calls it.

    Handles to one actor are equal, pickle (they stay handles to the same
    actor), and can be passed to other actors and tasks.
    """

    def __init__(self, native: NativeHandle[Any], rt: Runtime) -> None:
        self._native = native
        self._rt = rt
        core = native._core
        self._meta: ClassMeta = vars(core.spec.cls)["_compat_meta"]
        if core.name is not None and not core.config.detached:
            _count_named(self, core, rt)

    @property
    def _actor_id(self) -> ActorID:
        return ActorID(self._native._core.actor_id)

    @property
    def _ray_actor_id(self) -> ActorID:
        # Ray's own attribute behind _actor_id, which much code reads.
        return self._actor_id

    def __getattr__(self, name: str) -> ActorMethod:
        if name in _HANDLE_FIELDS:
            raise AttributeError(name)
        if name.startswith("__") and name not in _SPECIAL:
            raise AttributeError(f"'ActorHandle' object has no attribute '{name}'")
        if name == "__ray_terminate__":
            return _Terminate(self)  # type: ignore[return-value]
        meta = self._meta
        if name == "__ray_ready__":
            target = _READY
        elif name == "__ray_call__":
            target = _CALL
        else:
            found = meta.methods.get(name)
            if found is None:
                raise AttributeError(f"'ActorHandle' object has no attribute '{name}'")
            target = found
        native = getattr(self._native, target.native_name)
        method = ActorMethod(target, native, target.num_returns, self._rt.driver)
        self.__dict__[name] = method
        return method

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ActorHandle):
            return other._native._core is self._native._core
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._native._core.actor_id)

    def __repr__(self) -> str:
        return f"Actor({self._meta.name}, {self._actor_id.hex()})"

    def __reduce__(self) -> Any:
        return share(self) or (_registered_handle, (register(self),))

    def __dir__(self) -> list[str]:
        return sorted({*self._meta.methods, *_SPECIAL})


_HANDLE_FIELDS: Final = ("_native", "_rt", "_meta")

# Ray's handles to a named actor that is not detached, per actor: as an unnamed
# one, it ends with its last handle (asyncactors keeps named actors until stopped).
# Weak references by identity (handles to one actor are equal), no counts: a handle
# can die in a garbage collection anywhere, in any thread, even while a lock is held.
_named_handles: dict[Any, weakref.WeakValueDictionary[int, ActorHandle]] = {}


def _count_named(handle: ActorHandle, core: Any, rt: Runtime) -> None:
    handles = _named_handles.get(core)
    if handles is None:
        handles = _named_handles.setdefault(core, weakref.WeakValueDictionary())
    handles[id(handle)] = handle
    finalizer = weakref.finalize(handle, _named_released, core, rt)
    finalizer.atexit = False  # at exit, shutdown() stops every actor anyway


def _named_released(core: Any, rt: Runtime) -> None:
    # Later, on the loop: the handle's entry leaves its set only after this runs.
    try:
        rt.driver.loop.call_soon_threadsafe(_release_named, core)
    except RuntimeError:  # shut down already: stopped with the rest
        _named_handles.pop(core, None)


def _release_named(core: Any) -> None:
    handles = _named_handles.get(core)
    if handles is None or handles:  # stopped already, or ray.get_actor() made one
        return
    del _named_handles[core]
    core.request_stop(StopReason.RELEASED)


def _registered_handle(key: int) -> ActorHandle:
    handle = lookup(key)
    if handle is None:
        from .exceptions import ActorDiedError

        raise ActorDiedError("the actor handle was pickled and its actor is gone")
    assert isinstance(handle, ActorHandle)
    return handle


def wrap_handle(native: NativeHandle[Any], rt: Runtime) -> ActorHandle:
    """The Ray handle of an asyncactors handle to a Ray actor.

    Raises:
        ValueError: the actor is not one of this module's (a plain asyncactors actor).
    """
    if not hasattr(native._core.spec.cls, "_compat_meta"):
        raise ValueError(
            f"{native!r} is an asyncactors actor, not one created through asyncactors.compat.ray"
        )
    return ActorHandle(native, rt)


class _Terminate:
    """``handle.__ray_terminate__``: a graceful stop behind the calls already sent."""

    def __init__(self, handle: ActorHandle) -> None:
        self._handle = handle

    def remote(self) -> ObjectRef:
        """Queue the stop; the ref fails with ``ActorDiedError`` once the actor is dead,
        as Ray's does (the call ends the actor it runs in)."""
        driver = self._handle._rt.driver
        entered = driver.enter()
        try:
            call = self._handle._native.__ray_terminate__.remote()
            died: NativeRef[Any] = NativeRef(call._loop)
            # On the loop's thread: another thread may be running the loop.
            driver.call_on_loop(call._add_callback, lambda stopped: _terminated(stopped, died))
        finally:
            if entered:
                driver.leave()
        return ObjectRef(died, driver, call)


def _terminated(stop: NativeRef[Any], died: NativeRef[Any]) -> None:
    # Not logged if nobody gets it: the actor's end is what was asked for.
    if stop._state == FAILED:
        died._set_exception(stop._error(), log=False)
    else:
        died._set_exception(
            native_exc.ActorDiedError(
                "The actor died unexpectedly before finishing this task "
                "(__ray_terminate__ ended it, as asked)"
            ),
            log=False,
        )


class ActorMethod:
    """``handle.method``: ``.remote(*args)`` calls it; ``.options(...)`` overrides options."""

    # No reference to the handle: cached in the handle's __dict__, it would
    # make a cycle, and the actor would outlive its last handle until a GC.
    __slots__ = (
        "_core",
        "_ctl",
        "_driver",
        "_native",
        "_num_returns",
        "_spec",
        "_streaming",
        "_target",
    )

    def __init__(
        self, target: Target, native: NativeMethod[..., Any], num_returns: int | str, driver: Any
    ) -> None:
        self._target = target
        # The native method keeps the actor alive as a handle does; calls go
        # straight to its core, as its remote() would send them: the holder's
        # wrapper takes (ctl, *args, **kwargs), so its own check cannot fail.
        self._native = native
        self._core = native._core
        self._spec = native._spec
        self._num_returns = num_returns
        # What the wrapper is told of num_returns: None for the method's own, which
        # it knows; the streaming ones get a Stream per call.
        self._ctl: Any = None if num_returns == target.num_returns else num_returns
        self._streaming = num_returns == STREAMING
        self._driver = driver

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Call the method; return its ``ObjectRef`` (a list of them for
        ``num_returns > 1``, ``None`` for 0, an ``ObjectRefGenerator`` for a
        streaming generator).

        Raises:
            TypeError: the arguments do not fit the method, or one cannot be serialized.
            PendingCallsLimitExceeded: ``max_pending_calls`` calls are pending.
        """
        check = self._target.check
        if kwargs or not check.fast_min <= len(args) <= check.fast_max:
            check(args, kwargs)
            args, kwargs = encode_args(args, kwargs)
        else:
            # encode_args(), called only for an argument that is not an atom.
            for a in args:
                if type(a) not in ATOMS:
                    args, kwargs = encode_args(args, kwargs)
                    break
        n = self._num_returns
        driver = self._driver
        ctl = self._ctl
        stream = None
        if self._streaming:
            ctl = stream = Stream(driver)
        entered = driver.enter()
        try:
            call = self._core.call(self._spec, (ctl, *args), kwargs)
        except native_exc.PendingCallsLimitExceeded as exc:
            from .exceptions import PendingCallsLimitExceeded

            raise PendingCallsLimitExceeded(str(exc)) from None
        finally:
            if entered:
                driver.leave()
        if n == 1:
            # ObjectRef(call, driver, call), without a call of __init__: one per call.
            ref = _new(ObjectRef)
            ref._native = ref._call = call
            ref._driver = driver
            ref._task = ref._err = None
            ref._id = 0
            return ref
        return finish_call(call, n, stream, driver)

    def options(self, **options: Any) -> ActorMethod:
        """This method with per-call options: ``num_returns``, ``concurrency_group``,
        ``max_task_retries``, ``retry_exceptions`` (``name`` and others are ignored).

        Raises:
            ValueError: an unknown option, or a concurrency group the actor lacks.
        """
        check_options(options, CALL_OPTIONS, "actor methods")
        n = self._num_returns
        if "num_returns" in options:
            n = check_num_returns(options["num_returns"])
            if n == STREAMING and self._target.generator is None:
                raise ValueError(
                    f"num_returns='streaming' needs a generator method; "
                    f"{self._target.label} is not one"
                )
        native_opts = {
            k: options[k]
            for k in ("concurrency_group", "max_task_retries", "retry_exceptions")
            if k in options
        }
        if "retry_exceptions" in native_opts:
            retry = check_retry_exceptions(native_opts["retry_exceptions"])
            native_opts["retry_exceptions"] = list(retry) if isinstance(retry, tuple) else retry
        native = self._native.options(**native_opts) if native_opts else self._native
        return ActorMethod(self._target, native, n, self._driver)

    def bind(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Ray's DAG API.

        Raises:
            UnsupportedFeatureError: always.
        """
        from .exceptions import UnsupportedFeatureError

        raise UnsupportedFeatureError("ActorMethod.bind() (Ray DAGs)", "call .remote() instead")

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            "Actor methods cannot be called directly. Instead of running "
            f"'object.{self._target.name}()', try 'object.{self._target.name}.remote()'."
        )

    def __repr__(self) -> str:
        return f"<ActorMethod {self._target.label}>"


def finish_call(
    call: NativeRef[Any], n: Any, stream: Stream | None, driver: Any, task: str | None = None
) -> Any:
    """What ``.remote()`` returns for a submitted call with ``num_returns=n``; ``task``
    is the name of the task the call runs, if it is one."""
    if stream is not None:
        stream.watch(call)
        return ObjectRefGenerator(stream, ObjectRef(call, driver, call, task))
    if n == 1:
        return ObjectRef(call, driver, call, task)
    if n == 0:
        driver.call_on_loop(call._add_callback, _retrieve)
        return None
    return split(call, n, driver, task)


def _retrieve(ref: NativeRef[Any]) -> None:
    # Nobody holds the ref of a call with num_returns=0: its failure is not news.
    ref._retrieved()


def exit_actor() -> NoReturn:
    """End the current actor after this method: callers of later calls get ``ActorDiedError``.

    Raises:
        TypeError: called outside an actor, in a task too (which runs in no actor,
            as in Ray).
    """
    from ..._api import exit_actor as native_exit  # here: few actors exit by themselves
    from ..._context import running_actor
    from ._worker import current

    core = running_actor()
    rt = current()
    if core is None or (rt is not None and core is rt.tasks_core):
        raise TypeError(
            "exit_actor API is called on a non-actor worker: call it inside an actor "
            "method to exit the actor gracefully"
        )
    native_exit()
