"""``@remote``, ``ActorClass`` and ``@method``: declaring actors."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from types import MappingProxyType
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    Literal,
    NoReturn,
    ParamSpec,
    Protocol,
    TypeVar,
    overload,
)

from ._context import current_system
from ._handle import (
    ActorHandle,
    ActorMethod,
    MultiReturnMethod,
    StreamMethod,
    handle_slots,
    make_handle_type,
    method_type,
)
from ._options import (
    ACTOR_DEFAULTS,
    METHOD_DEFAULTS,
    STREAM_BUFFER,
    check_batched_method_options,
    check_name_for_get_if_exists,
    check_stream_options,
    validate_actor_options,
    validate_method_options,
)
from ._specs import ActorConfig, BatchSpec, ClassSpec, MethodSpec
from ._system import ActorSystem, default_system
from ._types import ASYNC, STREAM_ASYNC, STREAM_SYNC, STREAM_THREAD, SYNC, THREAD, MethodKind

if TYPE_CHECKING:
    from ._batch import BatchMethod

__all__ = ["ActorClass", "MethodDef", "method", "remote"]

_T = TypeVar("_T")
_S = TypeVar("_S")
_P = ParamSpec("_P")
_R = TypeVar("_R")
_Raw = TypeVar("_Raw")
_Item = TypeVar("_Item")


def _batch_method_type() -> type[BatchMethod[Any, Any, Any, Any]] | tuple[()]:
    """``BatchMethod``, or ``()`` (which no ``isinstance`` matches) while its module is
    not loaded: only ``asyncactors.batch``, in that module, makes one, so a program
    that batches nothing never loads it."""
    module = sys.modules.get(f"{__package__}._batch")
    return () if module is None else module.BatchMethod


class MethodDef(Generic[_S, _P, _R, _Raw]):
    """An actor method declared with ``@asyncactors.method``: the function and its options.

    A descriptor. On an instance it gives the bound method, so the actor's own
    code calls ``self.incr(1)`` as a plain method; on the class, ``Cls.incr``
    is this object, which calls the function too. Type checkers see the method
    on the class as its ``ActorMethod[_P, _R]``, so that
    ``asyncactors.typed(handle).incr.remote(...)`` is checked without plugins.
    ``_S`` is the class, ``_R`` the result (awaited, for an async method) and
    ``_Raw`` what calling the function returns.
    """

    func: Callable[Concatenate[_S, _P], _Raw]
    options: Mapping[str, Any]

    def __init__(
        self, func: Callable[Concatenate[_S, _P], _Raw], options: Mapping[str, Any]
    ) -> None:
        self.func = func
        self.options = options
        functools.update_wrapper(self, func)

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> ActorMethod[_P, _R]: ...

    @overload
    def __get__(self, instance: _S, owner: type[Any] | None = None) -> Callable[_P, _Raw]: ...

    def __get__(self, instance: Any, owner: type[Any] | None = None) -> Any:
        if instance is None:
            return self
        return self.func.__get__(instance, owner)

    def __call__(self, instance: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _Raw:
        """Call the function: ``Cls.method(instance, ...)``."""
        return self.func(instance, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<asyncactors.method {self.func.__qualname__}>"


class StreamMethodDef(MethodDef[_S, _P, _R, _Raw]):
    """A generator method declared with ``@asyncactors.method``: ``_R`` is the item type.

    Type checkers see it on the class as its ``StreamMethod[_P, _R]``.
    """

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> StreamMethod[_P, _R]: ...

    @overload
    def __get__(self, instance: _S, owner: type[Any] | None = None) -> Callable[_P, _Raw]: ...

    def __get__(self, instance: Any, owner: type[Any] | None = None) -> Any:
        return MethodDef.__get__(self, instance, owner)


class MultiMethodDef(MethodDef[_S, _P, _R, _Raw]):
    """A method declared with ``@asyncactors.method(num_returns=N)``, N > 1.

    Type checkers see it on the class as its ``MultiReturnMethod[_P, _R]``.
    """

    @overload
    def __get__(
        self, instance: None, owner: type[Any] | None = None
    ) -> MultiReturnMethod[_P, _R]: ...

    @overload
    def __get__(self, instance: _S, owner: type[Any] | None = None) -> Callable[_P, _Raw]: ...

    def __get__(self, instance: Any, owner: type[Any] | None = None) -> Any:
        return MethodDef.__get__(self, instance, owner)


# For type checking only: a Protocol class costs more to make than most classes.
if TYPE_CHECKING:

    class _MethodDecorator(Protocol):
        """What ``@asyncactors.method(...)`` with options returns."""

        # A BatchMethod is callable too: it is matched first, on purpose.
        @overload
        def __call__(  # type: ignore[overload-overlap]
            self, func: BatchMethod[_S, _Item, _R, _Raw], /
        ) -> BatchMethod[_S, _Item, _R, _Raw]: ...

        @overload
        def __call__(
            self, func: Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]], /
        ) -> MethodDef[_S, _P, _R, Coroutine[Any, Any, _R]]: ...

        @overload
        def __call__(
            self, func: Callable[Concatenate[_S, _P], AsyncIterator[_R]], /
        ) -> StreamMethodDef[_S, _P, _R, AsyncIterator[_R]]: ...

        @overload
        def __call__(
            self, func: Callable[Concatenate[_S, _P], Iterator[_R]], /
        ) -> StreamMethodDef[_S, _P, _R, Iterator[_R]]: ...

        @overload
        def __call__(
            self, func: Callable[Concatenate[_S, _P], _R], /
        ) -> MethodDef[_S, _P, _R, _R]: ...


# For type checking only: a Protocol class costs more to make than most classes.
if TYPE_CHECKING:

    class _MultiDecorator(Protocol):
        """What ``@asyncactors.method(num_returns=N, ...)`` returns."""

        @overload
        def __call__(
            self, func: Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]], /
        ) -> MultiMethodDef[_S, _P, _R, Coroutine[Any, Any, _R]]: ...

        @overload
        def __call__(
            self, func: Callable[Concatenate[_S, _P], _R], /
        ) -> MultiMethodDef[_S, _P, _R, _R]: ...


@overload
def method(  # type: ignore[overload-overlap]  # a BatchMethod is callable: matched first
    func: BatchMethod[_S, _Item, _R, _Raw], /
) -> BatchMethod[_S, _Item, _R, _Raw]: ...


@overload
def method(
    func: Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]], /
) -> MethodDef[_S, _P, _R, Coroutine[Any, Any, _R]]: ...


@overload
def method(
    func: Callable[Concatenate[_S, _P], AsyncIterator[_R]], /
) -> StreamMethodDef[_S, _P, _R, AsyncIterator[_R]]: ...


@overload
def method(
    func: Callable[Concatenate[_S, _P], Iterator[_R]], /
) -> StreamMethodDef[_S, _P, _R, Iterator[_R]]: ...


@overload
def method(func: Callable[Concatenate[_S, _P], _R], /) -> MethodDef[_S, _P, _R, _R]: ...


# num_returns=1 also fits the overload below, which it precedes: not a conflict.
@overload
def method(  # type: ignore[overload-overlap]
    *,
    concurrency_group: str | None = None,
    run_in_thread: bool = False,
    max_task_retries: int | None = None,
    retry_exceptions: bool | list[type[BaseException]] | None = None,
    num_returns: Literal[1, "streaming"] | None = None,
    stream_buffer: int | None = None,
) -> _MethodDecorator: ...


@overload
def method(
    *,
    concurrency_group: str | None = None,
    run_in_thread: bool = False,
    max_task_retries: int | None = None,
    retry_exceptions: bool | list[type[BaseException]] | None = None,
    num_returns: int,
) -> _MultiDecorator: ...


def method(
    func: Callable[..., Any] | None = None,
    /,
    *,
    concurrency_group: str | None = None,
    run_in_thread: bool = False,
    max_task_retries: int | None = None,
    retry_exceptions: bool | list[type[BaseException]] | None = None,
    num_returns: int | Literal["streaming"] | None = None,
    stream_buffer: int | None = None,
) -> Any:
    """Declare an actor method: ``@asyncactors.method`` or ``@asyncactors.method(**options)``.

    Options: ``run_in_thread=True`` runs a blocking sync method (or each step
    of a generator method) in a worker thread, still within the actor's
    concurrency limit, so it does not block the event loop;
    ``concurrency_group``, ``max_task_retries``, ``retry_exceptions`` and
    ``num_returns`` (``.remote()`` returns that many refs) as in Ray;
    ``stream_buffer`` (default 16) is how many items a generator method may
    run ahead of its consumer. A decorated method is typed for checkers
    without plugins: see ``asyncactors.typed()``. Above ``@asyncactors.batch``
    it gives the batched method's batches these options.

    Raises:
        TypeError: not a function, an option of the wrong type, or
            ``run_in_thread`` on an async method.
        ValueError: an option out of range, or one that does not fit the kind
            of method (``stream_buffer`` on a method that is no generator,
            retries or ``num_returns`` on a generator method, ``num_returns``
            above 1 on a batched method).
    """
    opts = {
        "concurrency_group": concurrency_group,
        "run_in_thread": run_in_thread,
        "max_task_retries": max_task_retries,
        "retry_exceptions": retry_exceptions,
        "num_returns": num_returns,
        "stream_buffer": stream_buffer,
    }
    validate_method_options(opts)

    def decorate(func: Any) -> MethodDef[Any, ..., Any, Any] | BatchMethod[Any, Any, Any, Any]:
        batched = func if isinstance(func, _batch_method_type()) else None
        if batched is not None:
            func = batched.func
        if not inspect.isfunction(func):
            raise TypeError(
                f"@asyncactors.method decorates methods (def or async def), got {func!r}"
            )
        if run_in_thread and (
            inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)
        ):
            raise TypeError(
                f"run_in_thread=True is for blocking sync methods; {func.__qualname__} is async"
            )
        if batched is not None:
            # @asyncactors.batch refused generators already.
            check_batched_method_options(func.__qualname__, opts)
            return batched.with_options(MappingProxyType(opts))
        stream = _is_generator(func)
        check_stream_options(func.__qualname__, stream, opts)
        if stream:
            kind: type[MethodDef[Any, ..., Any, Any]] = StreamMethodDef
        elif isinstance(num_returns, int) and num_returns > 1:
            kind = MultiMethodDef
        else:
            kind = MethodDef
        return kind(func, MappingProxyType(opts))

    return decorate if func is None else decorate(func)


def _build_spec(cls: type) -> ClassSpec:
    methods: dict[str, MethodSpec] = {}
    batch_method = _batch_method_type()
    for name in dir(cls):
        if name.startswith("_"):
            continue
        static = inspect.getattr_static(cls, name)
        declared = static.options if isinstance(static, (MethodDef, batch_method)) else {}
        attr = _function(static)
        if not inspect.isfunction(attr):
            continue
        opts = {**METHOD_DEFAULTS, **declared}
        kind = _kind(attr, opts["run_in_thread"])
        retry = opts["retry_exceptions"]
        num_returns = opts["num_returns"]
        spec = MethodSpec(
            cls.__name__,
            name,
            attr,
            kind,
            opts["concurrency_group"],
            opts["max_task_retries"],
            tuple(retry) if isinstance(retry, list) else retry,
            num_returns=1 if num_returns in (None, "streaming") else num_returns,
            stream_buffer=opts["stream_buffer"] or STREAM_BUFFER,
        )
        if isinstance(static, batch_method):
            # Callers send items; the batch runs as a call of ``spec``.
            batch = BatchSpec(static.max_batch_size, static.batch_wait_timeout_s, spec)
            spec = MethodSpec(cls.__name__, name, attr, kind, batch, None, None, batch=batch)
        methods[name] = spec
    post_create = _function(getattr(cls, "__post_create__", None))
    if post_create is not None and not inspect.iscoroutinefunction(post_create):
        raise TypeError(f"{cls.__name__}.__post_create__ must be 'async def'")
    class_spec = ClassSpec(
        cls, methods, post_create, _function(getattr(cls, "__pre_destroy__", None))
    )
    class_spec.handle_type = make_handle_type(cls.__name__, methods)
    class_spec.method_kinds = {
        name: method_type(methods[name])
        for name in handle_slots(methods)
        if not name.startswith("_")
    }
    return class_spec


def _kind(func: Callable[..., Any], in_thread: bool) -> MethodKind:
    """How the engine runs ``func``; a generator method streams its items."""
    if inspect.iscoroutinefunction(func):
        return ASYNC
    if inspect.isasyncgenfunction(func):
        return STREAM_ASYNC
    if inspect.isgeneratorfunction(func):
        return STREAM_THREAD if in_thread else STREAM_SYNC
    return THREAD if in_thread else SYNC


def _is_generator(func: Callable[..., Any]) -> bool:
    return inspect.isasyncgenfunction(func) or inspect.isgeneratorfunction(func)


def _function(attr: Any) -> Any:
    """The function behind ``attr``, unwrapping ``@asyncactors.method`` or ``.batch``."""
    return attr.func if isinstance(attr, (MethodDef, _batch_method_type())) else attr


def _check_groups(spec: ClassSpec, opts: Mapping[str, Any]) -> None:
    groups = opts.get("concurrency_groups") or {}
    for m in spec.methods.values():
        group = m.concurrency_group
        if group is not None and group not in groups:
            raise ValueError(
                f"{spec.name}.{m.name} uses concurrency group {group!r}, which is not in "
                f"the actor's concurrency_groups ({', '.join(map(repr, groups)) or 'none defined'})"
            )


class ActorClass(Generic[_T]):
    """An actor class: ``Cls.remote(...)`` creates an actor and returns its handle.

    The decorated class's attributes, static methods and class methods are
    reachable through it (``Cls.LIMIT``, ``Cls.helper()``), as in Ray.
    """

    __slots__ = ("__weakref__", "_config", "_options", "_refusal", "_spec")

    def __init__(self, spec: ClassSpec, options: Mapping[str, Any]) -> None:
        self._spec = spec
        self._options: Mapping[str, Any] = MappingProxyType(dict(options))
        self._config = ActorConfig(spec, self._options)
        # Why remote() refuses these options, worked out once: the store may
        # still come in a later options(), so declaring them is not an error.
        self._refusal: str | None = None
        if self._config.store is None and self._options["checkpoint_every"]:
            self._refusal = (
                f"{spec.name}: option 'checkpoint_every' needs option 'checkpoint_store' "
                "(a MemoryStore, a FileStore or another CheckpointStore); "
                "without one nothing would be saved"
            )

    @property
    def __name__(self) -> str:
        return self._spec.cls.__name__

    @property
    def __wrapped__(self) -> type[_T]:
        """The decorated class."""
        return self._spec.cls

    def options(self, **opts: Any) -> ActorClass[_T]:
        """A new ``ActorClass`` with ``opts`` merged in; this one is unchanged.

        Raises:
            ValueError: an unknown or task-only option, or a value out of range.
            TypeError: a value of the wrong type.
        """
        _validate_actor_options(opts)
        merged = {**self._options, **opts}
        _check_groups(self._spec, merged)
        check_name_for_get_if_exists(merged)
        return ActorClass(self._spec, merged)

    def remote(self, *args: Any, **kwargs: Any) -> ActorHandle[_T]:
        """Create the actor and return its handle at once.

        ``__init__`` runs as the actor's first step; calls made before it finishes
        queue behind it. Await the handle to wait for ``__init__`` and
        ``__post_create__``.

        Raises:
            TypeError: the arguments do not fit ``__init__``.
            ActorAlreadyExistsError: the name is taken and ``get_if_exists`` is false.
            RuntimeError: no running loop and no actor system, or the system is shut down.
            ValueError: ``checkpoint_every`` is set without a ``checkpoint_store``.
        """
        if self._refusal is not None:
            raise ValueError(self._refusal)
        spec = self._spec
        check = spec.init_check
        if kwargs or not check.fast_min <= len(args) <= check.fast_max:
            check(args, kwargs)
        # default_system()'s first step, inlined: inside 'async with ActorSystem()'.
        system: ActorSystem | None = current_system.get()
        if system is None:
            system = default_system()
        return system._create(spec, self._config, self._options, args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"actors cannot be instantiated directly; use {self.__name__}.remote(...) "
            f"instead of {self.__name__}(...)"
        )

    def __repr__(self) -> str:
        return f"<ActorClass {self._spec.name}>"

    if not TYPE_CHECKING:
        # Hidden from type checkers, which would otherwise accept any attribute;
        # the mypy plugin types the decorated class as the class itself.

        def __getattr__(self, name: str) -> Any:
            if name.startswith("__") or name in ActorClass.__slots__:
                raise AttributeError(name)
            cls = self._spec.cls
            try:
                return getattr(cls, name)
            except AttributeError:
                raise AttributeError(
                    f"actor class {cls.__name__} has no attribute {name!r}", name=name, obj=self
                ) from None

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *dir(self._spec.cls)})

    def __mro_entries__(self, bases: tuple[Any, ...]) -> NoReturn:
        name = self.__name__
        raise TypeError(
            f"cannot subclass the actor class {name}: inheriting from actor classes is not "
            f"supported (as in Ray). Inherit from the plain class, {name}.__wrapped__ (or a "
            "common non-actor base class), and decorate the subclass with @asyncactors.remote"
        )


@overload
def remote(cls: type[_T], /) -> ActorClass[_T]: ...


@overload
def remote(**options: Any) -> Callable[[type[_T]], ActorClass[_T]]: ...


def remote(cls: Any = None, /, **options: Any) -> Any:
    """Make a class an actor class: ``@remote`` or ``@remote(max_concurrency=4, ...)``.

    Raises:
        TypeError: the decorated object is not a class, or an option has the wrong type.
        ValueError: an unknown or task-only option, a value out of range, or a
            method's concurrency group that the options do not define.
    """
    _validate_actor_options(options)

    def decorate(target: Any) -> ActorClass[Any]:
        if not isinstance(target, type):
            kind = "function" if inspect.isroutine(target) else type(target).__name__
            name = getattr(target, "__qualname__", repr(target))
            raise TypeError(
                f"asyncactors.remote decorates classes, got the {kind} {name}; "
                "asyncactors has actors only, no remote functions"
            )
        if isinstance(target, ActorClass):
            raise TypeError("this class is already an actor class")
        spec = _build_spec(target)
        merged = {**ACTOR_DEFAULTS, **options}
        _check_groups(spec, merged)
        return ActorClass(spec, merged)

    if cls is None:
        return decorate
    if options:
        raise TypeError("use either @remote or @remote(**options), not both")
    return decorate(cls)


def _validate_actor_options(opts: Mapping[str, Any]) -> None:
    """``validate_actor_options``, plus the ``supervisor`` option's type.

    Raises:
        ValueError: an unknown or task-only option, or a value out of range.
        TypeError: a value of the wrong type.
    """
    validate_actor_options(opts)
    supervisor = opts.get("supervisor")
    if supervisor is None:
        return
    from ._supervisor import Supervisor  # here: most actors have none

    if not isinstance(supervisor, Supervisor):
        raise TypeError(
            "option 'supervisor' must be an asyncactors.Supervisor, "
            f"got {type(supervisor).__name__}"
        )
