"""Cheap argument checks at the call site.

``inspect.Signature.bind`` costs several microseconds, more than the rest of a
call. An ``ArgChecker`` accepts the common shapes (positional arguments, plain
keywords) with a few comparisons and asks ``bind`` only when something looks
wrong, so the slow path also writes the error message.

The signature is read on the checker's first use, not when it is made: a class
is decorated once per method, and ``inspect.signature`` costs tens of
microseconds each (milliseconds for the first class without an ``__init__`` of
its own, whose signature ``inspect`` parses from text), while many methods are
never called in a given run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Final

__all__ = ["ArgChecker"]

_P = inspect.Parameter
# fast_min/fast_max until the first use: no count is in range, so every caller
# asks the checker itself, which reads the signature then.
_UNREAD_MIN: Final = 1 << 60
_UNREAD_MAX: Final = -1
_TYPE_CALL: Final[object] = type.__call__
_OBJECT_INIT: Final[object] = object.__init__
_OBJECT_NEW: Final[object] = object.__new__


class ArgChecker:
    """Checks ``(args, kwargs)`` against a signature; raises ``TypeError`` naming ``label``.

    A callable whose signature ``inspect`` cannot read (a class whose
    constructor is a builtin's, such as a subclass of ``dict``) is not checked:
    its own call then says what does not fit.
    """

    __slots__ = (
        "_drop_first",
        "_func",
        "_label",
        "_max_pos",
        "_min_pos",
        "_names",
        "_posonly",
        "_read",
        "_required_kw",
        "_required_pos",
        "_shown",
        "_sig",
        "_varkw",
        "fast_max",
        "fast_min",
    )

    def __init__(self, func: Callable[..., Any], label: str, *, drop_first: bool) -> None:
        self._func = func
        self._label = label
        self._drop_first = drop_first
        self._read = False
        # Callers may skip calling the checker when there are no keyword
        # arguments and fast_min <= len(args) <= fast_max.
        self.fast_min = _UNREAD_MIN
        self.fast_max = _UNREAD_MAX

    def _read_signature(self) -> None:
        func = self._func
        try:
            sig = _signature(func)
        except ValueError:
            # No signature to check against: accept anything (see the class).
            sig = inspect.Signature([_P("args", _P.VAR_POSITIONAL), _P("kwargs", _P.VAR_KEYWORD)])
        params = list(sig.parameters.values())
        if (
            self._drop_first
            and params
            and params[0].kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)
        ):
            params = params[1:]
        self._sig = sig.replace(parameters=params)
        # Shown in errors; annotations are noise there (and strings under PEP 563).
        self._shown = str(
            sig.replace(
                parameters=[p.replace(annotation=_P.empty) for p in params],
                return_annotation=_P.empty,
            )
        )
        positional = [p for p in params if p.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)]
        has_varargs = any(p.kind is _P.VAR_POSITIONAL for p in params)
        self._max_pos = len(positional) if not has_varargs else 1 << 60
        required = [p for p in positional if p.default is _P.empty]
        # Python forbids a required positional after a defaulted one, so the
        # required ones are exactly the first len(required).
        self._min_pos = len(required)
        self._required_pos = tuple(p.name for p in required)
        self._posonly = {p.name for p in params if p.kind is _P.POSITIONAL_ONLY}
        self._names = {
            p.name: i
            for i, p in enumerate(params)
            if p.kind in (_P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY)
        }
        self._required_kw = tuple(
            p.name for p in params if p.kind is _P.KEYWORD_ONLY and p.default is _P.empty
        )
        self._varkw = any(p.kind is _P.VAR_KEYWORD for p in params)
        self._read = True
        # Last: another thread that sees these in range reads nothing else.
        self.fast_min = self._min_pos if not self._required_kw else 1 << 60
        self.fast_max = self._max_pos

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Return if the arguments fit; raise ``TypeError`` if they do not."""
        if not self._read:
            self._read_signature()
        n = len(args)
        if not kwargs:
            if self._min_pos <= n <= self._max_pos and not self._required_kw:
                return
        elif n <= self._max_pos and self._kwargs_fit(n, kwargs):
            return
        self._explain(args, kwargs)

    def _kwargs_fit(self, n: int, kwargs: dict[str, Any]) -> bool:
        names = self._names
        for key in kwargs:
            index = names.get(key)
            if index is None:
                if not self._varkw or key in self._posonly:
                    return False
            elif index < n:
                return False
        for name in self._required_pos[n:]:
            if name not in kwargs:
                return False
        return all(name in kwargs for name in self._required_kw)

    def _explain(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            self._sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self._label}{self._shown}: {exc}") from None


def _signature(func: Callable[..., Any]) -> inspect.Signature:
    """``inspect.signature(func)``, without its slow path for a plain class.

    A class that takes no arguments (no ``__init__`` or ``__new__`` of its own,
    nor a metaclass ``__call__``) has the signature ``()``; ``inspect`` finds that
    by parsing ``object``'s text signature, which compiles ``tokenize``'s regular
    expressions the first time (milliseconds).

    Raises:
        ValueError: ``inspect`` finds no signature (a builtin's constructor).
        TypeError: ``func`` is not callable.
    """
    if (
        isinstance(func, type)
        and type(func).__call__ is _TYPE_CALL
        and getattr(func, "__init__", None) is _OBJECT_INIT
        and getattr(func, "__new__", None) is _OBJECT_NEW
        and getattr(func, "__signature__", None) is None
        and getattr(func, "__wrapped__", None) is None
    ):
        return inspect.Signature()
    return inspect.signature(func)
