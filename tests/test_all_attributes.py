"""The public surface is exactly ``asyncactors.__all__``."""

from __future__ import annotations

import types

import pytest

import asyncactors


def test_all_names_exist_and_are_public() -> None:
    """Every name in __all__ exists and is re-exported under the public module."""
    for name in asyncactors.__all__:
        obj = getattr(asyncactors, name)
        assert getattr(obj, "__module__", "asyncactors") == "asyncactors", name


def test_no_public_name_outside_all() -> None:
    """Nothing public is exported that __all__ does not list, and dir() lists all of
    __all__, the names imported on first use included."""
    public = {
        name
        for name, value in vars(asyncactors).items()
        # Subpackages (asyncactors.integrations, asyncactors.mypy) appear here
        # once imported; they are reached by import, not re-exported.
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(asyncactors.__all__)
    listed = {
        name
        for name in dir(asyncactors)
        if not name.startswith("_") and not isinstance(getattr(asyncactors, name), types.ModuleType)
    }
    assert listed == set(asyncactors.__all__)


def test_unknown_attribute_raises_attribute_error() -> None:
    """A name the package does not have raises AttributeError naming it."""
    with pytest.raises(AttributeError, match="no_such_name"):
        asyncactors.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_all_is_sorted_and_unique() -> None:
    """__all__ has no duplicates and stays sorted, so diffs stay readable."""
    assert len(set(asyncactors.__all__)) == len(asyncactors.__all__)
    assert list(asyncactors.__all__) == sorted(asyncactors.__all__)


def test_exceptions_document_what_raises_them() -> None:
    """Each exception's docstring names the API that raises it."""
    for name in asyncactors.__all__:
        obj = getattr(asyncactors, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            doc = obj.__doc__ or ""
            if obj is asyncactors.AsyncActorsError:
                continue
            assert "Raised by" in doc, name


def test_py_typed_is_shipped() -> None:
    """The package ships py.typed so type checkers use its annotations."""
    from importlib.resources import files

    assert files("asyncactors").joinpath("py.typed").is_file()
