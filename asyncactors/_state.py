"""Actor state to checkpoint bytes and back: msgpack with a few ext types, never pickle.

The encoding is plain msgpack. Types msgpack has no native form for travel as
ext types whose payload is itself msgpack, so that decoding only ever builds
data — it never imports a name or runs code from the checkpoint:

======  ===========================  ==============================================
code    Python type                  payload
======  ===========================  ==============================================
1       ``tuple``                    array of the items
2       ``set``                      array of the elements
3       ``frozenset``                array of the elements
4       ``datetime.datetime``        ``[y, mo, d, h, mi, s, us, fold, tz]``; ``tz`` is
                                     nil (naive), an int (a ``datetime.timezone``
                                     offset in microseconds), ``[offset, name]``
                                     (a named ``datetime.timezone``) or a str (a
                                     ``zoneinfo.ZoneInfo`` key)
5       ``datetime.date``            ``[y, mo, d]``
6       ``int`` beyond 64 bits       big-endian two's-complement bytes
======  ===========================  ==============================================

``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``, ``list`` and ``dict``
are msgpack's own. Types are matched exactly, so that everything comes back as
the type it went in as: a subclass (``OrderedDict``, ``defaultdict``, an
``IntEnum``, a ``bytearray``) is refused rather than silently turned into its
base. Shared references are not preserved: an object reachable twice is
stored, and restored, as two copies. A reference cycle is refused, and so are
containers (list, dict, tuple, set, frozenset) nested more than ``MAX_DEPTH``
deep, by the encoder and the decoder alike.
msgpack's standard timestamp ext (-1) decodes to an aware UTC ``datetime``.
"""

from __future__ import annotations

import datetime
import inspect
import re
import sys
import zoneinfo
from collections.abc import Callable
from typing import Any, Final, NoReturn

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from ._exceptions import CheckpointCorruptError

__all__ = [
    "EXT_BIGINT",
    "EXT_DATE",
    "EXT_DATETIME",
    "EXT_FROZENSET",
    "EXT_SET",
    "EXT_TUPLE",
    "capture_state",
    "checkpoint_bytes",
    "decode_state",
    "encode_state",
    "restore_state",
]

EXT_TUPLE = 1
EXT_SET = 2
EXT_FROZENSET = 3
EXT_DATETIME = 4
EXT_DATE = 5
EXT_BIGINT = 6

#: Containers nested deeper than this are refused, when encoding and when
#: decoding alike, so that every checkpoint that loads can be saved again.
#: Encoding recurses a few Python frames per level; decoding does not recurse.
MAX_DEPTH = 100

SUPPORTED = "msgpack with datetime, date, set, frozenset, tuple, bytes"

_INT_MIN = -(2**63)
_UINT_MAX = 2**64 - 1
_PLAIN = frozenset({str, bytes, bool, float, type(None)})
# A ZoneInfo key as the tz database spells them; anything else is not looked up.
_ZONE_KEY = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")
_MICROSECOND = datetime.timedelta(microseconds=1)
_INT: Final = frozenset({int})


