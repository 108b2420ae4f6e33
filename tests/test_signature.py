"""ArgChecker accepts exactly what inspect.Signature.bind accepts."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncactors._signature import ArgChecker


def plain(self: Any, a: int, b: int = 2) -> None: ...
def kwonly(self: Any, a: int, *, k: int, j: int = 0) -> None: ...
def varargs(self: Any, a: int, *rest: int, k: int = 1) -> None: ...
def varkw(self: Any, a: int, /, b: int = 0, **extra: int) -> None: ...
def nothing(self: Any) -> None: ...


FUNCS = [plain, kwonly, varargs, varkw, nothing]
NAMES = ["a", "b", "k", "j", "rest", "extra", "zz"]


def _binds(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    params = list(inspect.signature(func).parameters.values())[1:]
    try:
        inspect.Signature(params).bind(*args, **kwargs)
    except TypeError:
        return False
    return True


@pytest.mark.parametrize("func", FUNCS, ids=lambda f: f.__name__)
@given(
    nargs=st.integers(0, 4),
    keys=st.lists(st.sampled_from(NAMES), max_size=4, unique=True),
)
def test_checker_agrees_with_bind(func: Any, nargs: int, keys: list[str]) -> None:
    """For any positional count and keyword set, the checker accepts iff bind does."""
    checker = ArgChecker(func, "C.m", drop_first=True)
    args = tuple(range(nargs))
    kwargs = dict.fromkeys(keys, 0)
    if _binds(func, args, kwargs):
        checker(args, kwargs)
    else:
        with pytest.raises(TypeError, match=r"C\.m"):
            checker(args, kwargs)


def test_error_message_names_method_and_problem() -> None:
    """The TypeError names the method, its signature and what bind objected to."""
    checker = ArgChecker(plain, "Counter.incr", drop_first=True)
    with pytest.raises(
        TypeError, match=r"Counter\.incr\(a, b=2\): missing a required argument: .a."
    ):
        checker((), {})
    with pytest.raises(TypeError, match="unexpected keyword argument 'zz'"):
        checker((1,), {"zz": 1})


def test_fast_bounds_never_admit_what_bind_rejects() -> None:
    """fast_min/fast_max describe only argument counts that bind accepts without keywords."""
    for func in FUNCS:
        checker = ArgChecker(func, "C.m", drop_first=True)
        for n in range(6):
            if checker.fast_min <= n <= checker.fast_max:
                assert _binds(func, tuple(range(n)), {}), (func.__name__, n)
