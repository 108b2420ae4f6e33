"""ArgChecker accepts exactly what inspect.Signature.bind accepts."""

from __future__ import annotations

import contextlib
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
    """fast_min/fast_max describe only argument counts that bind accepts without keywords,
    before the checker's first use and after it."""
    for func in FUNCS:
        checker = ArgChecker(func, "C.m", drop_first=True)
        assert not any(checker.fast_min <= n <= checker.fast_max for n in range(6))
        with contextlib.suppress(TypeError):
            checker((), {})
        for n in range(6):
            if checker.fast_min <= n <= checker.fast_max:
                assert _binds(func, tuple(range(n)), {}), (func.__name__, n)


def test_signature_is_read_on_first_use_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Making a checker does not call ``inspect.signature``; its first use does, once."""
    calls: list[object] = []
    real = inspect.signature

    def counting(obj: Any, *args: Any, **kwargs: Any) -> inspect.Signature:
        calls.append(obj)
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(inspect, "signature", counting)
    checker = ArgChecker(plain, "C.m", drop_first=True)
    assert calls == []
    checker((1,), {})
    with pytest.raises(TypeError, match=r"C\.m\(a, b=2\): too many positional arguments"):
        checker((1, 2, 3), {})
    assert calls == [plain]
    assert (checker.fast_min, checker.fast_max) == (1, 2)


def test_decorating_a_class_reads_no_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    """``@remote`` reads no method's signature: a method's is read at its first call."""
    import asyncactors

    calls: list[str] = []
    real = inspect.signature

    def counting(obj: Any, *args: Any, **kwargs: Any) -> inspect.Signature:
        calls.append(obj.__name__)
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(inspect, "signature", counting)

    class Counter:
        def __init__(self, start: int) -> None:
            self.n = start

        def incr(self, k: int) -> int:
            self.n += k
            return self.n

        def reset(self) -> None:
            self.n = 0

    actor_class = asyncactors.remote(Counter)
    assert calls == []
    with pytest.raises(TypeError, match=r"Counter\(start\): missing a required argument"):
        actor_class.remote()
    assert calls == ["Counter"]


class _Plain:
    pass


class _Meta(type):
    def __call__(cls, x: int) -> Any:
        return super().__call__()


class _WithMeta(metaclass=_Meta):
    pass


class _WithNew:
    def __new__(cls, x: int) -> _WithNew:
        return super().__new__(cls)


class _Sub(_WithNew):
    pass


class _Dict(dict[str, int]):
    pass


@pytest.mark.parametrize("cls", [_Plain, _WithMeta, _WithNew, _Sub], ids=lambda c: c.__name__)
def test_class_checker_agrees_with_inspect(cls: type) -> None:
    """A class's checker accepts what ``inspect.signature(cls)`` binds, also for a class
    with no constructor of its own (read without parsing ``object``'s text signature)."""
    checker = ArgChecker(cls, cls.__name__, drop_first=False)
    for n in range(3):
        try:
            inspect.signature(cls).bind(*range(n))
        except TypeError:
            with pytest.raises(TypeError, match=cls.__name__):
                checker(tuple(range(n)), {})
        else:
            checker(tuple(range(n)), {})


def test_class_without_signature_is_not_checked() -> None:
    """A class whose signature ``inspect`` cannot read (a ``dict`` subclass) is accepted
    with any arguments; its own constructor then says what does not fit."""
    with pytest.raises(ValueError, match="no signature"):
        inspect.signature(_Dict)
    checker = ArgChecker(_Dict, "_Dict", drop_first=False)
    checker((), {})
    checker(({"a": 1},), {"b": 2})