class _Unencodable(Exception):
    """Raised inside the encoder; collects the path while it unwinds to the top."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        # Innermost first: ("key", k) for a dict value, ("index", i), ("element", e).
        self.path: list[tuple[str, Any]] = []


def _to_wire(obj: Any, depth: int, active: set[int]) -> Any:
    """``obj`` as msgpack-native values and ``ExtType``; ``_Unencodable`` if it cannot be."""
    t = type(obj)
    if t in _PLAIN:
        return obj
    if t is int:
        if _INT_MIN <= obj <= _UINT_MAX:
            return obj
        return msgpack.ExtType(
            EXT_BIGINT, obj.to_bytes(obj.bit_length() // 8 + 1, "big", signed=True)
        )
    if t is datetime.datetime:
        return msgpack.ExtType(EXT_DATETIME, _pack(_datetime_fields(obj)))
    if t is datetime.date:
        return msgpack.ExtType(EXT_DATE, _pack([obj.year, obj.month, obj.day]))
    if t not in (list, tuple, dict, set, frozenset):
        raise _Unencodable(f"{_type_name(obj)} is not serialisable ({SUPPORTED})")
    if depth >= MAX_DEPTH:
        raise _Unencodable(f"containers are nested more than {MAX_DEPTH} deep")
    if id(obj) in active:
        raise _Unencodable(f"{t.__name__} contains itself (a reference cycle)")
    active.add(id(obj))
    try:
        if t is dict:
            return _dict_to_wire(obj, depth, active)
        items = []
        ordered = t is list or t is tuple
        for i, item in enumerate(obj):
            try:
                items.append(_to_wire(item, depth + 1, active))
            except _Unencodable as exc:
                exc.path.append(("index", i) if ordered else ("element", item))
                raise
    finally:
        active.discard(id(obj))
    if t is list:
        return items
    code = EXT_TUPLE if t is tuple else EXT_SET if t is set else EXT_FROZENSET
    return msgpack.ExtType(code, _pack(items))


def _dict_to_wire(obj: dict[Any, Any], depth: int, active: set[int]) -> dict[Any, Any]:
    out = {}
    for key, value in obj.items():
        try:
            wire_key = _to_wire(key, depth + 1, active)
        except _Unencodable as exc:
            exc.reason = f"dict key {_short_repr(key)}: {exc.reason}"
            raise
        try:
            out[wire_key] = _to_wire(value, depth + 1, active)
        except _Unencodable as exc:
            exc.path.append(("key", key))
            raise
    return out


def _datetime_fields(dt: datetime.datetime) -> list[Any]:
    tz = dt.tzinfo
    wire_tz: Any
    if tz is None:
        wire_tz = None
    elif type(tz) is zoneinfo.ZoneInfo and tz.key is not None and _ZONE_KEY.fullmatch(tz.key):
        wire_tz = tz.key
    elif type(tz) is datetime.timezone:
        offset = tz.utcoffset(None) // _MICROSECOND
        name = tz.tzname(None)
        # timezone(offset) names itself "UTC+hh:mm"; keep only a name that was chosen.
        default_name = datetime.timezone(datetime.timedelta(microseconds=offset)).tzname(None)
        wire_tz = offset if name == default_name else [offset, name]
    else:
        # pytz, dateutil and friends carry rules we could only flatten to one offset.
        raise _Unencodable(
            f"datetime with tzinfo {_type_name(tz)} is not serialisable"
            " (use datetime.timezone, or zoneinfo.ZoneInfo made from a key)"
        )
    return [
        dt.year,
        dt.month,
        dt.day,
        dt.hour,
        dt.minute,
        dt.second,
        dt.microsecond,
        dt.fold,
        wire_tz,
    ]


def _type_name(obj: object) -> str:
    t = _known_type(type(obj))
    module = t.__module__
    if module in ("builtins", t.__name__):
        return _class_name(t)
    # A C accelerator's class by the module it is used from: asyncio.Task, not _asyncio.Task.
    public = sys.modules.get(module.lstrip("_")) if module.startswith("_") else None
    if public is not None and getattr(public, t.__name__, None) is t:
        module = public.__name__
    return f"{module}.{_class_name(t)}"


def _known_type(t: type) -> type:
    """``t``, or for a class of asyncactors' private modules, its nearest base the program
    knows: a task an actor's code made is an ``asyncio.Task`` to it, not the engine's
    ``ActorTask``, and a handle an ``asyncactors.ActorHandle``."""
    for cls in t.__mro__:
        if not cls.__module__.startswith("asyncactors._"):
            return cls
    return t


def _pack(wire: Any) -> bytes:
    # strict_types: everything is exact by now; anything else is a bug here, not data.
    data: bytes = msgpack.packb(wire, use_bin_type=True, strict_types=True)
    return data


def _class_name(cls: type) -> str:
    # A class defined in a function is "f.<locals>.Cls"; the function is noise here.
    return cls.__qualname__.rpartition("<locals>.")[2]


def _short_repr(obj: object) -> str:
    try:
        text = repr(obj)
    except ValueError:
        # An int of more than sys.get_int_max_str_digits() digits, alone or
        # inside a container: a checkpoint may hold one (ext 6).
        return f"<{type(obj).__name__} too large to show>"
    return text if len(text) <= 60 else text[:57] + "..."


def _format_path(path: list[tuple[str, Any]]) -> str:
    parts = []
    for kind, where in reversed(path):
        if kind == "element":
            parts.append(f"{{{_short_repr(where)}}}")
        else:
            parts.append(f"[{_short_repr(where)}]")
    return "".join(parts)


def encode_state(state: Any) -> bytes:
    """Encode ``state`` as one msgpack object, with the ext types in the module docstring.

    Raises ``TypeError`` naming where in ``state`` (e.g. ``state['users'][3]``) a
    value of an unsupported type, a reference cycle or too deep a nesting was found.
    """
    try:
        return _pack(_to_wire(state, 0, set()))
    except _Unencodable as exc:
        raise TypeError(f"state{_format_path(exc.path)}: {exc.reason}") from None


class _Corrupt(Exception):
    """A well-formed msgpack ext whose contents make no sense."""


# Decoding never nests one msgpack unpack call in another beyond a leaf's payload:
# each call holds a large fixed-size context on the C stack, so decoding nested
# tuples through the ext hook overflowed a thread's stack after a few dozen
# levels, long before any Python limit. The hook decodes only leaf exts (their
# payload holds plain values); a tuple, set or frozenset ext comes out of an
# unpack call as a pending ``(code, payload)`` tuple -- with ``use_list=True``
# msgpack itself never makes a tuple -- and ``_from_wire`` decodes it after, with
# a stack of its own.


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(
        data,
        ext_hook=_leaf_hook,
        raw=False,
        use_list=True,
        strict_map_key=False,
        timestamp=3,
    )


def _unpack_plain(data: bytes, what: str) -> list[Any]:
    """A leaf ext's payload, without the ext hook: an ext inside it is just wrong."""
    return _as_list(msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=False), what)


