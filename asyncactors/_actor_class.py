"""``@remote``, ``ActorClass`` and ``@method``: declaring actors."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Generic, NoReturn, TypeVar, overload

from ._core import ASYNC, SYNC, THREAD, ActorConfig, ClassSpec, MethodSpec
from ._handle import ActorHandle, make_handle_type
from ._options import (
    ACTOR_DEFAULTS,
    METHOD_DEFAULTS,
    validate_actor_options,
    validate_method_options,
)
from ._system import default_system

__all__ = ["ActorClass", "method", "remote"]

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])

_METHOD_OPTIONS_ATTR: Final = "__asyncactors_method_options__"


def method(
    *,
    concurrency_group: str | None = None,
    run_in_thread: bool = False,
    max_task_retries: int | None = None,
    retry_exceptions: bool | list[type[BaseException]] | None = None,
) -> Callable[[_F], _F]:
    """Per-method options for an actor method.

    ``run_in_thread=True`` runs a blocking sync method in a worker thread, still
    within the actor's concurrency limit, so it does not block the event loop.

    Raises:
        TypeError: an option of the wrong type, or ``run_in_thread`` on an async method.
        ValueError: an option out of range.
    """
    opts = {
        "concurrency_group": concurrency_group,
        "run_in_thread": run_in_thread,
        "max_task_retries": max_task_retries,
        "retry_exceptions": retry_exceptions,
    }
    validate_method_options(opts)

    def decorate(func: _F) -> _F:
        if not callable(func):
            raise TypeError(f"@asyncactors.method decorates methods, got {func!r}")
        if run_in_thread and (
            inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)
        ):
            raise TypeError(
                f"run_in_thread=True is for blocking sync methods; {func.__qualname__} is async"
            )
        setattr(func, _METHOD_OPTIONS_ATTR, opts)
        return func

    return decorate


def _build_spec(cls: type) -> ClassSpec:
    methods: dict[str, MethodSpec] = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attr = inspect.getattr_static(cls, name)
        if not inspect.isfunction(attr):
            continue
        _refuse_generator(cls, name, attr)
        opts = {**METHOD_DEFAULTS, **getattr(attr, _METHOD_OPTIONS_ATTR, {})}
        if inspect.iscoroutinefunction(attr):
            kind = ASYNC
        elif opts["run_in_thread"]:
            kind = THREAD
        else:
            kind = SYNC
        retry = opts["retry_exceptions"]
        methods[name] = MethodSpec(
            cls.__name__,
            name,
            attr,
            kind,
            opts["concurrency_group"],
            opts["max_task_retries"],
            tuple(retry) if isinstance(retry, list) else retry,
        )
    post_create = getattr(cls, "__post_create__", None)
    if post_create is not None and not inspect.iscoroutinefunction(post_create):
        raise TypeError(f"{cls.__name__}.__post_create__ must be 'async def'")
    spec = ClassSpec(cls, methods, post_create, getattr(cls, "__pre_destroy__", None))
    spec.handle_type = make_handle_type(cls.__name__, methods)
    return spec


def _refuse_generator(cls: type, name: str, func: Callable[..., Any]) -> None:
    # A call would return the generator object itself, unconsumed.
    if inspect.isasyncgenfunction(func):
        kind = "an async generator"
    elif inspect.isgeneratorfunction(func):
        kind = "a generator"
    else:
        return
    raise TypeError(
        f"{cls.__name__}.{name} is {kind} method, and asyncactors has no streaming "
        "methods yet: a call would return the generator object, not its items. "
        "Return a list instead, or have the actor push items to a consumer actor"
    )


def _check_groups(spec: ClassSpec, opts: Mapping[str, Any]) -> None:
    groups = opts.get("concurrency_groups") or {}
    for m in spec.methods.values():
        if m.group is not None and m.group not in groups:
            raise ValueError(
                f"{spec.name}.{m.name} uses concurrency group {m.group!r}, which is not in "
                f"the actor's concurrency_groups ({', '.join(map(repr, groups)) or 'none defined'})"
            )


class ActorClass(Generic[_T]):
    """An actor class: ``Cls.remote(...)`` creates an actor and returns its handle.

    The decorated class's attributes, static methods and class methods are
    reachable through it (``Cls.LIMIT``, ``Cls.helper()``), as in Ray.
    """

    __slots__ = ("__weakref__", "_config", "_options", "_spec")

    def __init__(self, spec: ClassSpec, options: Mapping[str, Any]) -> None:
        self._spec = spec
        self._options: Mapping[str, Any] = MappingProxyType(dict(options))
        self._config = ActorConfig(spec, self._options)

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
        validate_actor_options(opts)
        merged = {**self._options, **opts}
        _check_groups(self._spec, merged)
        if merged["get_if_exists"] and not merged["name"]:
            raise ValueError("option 'get_if_exists' requires option 'name'")
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
        spec = self._spec
        if self._config.store is None and self._options["checkpoint_every"]:
            # Refused here, not in options(): the store may come in a later options().
            raise ValueError(
                f"{spec.name}: option 'checkpoint_every' needs option 'checkpoint_store' "
                "(a MemoryStore, a FileStore or another CheckpointStore); "
                "without one nothing would be saved"
            )
        spec.init_check(args, kwargs)
        return default_system()._create(spec, self._config, self._options, args, kwargs)

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
    validate_actor_options(options)

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
