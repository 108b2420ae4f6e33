"""Checkpoint encoding (issue 3, "Durable state"): msgpack with ext types, exact round trips.

State goes out through ``checkpoint_bytes`` (``__save_state__`` or the instance's
attributes) and comes back through ``decode_state`` and ``restore_state``. What
cannot be encoded is a ``TypeError`` naming where it is; what cannot be decoded is a
``CheckpointCorruptError`` naming the source; nothing on the way back runs code.
"""

from __future__ import annotations

import collections
import datetime
import enum
import json
import os
import subprocess
import sys
import textwrap
import threading
import zoneinfo
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncactors._exceptions import CheckpointCorruptError
from asyncactors._state import (
    EXT_BIGINT,
    EXT_DATE,
    EXT_DATETIME,
    EXT_FROZENSET,
    EXT_SET,
    EXT_TUPLE,
    MAX_DEPTH,
    capture_state,
    checkpoint_bytes,
    decode_state,
    encode_state,
    restore_state,
)

UTC = datetime.UTC
ROOT = Path(__file__).resolve().parent.parent


def roundtrip(value: Any) -> Any:
    return decode_state(encode_state(value), source="test")


def assert_same(a: Any, b: Any) -> None:
    """``a`` and ``b`` are equal with the same types all the way down, tzinfo included."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert len(a) == len(b)
        for key, value in a.items():
            other_key = next(k for k in b if k == key)
            assert_same(key, other_key)
            assert_same(value, b[key])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, set | frozenset):
        assert a == b
        for x in a:
            assert_same(x, next(y for y in b if y == x))
    elif isinstance(a, datetime.datetime):
        # == compares aware datetimes as instants; an exact round trip keeps the
        # wall clock, the fold and the zone itself.
        assert a.replace(tzinfo=None) == b.replace(tzinfo=None)
        assert a.fold == b.fold
        assert a.tzinfo == b.tzinfo
        assert a.tzname() == b.tzname()
    else:
        assert a == b


fixed_offsets = st.builds(
    datetime.timezone,
    st.timedeltas(
        min_value=datetime.timedelta(hours=-23, minutes=-59),
        max_value=datetime.timedelta(hours=23, minutes=59),
    ),
)
datetimes = st.datetimes(timezones=st.none() | fixed_offsets | st.timezones())
hashable_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | datetimes
    | st.dates()
)
hashables = st.recursive(
    hashable_leaves,
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
states = st.recursive(
    hashables,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=5) | st.integers() | hashables, inner, max_size=4)
        | st.sets(hashables, max_size=4)
        | st.frozensets(hashables, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(states)
def test_any_supported_state_round_trips_exactly(state: Any) -> None:
    """Nested supported values decode to equal values of the very same types."""
    assert_same(state, roundtrip(state))


def test_tuples_stay_tuples_and_lists_stay_lists() -> None:
    state = {"t": (1, [2, (3, [])]), "l": [(), [()]], (1, (2, 3)): "tuple key"}
    back = roundtrip(state)
    assert_same(state, back)
    assert type(back["t"][1][1]) is tuple
    assert type(back["l"][1]) is list


def test_dict_keys_may_be_str_int_or_tuple() -> None:
    state = {"a": 1, 2: "b", -3: None, (4, "five"): [6], 2**80: "big key"}
    assert_same(state, roundtrip(state))


def test_bools_stay_bools_not_ints() -> None:
    assert_same([True, False, 1, 0], roundtrip([True, False, 1, 0]))


def test_ints_beyond_64_bits_round_trip() -> None:
    values = [2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**100, -(10**100)]
    assert_same(values, roundtrip(values))


def test_sets_and_frozensets_keep_their_type() -> None:
    state = {"s": {1, "x", (2, 3)}, "f": frozenset({frozenset({1}), b"b"})}
    assert_same(state, roundtrip(state))


def test_bytes_are_msgpack_bin() -> None:
    data = encode_state(b"\x00\xff")
    assert msgpack.unpackb(data) == b"\x00\xff"
    assert roundtrip(b"\x00\xff") == b"\x00\xff"


def test_datetimes_keep_microseconds_offset_fold_and_zone() -> None:
    ny = zoneinfo.ZoneInfo("America/New_York")
    values = [
        datetime.datetime(2024, 2, 29, 23, 59, 58, 999_999),
        datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=5.5))),
        datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone(-datetime.timedelta(seconds=1))),
        datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone(datetime.timedelta(0), "GMT")),
        datetime.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=ny),
    ]
    back = roundtrip(values)
    assert_same(values, back)
    assert back[1].tzinfo is UTC
    assert back[4].tzname() == "GMT"
    assert back[5].tzinfo is ny
    assert back[5].utcoffset() == datetime.timedelta(hours=-5)


def test_dates_stay_dates_not_datetimes() -> None:
    assert_same(datetime.date(1, 1, 1), roundtrip(datetime.date(1, 1, 1)))
    assert_same([datetime.date(9999, 12, 31)], roundtrip([datetime.date(9999, 12, 31)]))


def test_msgpack_standard_timestamp_decodes_as_utc_datetime() -> None:
    data = msgpack.packb(msgpack.Timestamp(seconds=86400, nanoseconds=1000))
    assert_same(
        decode_state(data, source="ts"), datetime.datetime(1970, 1, 2, 0, 0, 0, 1, tzinfo=UTC)
    )


# -- what cannot be encoded ---------------------------------------------------------


class Socket:
    """Stands for a resource that has no business in a checkpoint."""


class Cache:
    def __init__(self) -> None:
        self.size = 3
        self.conn = Socket()


def test_unencodable_attribute_is_named_with_its_class() -> None:
    with pytest.raises(TypeError) as info:
        checkpoint_bytes(Cache())
    message = str(info.value)
    assert message.startswith("attribute 'conn' of Cache: ")
    assert "Socket is not serialisable" in message
    assert "datetime" in message  # says what is supported


def test_unencodable_value_deep_in_an_attribute_is_named_by_its_path() -> None:
    cache = Cache()
    cache.conn = {"pool": [1, (2, threading.Lock())]}  # type: ignore[assignment]
    with pytest.raises(TypeError, match=r"^attribute 'conn'\['pool'\]\[1\]\[1\] of Cache: "):
        checkpoint_bytes(cache)


def test_unencodable_dict_key_is_named() -> None:
    with pytest.raises(TypeError, match=r"^state\['a'\]: dict key .*Socket"):
        encode_state({"a": {Socket(): 1}})


class Saved:
    def __init__(self) -> None:
        self.conn = Socket()
        self.items = [1, 2]

    def __save_state__(self) -> Any:
        return {"items": self.items, "extra": {"conn": [self.conn]}}


def test_unencodable_value_in_save_state_result_is_named_by_key_path() -> None:
    with pytest.raises(
        TypeError, match=r"^key \['extra'\]\['conn'\]\[0\] of Saved.__save_state__\(\): "
    ):
        checkpoint_bytes(Saved())


def test_unencodable_save_state_result_itself_is_named() -> None:
    class Whole:
        def __save_state__(self) -> Any:
            return Socket()

    with pytest.raises(TypeError, match=r"^Whole.__save_state__\(\) result: .*Socket"):
        checkpoint_bytes(Whole())


class Colour(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(
    "value",
    [
        collections.OrderedDict(a=1),
        collections.defaultdict(list),
        Colour.RED,
        bytearray(b"x"),
        type("Str", (str,), {})("s"),
    ],
    ids=["OrderedDict", "defaultdict", "IntEnum", "bytearray", "str-subclass"],
)
def test_subclasses_of_supported_types_are_refused_not_coerced(value: Any) -> None:
    """A subclass would come back as its base type, so it is refused by name."""
    with pytest.raises(TypeError, match=rf"^state\['v'\]: .*{type(value).__name__}"):
        encode_state({"v": value})


def test_reference_cycle_is_refused_naming_the_path() -> None:
    loop: list[Any] = [1]
    loop.append({"back": loop})
    with pytest.raises(TypeError, match=r"^state\[1\]\['back'\]: list contains itself"):
        encode_state(loop)


def test_shared_reference_is_not_a_cycle() -> None:
    shared = [1]
    assert roundtrip([shared, shared]) == [[1], [1]]


def test_too_deep_nesting_is_refused() -> None:
    deep: Any = []
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(TypeError, match="nested more than"):
        encode_state(deep)


def test_nesting_up_to_the_limit_round_trips() -> None:
    deep: Any = "leaf"
    for i in range(MAX_DEPTH - 1):
        deep = (deep,) if i % 2 else [deep]
    assert_same(deep, roundtrip(deep))


def test_datetime_with_other_tzinfo_is_refused() -> None:
    class Rules(datetime.tzinfo):
        def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
            return datetime.timedelta(hours=1)

        def dst(self, dt: datetime.datetime | None) -> datetime.timedelta:
            return datetime.timedelta(0)

        def tzname(self, dt: datetime.datetime | None) -> str:
            return "RULES"

    with pytest.raises(TypeError, match=r"^state\[0\]: datetime with tzinfo .*Rules"):
        encode_state([datetime.datetime(2024, 1, 1, tzinfo=Rules())])


# -- capture and restore ------------------------------------------------------------


class Plain:
    def __init__(self) -> None:
        self.n = 1
        self._private = {"a": (1, 2)}


def test_without_hooks_every_attribute_is_captured_private_ones_included() -> None:
    assert capture_state(Plain()) == {"n": 1, "_private": {"a": (1, 2)}}


def test_captured_attributes_are_a_copy() -> None:
    p = Plain()
    state = capture_state(p)
    state["n"] = 99
    assert p.n == 1


def test_without_hooks_attributes_round_trip_into_a_fresh_instance() -> None:
    p = Plain()
    p.n = 42
    p.later = datetime.date(2024, 5, 6)  # type: ignore[attr-defined]
    fresh = Plain()
    fresh.only_fresh = "kept"  # type: ignore[attr-defined]
    restore_state(fresh, decode_state(checkpoint_bytes(p), source="t"))
    assert vars(fresh) == {
        "n": 42,
        "_private": {"a": (1, 2)},
        "later": datetime.date(2024, 5, 6),
        "only_fresh": "kept",
    }


class Hooked:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.total = 0
        self.restored: Any = None

    def __save_state__(self) -> Any:
        return ("v1", self.total)

    def __restore_state__(self, state: Any) -> None:
        self.restored = state
        self.total = state[1]


def test_save_state_and_restore_state_are_used_when_defined() -> None:
    h = Hooked()
    h.total = 7
    data = checkpoint_bytes(h)  # the lock attribute is not looked at
    fresh = Hooked()
    restore_state(fresh, decode_state(data, source="t"))
    assert fresh.restored == ("v1", 7)
    assert type(fresh.restored) is tuple
    assert fresh.total == 7


def test_restore_without_hook_refuses_a_non_dict_naming_the_source() -> None:
    with pytest.raises(CheckpointCorruptError, match=r"store-key.*Plain.*holds list"):
        restore_state(Plain(), [1, 2], source="store-key")


def test_restore_without_hook_refuses_non_str_attribute_names() -> None:
    p = Plain()
    with pytest.raises(CheckpointCorruptError, match="non-str attribute names"):
        restore_state(p, {"n": 5, 3: "x"})
    assert p.n == 1  # nothing was set


def test_a_checkpoint_keyed_by_a_huge_int_is_refused_as_corrupt() -> None:
    """An attribute name that is an int too long for repr() (ext 6) is a corrupt checkpoint,
    not the ValueError of printing it, so on_corrupt_checkpoint="start_fresh" applies."""
    huge = 1 << 40_000
    data = msgpack.packb(
        {msgpack.ExtType(EXT_BIGINT, huge.to_bytes(5001, "big", signed=True)): 1, "n": 5},
        use_bin_type=True,
    )
    p = Plain()
    with pytest.raises(
        CheckpointCorruptError, match="non-str attribute names: <int too large to show>"
    ):
        restore_state(p, decode_state(data, source="t"))
    assert p.n == 1


class Slotted:
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 1


def test_slots_class_without_hooks_is_told_to_define_them() -> None:
    with pytest.raises(TypeError, match=r"Slotted has no instance __dict__.*__save_state__"):
        checkpoint_bytes(Slotted())
    with pytest.raises(TypeError, match="Slotted has no instance __dict__"):
        restore_state(Slotted(), {"n": 2})


def test_async_hooks_are_refused_without_leaving_a_coroutine_unawaited() -> None:
    class Async:
        async def __save_state__(self) -> Any:
            return {}

        async def __restore_state__(self, state: Any) -> None:
            return None

    with pytest.raises(TypeError, match=r"Async.__save_state__ must be a plain def"):
        capture_state(Async())
    with pytest.raises(TypeError, match=r"Async.__restore_state__ must be a plain def"):
        restore_state(Async(), {})


# -- what cannot be decoded ---------------------------------------------------------

SAMPLE = encode_state(
    {
        "t": (1, "two", b"3"),
        "s": {4, 5},
        "when": datetime.datetime(2024, 1, 1, 12, tzinfo=UTC),
        "d": datetime.date(2024, 1, 1),
        "n": 2**70,
    }
)


def test_every_truncation_is_corrupt_and_names_the_source() -> None:
    for end in range(len(SAMPLE)):
        with pytest.raises(CheckpointCorruptError, match=r"/ckpt/a\.msgpack"):
            decode_state(SAMPLE[:end], source="/ckpt/a.msgpack")


def test_truncation_is_reported_as_such() -> None:
    with pytest.raises(CheckpointCorruptError, match="truncated"):
        decode_state(SAMPLE[:-1], source="s")


def test_trailing_bytes_are_corrupt() -> None:
    with pytest.raises(CheckpointCorruptError, match=r"src.*bytes after the end"):
        decode_state(SAMPLE + b"\x00", source="src")


def ext(code: int, payload: bytes) -> bytes:
    data: bytes = msgpack.packb(msgpack.ExtType(code, payload))
    return data


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (ext(99, b""), "unknown msgpack ext type code 99"),
        (ext(EXT_TUPLE, msgpack.packb(5)), "tuple payload is int"),
        (ext(EXT_TUPLE, b"\x92\x01"), "truncated"),
        (ext(EXT_SET, msgpack.packb([[1]])), "unhashable"),
        (ext(EXT_DATETIME, msgpack.packb([2024, 1, 1])), "datetime payload has 3 fields"),
        (ext(EXT_DATETIME, msgpack.packb([2024, 13, 1, 0, 0, 0, 0, 0, None])), "month"),
        (ext(EXT_DATETIME, msgpack.packb([2024, 1, 1, 0, 0, 0, 0, 0, "../../etc"])), "zone"),
        (ext(EXT_DATETIME, msgpack.packb([2024, 1, 1, 0, 0, 0, 0, 0, "No/Such_Zone"])), "zone"),
        (ext(EXT_DATE, msgpack.packb([2024, "1", 1])), "date payload is not 3 integers"),
        (b"\xc1", "invalid msgpack"),
        (b"\xa2\xff\xfe", "utf-8"),
        (b"", "truncated"),
    ],
    ids=[
        "unknown-ext",
        "tuple-not-array",
        "tuple-payload-truncated",
        "unhashable-set-element",
        "datetime-short",
        "datetime-bad-month",
        "zone-path",
        "zone-unknown",
        "date-str-field",
        "reserved-byte",
        "bad-utf8",
        "empty",
    ],
)
def test_malformed_data_is_corrupt_naming_source_and_reason(data: bytes, reason: str) -> None:
    with pytest.raises(CheckpointCorruptError) as info:
        decode_state(data, source="key 'k'")
    assert "key 'k'" in str(info.value)
    assert reason in str(info.value)


def test_a_reserved_byte_names_the_error_without_an_empty_message() -> None:
    """msgpack's FormatError (C) has no message: the reason is '(FormatError)', no empty ': '."""
    with pytest.raises(CheckpointCorruptError) as info:
        decode_state(b"\xc1garbage", source="key 'k'")
    message = str(info.value)
    assert "invalid msgpack data (FormatError" in message
    assert ": )" not in message  # msgpack's pure-Python fallback says 'Unknown header: 0xc1'