def _as_list(items: Any, what: str) -> list[Any]:
    if type(items) is not list:
        found = "an ext" if type(items) in (tuple, msgpack.ExtType) else type(items).__name__
        raise _Corrupt(f"{what} payload is {found}, not an array")
    return items


def _leaf_hook(code: int, data: bytes) -> Any:
    if code in _COLLECTIONS:
        return (code, data)
    if code == EXT_DATETIME:
        return _decode_datetime(_unpack_plain(data, "datetime"))
    if code == EXT_DATE:
        fields = _unpack_plain(data, "date")
        _check_ints(fields, 3, "date")
        return datetime.date(*fields)
    if code == EXT_BIGINT:
        return int.from_bytes(data, "big", signed=True)
    raise _Corrupt(f"unknown msgpack ext type code {code}")


_COLLECTIONS: Final[dict[int, tuple[str, Callable[[list[Any]], Any]]]] = {
    EXT_TUPLE: ("tuple", tuple),
    EXT_SET: ("set", set),
    EXT_FROZENSET: ("frozenset", frozenset),
}
# What may hold a pending ext: only these need a look inside.
_NESTED: Final = frozenset({list, dict, tuple})


_ITEMS: Final = object()


class _Frame:
    """A container being decoded: its items, decoded in place, then built.

    For a tuple, set or frozenset, ``build`` makes it from its items. For a
    dict, the items are its values and ``keys`` the dict, or, where a key needs
    decoding too, the items are its keys then its values and ``keys`` is
    ``_ITEMS``. For a list, the items are the list itself.
    """

    __slots__ = ("build", "depth", "i", "items", "keys", "slot", "target")

    def __init__(
        self,
        items: list[Any],
        build: Callable[[list[Any]], Any] | None,
        keys: Any,
        depth: int,
        target: list[Any],
        slot: int,
    ) -> None:
        self.items = items
        self.build = build
        self.keys = keys
        self.depth = depth
        self.i = 0
        self.target = target
        self.slot = slot

    def result(self) -> Any:
        items = self.items
        if self.build is not None:
            return self.build(items)
        keys = self.keys
        if keys is None:
            return items  # a list, decoded in place
        if keys is _ITEMS:
            half = len(items) // 2  # keys first, then values
            return dict(zip(items[:half], items[half:], strict=True))
        return dict(zip(keys, items, strict=True))


def _enter(target: list[Any], slot: int, depth: int) -> _Frame | None:
    """Decode the container ``target[slot]`` in place if nothing in it is nested;
    else return its frame. Raises ``_Corrupt`` if it is nested too deep."""
    # The encoder's limit, so that whatever loads can be saved again.
    if depth >= MAX_DEPTH:
        raise _Corrupt(f"containers are nested more than {MAX_DEPTH} deep")
    value = target[slot]
    t = type(value)
    build: Callable[[list[Any]], Any] | None = None
    keys: Any = None
    if t is list:
        items = value
    elif t is dict:
        items = list(value.values())
        keys = value
        if not _NESTED.isdisjoint(map(type, value)):
            items = [*value, *items]
            keys = _ITEMS
    else:
        what, build = _COLLECTIONS[value[0]]
        items = _as_list(_unpack(value[1]), what)
    if _NESTED.isdisjoint(map(type, items)):
        if build is not None:
            target[slot] = build(items)
        return None  # a list or dict of plain values stays as it is
    return _Frame(items, build, keys, depth, target, slot)


