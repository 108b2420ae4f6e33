"""``@asyncactors.batch``: callers send one item each; the method sees a list of them."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, overload

from ._context import RunningActor, running_actor
from ._options import check_batch_option

if TYPE_CHECKING:
    from ._handle import ActorMethod

__all__ = [
    "DEFAULT_BATCH_WAIT_TIMEOUT_S",
    "DEFAULT_MAX_BATCH_SIZE",
    "BatchMethod",
    "BoundBatch",
    "batch",
]

# Ray Serve's defaults.
DEFAULT_MAX_BATCH_SIZE = 10
DEFAULT_BATCH_WAIT_TIMEOUT_S = 0.01

_S = TypeVar("_S")
_T = TypeVar("_T")
_R = TypeVar("_R")
_Raw = TypeVar("_Raw")

_P = inspect.Parameter


class BatchMethod(Generic[_S, _T, _R, _Raw]):
    """A batched actor method declared with ``@asyncactors.batch``: the function and its limits.

    A descriptor. On an instance (in the actor's own code) it gives a
    ``BoundBatch``, which calls the function with a list and changes the limits
    at run time; on the class it is this object. Type checkers see it on the
    class as ``ActorMethod[[_T], _R]``: one item in, one result out. ``_S`` is
    the class, ``_T`` an item, ``_R`` one item's result and ``_Raw`` what
    calling the function returns (its list of results, or a coroutine of it).
    """

    func: Callable[[_S, list[_T]], _Raw]
    options: Mapping[str, Any]
    max_batch_size: int
    batch_wait_timeout_s: float

    def __init__(
        self,
        func: Callable[[_S, list[_T]], _Raw],
        max_batch_size: int,
        batch_wait_timeout_s: float,
        options: Mapping[str, Any] = MappingProxyType({}),
    ) -> None:
        self.func = func
        self.max_batch_size = max_batch_size
        self.batch_wait_timeout_s = batch_wait_timeout_s
        # @asyncactors.method's options, when it decorates this.
        self.options = options
        functools.update_wrapper(self, func)

    def with_options(self, options: Mapping[str, Any]) -> BatchMethod[_S, _T, _R, _Raw]:
        """The same batched method with ``@asyncactors.method``'s ``options``."""
        return BatchMethod(self.func, self.max_batch_size, self.batch_wait_timeout_s, options)

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> ActorMethod[[_T], _R]: ...

    @overload
    def __get__(self, instance: _S, owner: type[Any] | None = None) -> BoundBatch[_T, _Raw]: ...

    def __get__(self, instance: Any, owner: type[Any] | None = None) -> Any:
        if instance is None:
            return self
        return BoundBatch(self, instance)

    def __call__(self, instance: _S, items: list[_T], /) -> _Raw:
        """Call the function with a list of items: ``Cls.method(instance, items)``."""
        return self.func(instance, items)

    def __repr__(self) -> str:
        return (
            f"<asyncactors.batch {self.func.__qualname__} max_batch_size={self.max_batch_size} "
            f"batch_wait_timeout_s={self.batch_wait_timeout_s}>"
        )


class BoundBatch(Generic[_T, _Raw]):
    """``self.method`` of a batched method, in the actor's own code.

    Calling it calls the method with a list of items, directly, as a bound
    method would. ``set_max_batch_size()`` and ``set_batch_wait_timeout_s()``
    (Ray Serve's names) change how this actor batches the method's calls.
    """

    __slots__ = ("_instance", "_method")

    def __init__(self, method: BatchMethod[Any, _T, Any, _Raw], instance: Any) -> None:
        self._method = method
        self._instance = instance

    def __call__(self, items: list[_T], /) -> _Raw:
        """Call the method with ``items``, here and now (no batching)."""
        return self._method.func(self._instance, items)

    def set_max_batch_size(self, max_batch_size: int) -> None:
        """Flush batches at ``max_batch_size`` items from now on, in this actor.

        A batch that this makes full is flushed at once. The limit holds until
        the actor restarts; the next instance starts from the declared one.

        Raises:
            TypeError, ValueError: not an int >= 1.
            RuntimeError: called outside the actor's own code.
        """
        check_batch_option("max_batch_size", max_batch_size)
        name, actor = self._actor("set_max_batch_size")
        actor.set_batch_limits(name, max_batch_size, None)

    def set_batch_wait_timeout_s(self, batch_wait_timeout_s: float) -> None:
        """Flush a batch once its oldest item has waited ``batch_wait_timeout_s``, from the
        next batch on, in this actor (until it restarts, as ``set_max_batch_size``).

        Raises:
            TypeError, ValueError: not a finite number >= 0.
            RuntimeError: called outside the actor's own code.
        """
        check_batch_option("batch_wait_timeout_s", batch_wait_timeout_s)
        name, actor = self._actor("set_batch_wait_timeout_s")
        actor.set_batch_limits(name, None, batch_wait_timeout_s)

    def _actor(self, setter: str) -> tuple[str, RunningActor]:
        """The actor running this code, and the method's name in it."""
        actor = running_actor()
        func = self._method.func
        if actor is not None:
            for name, spec in actor.spec.methods.items():
                if spec.batch is not None and spec.func is func:
                    return name, actor
        where = "outside any actor" if actor is None else f"in a {actor.class_name} actor"
        raise RuntimeError(
            f"{self._method.func.__qualname__}.{setter}() changes how an actor batches its calls: "
            f"call it in that actor's own code (a method, __init__ or a hook), not {where}"
        )

    def __repr__(self) -> str:
        return f"<bound asyncactors.batch {self._method.func.__qualname__} of {self._instance!r}>"


def _check_signature(func: Callable[..., Any]) -> None:
    """Refuse a generator function, or one that does not take exactly one list of items
    after ``self``."""
    if not inspect.isfunction(func):
        raise TypeError(
            f"@asyncactors.batch decorates methods (def or async def), got {func!r}; to give "
            "a batched method options, put @asyncactors.method(...) above @asyncactors.batch"
        )
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        # A batch's results are one list, split among its items: a stream has no place there.
        raise TypeError(
            f"@asyncactors.batch: {func.__qualname__} is a generator function, and a batched "
            "method returns one list of results per batch (one per item, in order); "
            "return a list instead, or drop @asyncactors.batch to stream its items"
        )
    params = list(inspect.signature(func).parameters.values())
    if len(params) != 2 or any(
        p.kind not in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD) or p.default is not _P.empty
        for p in params
    ):
        shown = inspect.signature(func).replace(
            parameters=[p.replace(annotation=_P.empty) for p in params],
            return_annotation=_P.empty,
        )
        raise TypeError(
            f"@asyncactors.batch: {func.__qualname__}{shown} must take exactly one parameter "
            f"after self, without a default: the list of items, as in "
            f"'def {func.__name__}(self, items)'. Each caller sends one item "
            f"({func.__name__}.remote(item)), and the method gets a list of them"
        )