def test_pickle_data_is_refused_not_loaded() -> None:
    import pickle

    with pytest.raises(CheckpointCorruptError):
        decode_state(pickle.dumps(Plain()), source="p")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_corrupt_and_nothing_else(data: bytes) -> None:
    assert_decodes_or_is_corrupt(data)


def assert_decodes_or_is_corrupt(data: bytes) -> None:
    """``data`` decodes and loads into an instance's attributes, or raises the library's
    corrupt-checkpoint error naming its source."""
    try:
        restore_state(Plain(), decode_state(data, source="fuzz"), source="fuzz")
    except CheckpointCorruptError as exc:
        message = str(exc)
    else:
        return
    assert "fuzz" in message


# -- hostile and deep data: bounded, on any stack -----------------------------------

# Runs in a subprocess, so that a segfault fails the test instead of killing
# pytest: decodes each case in a thread with a 4 MiB stack and reports, as JSON,
# "ok" and whether the value came back equal, or the exception's type and message.
DEEP_CHILD = textwrap.dedent(
    """
    import json, sys, threading
    import msgpack
    from asyncactors._state import MAX_DEPTH, decode_state, encode_state

    def tuple_ext(payload):
        return msgpack.packb(msgpack.ExtType(1, payload))

    hostile = msgpack.packb(None)       # 200 tuple exts, each the payload of the next
    for _ in range(200):
        hostile = tuple_ext(hostile)
    hostile_arrays = msgpack.packb([])  # 200 tuple exts, each in a 1-item array
    for _ in range(200):
        hostile_arrays = tuple_ext(b"\\x91" + hostile_arrays)
    deep = "leaf"                        # what the library writes: 98 nested tuples
    for _ in range(98):
        deep = (deep,)
    own = {"x": deep, "deepest": [(frozenset({(1,)}),)] }
    for _ in range(MAX_DEPTH - 5):
        own["deepest"] = [own["deepest"]]
    cases = {
        "hostile": (hostile, None),
        "hostile_arrays": (hostile_arrays, None),
        "own": (encode_state(own), own),
    }
    results = {}

    def run():
        for name, (data, expected) in cases.items():
            try:
                value = decode_state(data, source="file '/ckpt/hostile.msgpack'")
            except Exception as exc:
                results[name] = [type(exc).__name__, str(exc)]
            else:
                results[name] = ["ok", value == expected]

    threading.stack_size(4 * 1024 * 1024)
    t = threading.Thread(target=run)
    t.start()
    t.join()
    print(json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def deep_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    script = tmp_path_factory.mktemp("deep") / "deep.py"
    script.write_text(DEEP_CHILD)
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, f"decoding crashed the process ({proc.returncode}): {proc.stderr}"
    results: dict[str, list[Any]] = json.loads(proc.stdout)
    return results


def test_200_nested_tuple_exts_are_a_corrupt_checkpoint_not_a_crash(
    deep_results: dict[str, list[Any]],
) -> None:
    """A 714-byte file of tuple exts nested 200 deep fails cleanly on a 4 MiB thread stack."""
    kind, message = deep_results["hostile"]
    assert kind == "CheckpointCorruptError"
    assert "/ckpt/hostile.msgpack" in message
    kind, message = deep_results["hostile_arrays"]
    assert kind == "CheckpointCorruptError"
    assert f"nested more than {MAX_DEPTH} deep" in message
    assert "/ckpt/hostile.msgpack" in message


def test_checkpoint_nested_almost_to_the_limit_loads_on_a_4_mib_thread_stack(
    deep_results: dict[str, list[Any]],
) -> None:
    """98 nested tuples, written by encode_state, decode equal in a thread with a 4 MiB stack."""
    assert deep_results["own"] == ["ok", True]


def nested_lists(levels: int) -> bytes:
    data: bytes = msgpack.packb(0)
    for _ in range(levels):
        data = b"\x91" + data
    return data


def test_decoding_refuses_the_nesting_encoding_refuses() -> None:
    """MAX_DEPTH nested containers decode; one more is corrupt, as encode refuses it."""
    assert decode_state(nested_lists(MAX_DEPTH), source="s") is not None
    with pytest.raises(
        CheckpointCorruptError, match=f"src: containers are nested more than {MAX_DEPTH}"
    ):
        decode_state(nested_lists(MAX_DEPTH + 1), source="src")
    within: Any = 0
    for _ in range(MAX_DEPTH):
        within = [within]
    assert roundtrip(within) == within


def test_deep_nesting_inside_dict_keys_and_set_elements_counts_too() -> None:
    """Tuples nested in dict keys and set elements count towards the same depth limit."""
    wire = msgpack.packb(0)
    for _ in range(MAX_DEPTH):
        wire = msgpack.packb(msgpack.ExtType(EXT_TUPLE, b"\x91" + wire))
    assert type(decode_state(wire, source="k")) is tuple  # MAX_DEPTH deep: fine alone
    as_key = b"\x81" + wire + b"\x01"  # {key: 1}: one level deeper
    with pytest.raises(CheckpointCorruptError, match="nested more than"):
        decode_state(as_key, source="k")
    as_element = msgpack.packb(msgpack.ExtType(EXT_FROZENSET, b"\x91" + wire))
    with pytest.raises(CheckpointCorruptError, match="nested more than"):
        decode_state(as_element, source="k")


def wire_values(leaf_bytes: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Msgpack arrays, maps and exts around ``leaf_bytes``, ext payloads nested at random."""
    codes = st.sampled_from(
        [EXT_TUPLE, EXT_SET, EXT_FROZENSET, EXT_DATETIME, EXT_DATE, EXT_BIGINT, 0, 99]
    )

    def extend(inner: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
        arrays = st.lists(inner, max_size=3).map(
            lambda items: bytes([0x90 | len(items)]) + b"".join(items)
        )
        maps = st.lists(st.tuples(inner, inner), max_size=2).map(
            lambda pairs: bytes([0x80 | len(pairs)]) + b"".join(k + v for k, v in pairs)
        )
        exts = st.tuples(codes, inner | arrays).map(
            lambda c: msgpack.packb(msgpack.ExtType(c[0], c[1]))
        )
        return arrays | maps | exts

    return st.recursive(leaf_bytes, extend, max_leaves=12)


plain_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.text(max_size=4),
    st.binary(max_size=4),
).map(lambda v: msgpack.packb(v, use_bin_type=True))


@settings(max_examples=150, deadline=None)
@given(wire_values(plain_leaves | st.binary(max_size=3)))
def test_random_nested_ext_data_decodes_or_is_corrupt_and_nothing_else(data: bytes) -> None:
    """Well-formed msgpack with ext types nested at random gives a value or the corrupt error."""
    assert_decodes_or_is_corrupt(data)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_damaged_real_checkpoints_decode_or_are_corrupt_and_nothing_else(
    data: st.DataObject,
) -> None:
    """A real checkpoint with bytes overwritten gives a value or the corrupt error."""
    damaged = bytearray(SAMPLE)
    for _ in range(data.draw(st.integers(1, 4))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    assert_decodes_or_is_corrupt(bytes(damaged))