def _from_wire(wire: Any) -> Any:
    """``wire`` (from ``_unpack``) with each pending tuple, set and frozenset decoded.

    Depth first with an explicit stack, innermost containers built first: the
    native stack stays flat however deep the data, and nesting beyond
    ``MAX_DEPTH`` is refused before its payload is unpacked.
    """
    if type(wire) not in _NESTED:
        return wire
    out = [wire]
    frame = _enter(out, 0, 0)
    if frame is None:
        return out[0]
    stack = [frame]
    while stack:
        frame = stack[-1]
        items = frame.items
        n = len(items)
        i = frame.i
        child = None
        while i < n:
            if type(items[i]) in _NESTED:
                child = _enter(items, i, frame.depth + 1)
                if child is not None:
                    break
            i += 1
        if child is not None:
            frame.i = i + 1
            stack.append(child)
        else:
            stack.pop()
            frame.target[frame.slot] = frame.result()
    return out[0]


def _check_ints(fields: list[Any], n: int, what: str) -> None:
    if len(fields) != n or not _INT.issuperset(map(type, fields)):
        raise _Corrupt(f"{what} payload is not {n} integers: {_short_repr(fields)}")


def _decode_datetime(fields: list[Any]) -> datetime.datetime:
    if len(fields) != 9:
        raise _Corrupt(f"datetime payload has {len(fields)} fields, not 9")
    _check_ints(fields[:8], 8, "datetime")
    year, month, day, hour, minute, second, microsecond, fold, wire_tz = fields
    tz: datetime.tzinfo | None
    if wire_tz is None:
        tz = None
    elif type(wire_tz) is int:
        tz = datetime.timezone(wire_tz * _MICROSECOND)
    elif type(wire_tz) is list and len(wire_tz) == 2 and type(wire_tz[0]) is int:
        tz = datetime.timezone(wire_tz[0] * _MICROSECOND, wire_tz[1])
    elif type(wire_tz) is str and _ZONE_KEY.fullmatch(wire_tz):
        try:
            tz = zoneinfo.ZoneInfo(wire_tz)
        except zoneinfo.ZoneInfoNotFoundError:
            raise _Corrupt(f"time zone {wire_tz!r} is not known on this machine") from None
    else:
        raise _Corrupt(f"datetime time zone is not understood: {wire_tz!r}")
    return datetime.datetime(
        year, month, day, hour, minute, second, microsecond, tzinfo=tz, fold=fold
    )


def decode_state(data: bytes, *, source: str) -> Any:
    """Decode bytes made by ``encode_state``; build data only, never run code.

    Time, memory and native stack are bounded on any input: nesting is decoded
    without recursion, and containers nested more than ``MAX_DEPTH`` deep are
    refused, as ``encode_state`` refuses them.

    Raises ``CheckpointCorruptError`` naming ``source`` (a file path or store key)
    when ``data`` is empty, truncated, has bytes after the object, is not valid
    msgpack, is nested too deep, or holds an ext type code or ext payload this
    module does not know.
    """
    try:
        return _from_wire(_unpack(data))
    except Exception as exc:
        raise CheckpointCorruptError(
            f"corrupt or truncated checkpoint {source}: {_describe(exc)}"
        ) from exc


def _describe(exc: Exception) -> str:
    if isinstance(exc, msgpack.ExtraData):
        return "unexpected bytes after the end of the checkpoint"
    if str(exc) == "Unpack failed: incomplete input":
        return "the data ends in the middle of the checkpoint (truncated)"
    if isinstance(exc, _Corrupt):
        return str(exc)
    # msgpack's FormatError (a reserved byte such as 0xc1) has no message.
    detail = f": {exc}" if str(exc) else ""
    return f"invalid msgpack data ({type(exc).__name__}{detail})"