class _BatchDecorator(Protocol):
    """What ``@asyncactors.batch(...)`` with limits returns."""

    @overload
    def __call__(
        self, func: Callable[[_S, list[_T]], Coroutine[Any, Any, list[_R]]], /
    ) -> BatchMethod[_S, _T, _R, Coroutine[Any, Any, list[_R]]]: ...

    @overload
    def __call__(
        self, func: Callable[[_S, list[_T]], list[_R]], /
    ) -> BatchMethod[_S, _T, _R, list[_R]]: ...

    @overload
    def __call__(
        self, func: Callable[[_S, list[_T]], _Raw], /
    ) -> BatchMethod[_S, _T, Any, _Raw]: ...


@overload
def batch(
    func: Callable[[_S, list[_T]], Coroutine[Any, Any, list[_R]]], /
) -> BatchMethod[_S, _T, _R, Coroutine[Any, Any, list[_R]]]: ...


@overload
def batch(func: Callable[[_S, list[_T]], list[_R]], /) -> BatchMethod[_S, _T, _R, list[_R]]: ...


@overload
def batch(func: Callable[[_S, list[_T]], _Raw], /) -> BatchMethod[_S, _T, Any, _Raw]: ...


@overload
def batch(
    *,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    batch_wait_timeout_s: float = DEFAULT_BATCH_WAIT_TIMEOUT_S,
) -> _BatchDecorator: ...


def batch(
    func: Callable[..., Any] | None = None,
    /,
    *,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    batch_wait_timeout_s: float = DEFAULT_BATCH_WAIT_TIMEOUT_S,
) -> Any:
    """Declare a batched actor method: ``@asyncactors.batch`` or ``@asyncactors.batch(...)``.

    The method takes a list of items and returns a list of as many results, in
    order (an exception object in it fails that item alone). Callers send one
    item each, ``handle.method.remote(item)``, and get that item's result. A
    batch runs once it holds ``max_batch_size`` items (default 10), or once its
    oldest item has waited ``batch_wait_timeout_s`` seconds (default 0.01), as in
    Ray Serve. Sync and async methods; other method options come from
    ``@asyncactors.method(...)`` above this decorator.

    Raises:
        TypeError: not a function taking one list after ``self``, a generator
            function, or a limit of the wrong type.
        ValueError: a limit out of range.
    """
    check_batch_option("max_batch_size", max_batch_size)
    check_batch_option("batch_wait_timeout_s", batch_wait_timeout_s)

    def decorate(func: Callable[..., Any]) -> BatchMethod[Any, Any, Any, Any]:
        _check_signature(func)
        return BatchMethod(func, max_batch_size, batch_wait_timeout_s)

    return decorate if func is None else decorate(func)
