"""Copying arguments and results as Ray's serialization does: pickle protocol 5.

Ray serializes a call's arguments when ``.remote()`` is called and a result
when the method returns, and every ``ray.get`` deserializes anew: mutating an
argument after the call, or a value after getting it, changes nothing
elsewhere. Here a value becomes a ``Serialized`` payload (pickle, cloudpickle
only where pickle cannot: lambdas, local classes), and loads where Ray would
deserialize. Immutable atoms (numbers, strings, bytes, ``None``), and tuples
of them, pass as they are: copying them would change nothing.

Refs, actor handles, remote functions and actor classes inside a value are
not copied: pickling one records the object itself beside the bytes
(``share()``), and loading gives back that same object, as Ray gives back a
ref to the same object.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "ATOMS",
    "Refused",
    "Serialized",
    "copying",
    "deserialize",
    "load_args",
    "lookup",
    "register",
    "serialize",
    "share",
]

PROTOCOL: Final = 5

# Immutable values that need no copy.
ATOMS: Final = frozenset({int, float, str, bytes, bool, type(None), complex})


def _first_dumps(value: Any, protocol: int) -> bytes:
    _load_pickle()
    return _dumps(value, protocol)


def _first_loads(data: bytes) -> Any:
    _load_pickle()
    return _loads(data)


def _load_pickle() -> None:
    global _dumps, _loads
    import pickle

    _dumps, _loads = pickle.dumps, pickle.loads


# pickle.dumps and pickle.loads, once the first value to copy has loaded pickle (a
# module that takes longer to load than most of this package's): a program whose
# calls pass only atoms never loads it, and after the first use nothing is left
# to check per copy.
_dumps: Callable[[Any, int], bytes] = _first_dumps
_loads: Callable[[bytes], Any] = _first_loads


class _Local(threading.local):
    capture: list[Any] | None = None
    restore: list[Any] | None = None


_tls = _Local()


class Serialized:
    """A serialized value: pickle's bytes, plus the shared objects they refer to."""

    __slots__ = ("data", "shared")

    def __init__(self, data: bytes, shared: list[Any] | None) -> None:
        self.data = data
        self.shared = shared

    def load(self) -> Any:
        """A new copy of the value.

        Raises:
            Exception: what unpickling raises (a class that cannot be imported).
        """
        tls = _tls
        previous = tls.restore
        tls.restore = self.shared
        try:
            return _loads(self.data)
        finally:
            tls.restore = previous

    def __repr__(self) -> str:
        return f"<Serialized {len(self.data)} bytes>"


class Refused(ValueError):
    """Raised by a ``__reduce__`` that refuses to be copied into a call or a ``put``
    (Ray's nil ref): ``serialize()`` raises it as a plain ``ValueError``, where it
    tries cloudpickle after any other error."""


def copying() -> bool:
    """Whether ``serialize()`` is pickling now, not a program's own ``pickle.dumps``."""
    return _tls.capture is not None


def serialize(value: Any, what: str = "the value") -> Any:
    """``value`` ready to be copied: itself if it is an immutable atom, else a ``Serialized``.

    Raises:
        TypeError: the value cannot be pickled, even by cloudpickle (a lock, a
            socket), or cloudpickle is not installed for a value only it can pickle.
        ValueError: the value holds something that refuses to be copied (Ray's nil ref).
    """
    kind = type(value)
    if kind in ATOMS or (kind is tuple and all(type(v) in ATOMS for v in value)):
        return value  # immutable all through: a copy would be the same
    tls = _tls
    previous = tls.capture
    shared: list[Any] = []
    tls.capture = shared
    try:
        try:
            data = _dumps(value, PROTOCOL)
        except Refused as exc:
            raise ValueError(*exc.args) from None  # a plain ValueError, as Ray's
        except Exception as exc:
            shared.clear()
            data = _cloudpickle(value, exc, what)
    finally:
        tls.capture = previous
    return Serialized(data, shared or None)


def _cloudpickle(value: Any, first: Exception, what: str) -> bytes:
    try:
        import cloudpickle  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        raise TypeError(
            f"Could not serialize {what} {_short(value)} with pickle ({first}); "
            "install cloudpickle (pip install 'asyncactors[ray-compat]'), which also "
            "pickles lambdas and classes defined inside functions, as Ray does"
        ) from first
    try:
        data: bytes = cloudpickle.dumps(value, protocol=PROTOCOL)
    except Refused as exc:  # met only once pickle had failed on something else
        raise ValueError(*exc.args) from None
    except Exception as exc:
        raise TypeError(f"Could not serialize {what} {_short(value)}: {exc}") from exc
    return data


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def deserialize(payload: Any) -> Any:
    """The value of a payload that ``serialize()`` made: a new copy, or the atom."""
    if type(payload) is Serialized:
        return payload.load()
    return payload


def load_args(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Arguments with every ``Serialized`` one loaded."""
    for a in args:
        if type(a) is Serialized:
            args = tuple([deserialize(x) for x in args])
            break
    if kwargs:
        for v in kwargs.values():
            if type(v) is Serialized:
                kwargs = {k: deserialize(x) for k, x in kwargs.items()}
                break
    return args, kwargs


def share(obj: Any) -> tuple[Callable[[int], Any], tuple[int]] | None:
    """For ``__reduce__``: keep ``obj`` itself beside the bytes being written.

    Returns the reduction that loads it back, or ``None`` outside
    ``serialize()`` (someone pickles the object directly).
    """
    shared = _tls.capture
    if shared is None:
        return None
    shared.append(obj)
    return _restore, (len(shared) - 1,)


def _restore(index: int) -> Any:
    restore = _tls.restore
    if restore is None:
        import pickle

        raise pickle.UnpicklingError(
            "this pickle refers to a ref or actor handle of asyncactors.compat.ray "
            "that was serialized for one call only"
        )
    return restore[index]


# Objects pickled outside serialize() (pickle.dumps(ref) by hand): found again
# by key in this process while they are alive.
_registry: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_keys = itertools.count(1)


def register(obj: Any) -> int:
    """A key that ``lookup()`` turns back into ``obj`` while it is alive."""
    key = next(_keys)
    _registry[key] = obj
    return key


def lookup(key: int) -> Any:
    """The object ``register()`` gave ``key``, or ``None`` once it is gone."""
    return _registry.get(key)
