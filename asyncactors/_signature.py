"""Cheap argument checks at the call site.

``inspect.Signature.bind`` costs several microseconds, more than the rest of a
call. An ``ArgChecker`` accepts the common shapes (positional arguments, plain
keywords) with a few comparisons and asks ``bind`` only when something looks
wrong, so the slow path also writes the error message.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["ArgChecker"]

_P = inspect.Parameter


class ArgChecker:
    """Checks ``(args, kwargs)`` against a signature; raises ``TypeError`` naming ``label``."""

    __slots__ = (
        "_label",
        "_max_pos",
        "_min_pos",
        "_names",
        "_posonly",
        "_required_kw",
        "_required_pos",
        "_shown",
        "_sig",
        "_varkw",
        "fast_max",
        "fast_min",
    )

    def __init__(self, func: Callable[..., Any], label: str, *, drop_first: bool) -> None:
        sig = inspect.signature(func)
        params = list(sig.parameters.values())
        if (
            drop_first
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
        self._label = label
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
        # Callers may skip calling the checker when there are no keyword
        # arguments and fast_min <= len(args) <= fast_max.
        self.fast_min = self._min_pos if not self._required_kw else 1 << 60
        self.fast_max = self._max_pos

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Return if the arguments fit; raise ``TypeError`` if they do not."""
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