def capture_state(instance: object) -> Any:
    """What a checkpoint of ``instance`` holds, not yet encoded.

    This is ``instance.__save_state__()`` if its class defines that method, and
    otherwise a shallow copy of ``vars(instance)``: every instance attribute,
    private ones included; nothing is left out by default. A class that holds
    something unserialisable (a connection, a lock) should define
    ``__save_state__`` and ``__restore_state__``.

    Raises ``TypeError`` if the instance has no ``__dict__`` (a ``__slots__``
    class without ``__save_state__``) or if ``__save_state__`` is a coroutine
    function, and whatever ``__save_state__`` raises.
    """
    if getattr(type(instance), "__save_state__", None) is None:
        try:
            return dict(vars(instance))
        except TypeError:
            raise TypeError(
                f"{_class_name(type(instance))} has no instance __dict__ to checkpoint;"
                " define __save_state__ and __restore_state__"
            ) from None
    state = instance.__save_state__()  # type: ignore[attr-defined]
    _refuse_awaitable(state, instance, "__save_state__")
    return state


def checkpoint_bytes(instance: object) -> bytes:
    """Capture ``instance``'s state (see ``capture_state``) and encode it.

    Raises ``TypeError`` naming what could not be encoded, e.g. ``attribute
    'conn' of Cache: socket is not serialisable (...); define
    Cache.__save_state__ and __restore_state__ to choose what is saved``, or
    ``key ['pool'][0] of Cache.__save_state__(): ...`` for a ``__save_state__``
    result.
    """
    cls_name = _class_name(type(instance))
    own = getattr(type(instance), "__save_state__", None) is not None
    state = capture_state(instance)
    try:
        return _pack(_to_wire(state, 0, set()))
    except _Unencodable as exc:
        path = exc.path
        if own:
            where = (
                f"key {_format_path(path)} of {cls_name}.__save_state__()"
                if path
                else f"{cls_name}.__save_state__() result"
            )
            raise TypeError(f"{where}: {exc.reason}") from None
        if path:
            # The outermost segment is the attribute's name, a key of vars(instance).
            where = f"attribute {path[-1][1]!r}{_format_path(path[:-1])} of {cls_name}"
        else:
            where = f"the attributes of {cls_name}"
        raise TypeError(
            f"{where}: {exc.reason}; define {cls_name}.__save_state__ and __restore_state__"
            " to choose what is saved"
        ) from None


def restore_state(instance: object, state: Any, *, source: str | None = None) -> None:
    """Put ``state`` (from ``capture_state``, after a round trip) back into ``instance``.

    Calls ``instance.__restore_state__(state)`` if the class defines it.
    Otherwise ``state`` must be a dict of attribute names, which are set on the
    instance; attributes ``__init__`` set that the checkpoint does not mention
    keep their fresh values.

    Raises ``CheckpointCorruptError`` (naming ``source`` if given) if, without
    ``__restore_state__``, ``state`` is not a dict with str keys; ``TypeError`` if
    the instance has no ``__dict__`` or ``__restore_state__`` is a coroutine
    function; and whatever ``__restore_state__`` raises.
    """
    cls = type(instance)
    if getattr(cls, "__restore_state__", None) is not None:
        result = instance.__restore_state__(state)  # type: ignore[attr-defined]
        _refuse_awaitable(result, instance, "__restore_state__")
        return
    where = f" {source}" if source else ""
    if type(state) is not dict:
        raise CheckpointCorruptError(
            f"checkpoint{where} for {_class_name(cls)} holds {type(state).__name__},"
            " not a dict of attributes"
        )
    bad = [k for k in state if type(k) is not str]
    if bad:
        raise CheckpointCorruptError(
            f"checkpoint{where} for {_class_name(cls)} has non-str attribute names: "
            f"{', '.join(map(_short_repr, bad[:5]))}"
        )
    try:
        attrs = vars(instance)
    except TypeError:
        raise TypeError(
            f"{_class_name(cls)} has no instance __dict__ to restore into;"
            " define __save_state__ and __restore_state__"
        ) from None
    attrs.update(state)


def _refuse_awaitable(result: object, instance: object, hook: str) -> None:
    if inspect.isawaitable(result):
        close: Callable[[], object] | None = getattr(result, "close", None)
        if close is not None:
            close()  # no "coroutine was never awaited" warning on top of our error
        _raise_async_hook(instance, hook)


def _raise_async_hook(instance: object, hook: str) -> NoReturn:
    raise TypeError(f"{_class_name(type(instance))}.{hook} must be a plain def, not async")
