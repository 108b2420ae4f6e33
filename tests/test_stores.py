"""Checkpoint stores (issue 3, "Durable state"): MemoryStore and FileStore.

FileStore's promises under test: a save is all or nothing (a save that fails
at any step leaves the previous checkpoint loadable and no temporary file), a
corrupt or truncated file is reported naming the file, and every key maps to
its own file inside the store's directory.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncactors import _stores
from asyncactors._exceptions import CheckpointCorruptError
from asyncactors._state import decode_state, encode_state
from asyncactors._stores import (
    CheckpointStore,
    FileStore,
    MemoryStore,
    checkpoint_key,
    checkpoint_source,
    safe_file_name,
)

OLD = encode_state({"n": 1, "seen": (1, 2)})
NEW = encode_state({"n": 2, "seen": (1, 2, 3), "blob": b"x" * 10_000})


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MemoryStore | FileStore:
    if request.param == "memory":
        return MemoryStore()
    return FileStore(tmp_path / "ckpt")


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- both stores ---------------------------------------------------------------------


def test_both_stores_satisfy_the_protocol(tmp_path: Path) -> None:
    assert isinstance(MemoryStore(), CheckpointStore)
    assert isinstance(FileStore(tmp_path), CheckpointStore)


def test_an_object_without_delete_is_not_a_store() -> None:
    class Partial:
        async def load(self, key: str) -> bytes | None:
            return None

        async def save(self, key: str, data: bytes) -> None:
            pass

    assert not isinstance(Partial(), CheckpointStore)


async def test_load_of_a_missing_key_is_none(store: CheckpointStore) -> None:
    assert await store.load("default/counter") is None


async def test_save_then_load_returns_the_bytes(store: CheckpointStore) -> None:
    await store.save("default/counter", OLD)
    assert await store.load("default/counter") == OLD


async def test_save_replaces_the_previous_checkpoint(store: CheckpointStore) -> None:
    await store.save("k", OLD)
    await store.save("k", NEW)
    assert await store.load("k") == NEW


async def test_keys_are_independent(store: CheckpointStore) -> None:
    await store.save("a", OLD)
    await store.save("b", NEW)
    await store.delete("a")
    assert await store.load("a") is None
    assert await store.load("b") == NEW


async def test_delete_of_a_missing_key_does_nothing(store: CheckpointStore) -> None:
    await store.delete("never-saved")
    assert await store.load("never-saved") is None


async def test_corrupt_bytes_are_reported_on_load(store: CheckpointStore) -> None:
    await store.save("actor-17", OLD[:-2])
    with pytest.raises(CheckpointCorruptError, match="truncated"):
        await store.load("actor-17")


async def test_saved_data_is_copied_not_referenced(store: CheckpointStore) -> None:
    buffer = bytearray(OLD)
    await store.save("k", buffer)  # type: ignore[arg-type]
    buffer[:] = b"\xc1" * len(buffer)
    assert await store.load("k") == OLD


@pytest.mark.parametrize("method", ["load", "delete", "save"])
async def test_a_non_str_key_is_a_type_error(store: CheckpointStore, method: str) -> None:
    args: tuple[Any, ...] = (OLD,) if method == "save" else ()
    with pytest.raises(TypeError, match="key must be a str"):
        await getattr(store, method)(17, *args)


# -- MemoryStore ---------------------------------------------------------------------


async def test_memory_store_corrupt_error_names_the_key() -> None:
    store = MemoryStore()
    await store.save("default/counter", b"\x92\x01")
    with pytest.raises(CheckpointCorruptError, match="MemoryStore key 'default/counter'"):
        await store.load("default/counter")


async def test_memory_store_repr_counts_checkpoints() -> None:
    store = MemoryStore()
    assert repr(store) == "<MemoryStore: 0 checkpoints>"
    await store.save("a", OLD)
    assert repr(store) == "<MemoryStore: 1 checkpoint>"


# -- FileStore: layout and durability -------------------------------------------------


def test_file_store_creates_its_directory(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "b"
    store = FileStore(directory)
    assert directory.is_dir()
    assert store.directory == directory
    assert repr(store) == f"FileStore({str(directory)!r})"


async def test_file_store_writes_one_msgpack_file_per_key(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    await store.save("default/counter", OLD)
    path = store.path_for("default/counter")
    assert files_in(tmp_path) == [path.name]
    assert path.suffix == ".msgpack"
    assert path.name.startswith("default%2Fcounter~")
    assert path.read_bytes() == OLD


async def test_a_new_file_store_on_the_same_directory_sees_the_checkpoints(
    tmp_path: Path,
) -> None:
    """What a fresh process would do: a new store object, same directory."""
    await FileStore(tmp_path).save("default/counter", NEW)
    again = FileStore(tmp_path)
    data = await again.load("default/counter")
    assert data is not None
    assert decode_state(data, source="t")["seen"] == (1, 2, 3)


async def test_delete_removes_the_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    await store.save("k", OLD)
    await store.delete("k")
    assert files_in(tmp_path) == []


async def test_save_recreates_a_directory_removed_under_it(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "gone")
    (tmp_path / "gone").rmdir()
    await store.save("k", OLD)
    assert await store.load("k") == OLD


async def test_concurrent_saves_of_one_key_leave_one_whole_checkpoint(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    versions = [encode_state({"v": i, "pad": b"p" * 5000}) for i in range(20)]
    await asyncio.gather(*(store.save("k", v) for v in versions))
    assert await store.load("k") in versions
    assert files_in(tmp_path) == [store.path_for("k").name]


# -- FileStore: a failed save destroys nothing ----------------------------------------


def fail(*args: object, **kwargs: object) -> None:
    raise OSError(errno.EIO, "injected failure")


class HalfWriter:
    """A file that writes half of what it is given, then finds the disk full."""

    def __init__(self, fd: int, mode: str) -> None:
        self._file = open(fd, mode)  # noqa: SIM115 - closed in __exit__

    def __enter__(self) -> HalfWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def write(self, data: bytes) -> int:
        self._file.write(data[: len(data) // 2])
        self._file.flush()
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("step", ["write", "fsync", "replace"])
async def test_a_save_failing_at_any_step_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    store = FileStore(tmp_path)
    await store.save("default/counter", OLD)
    if step == "write":
        monkeypatch.setattr(_stores, "open", HalfWriter, raising=False)
    elif step == "fsync":
        monkeypatch.setattr(os, "fsync", fail)
    else:
        monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match=r"No space left|injected failure"):
        await store.save("default/counter", NEW)
    monkeypatch.undo()
    assert await store.load("default/counter") == OLD
    assert files_in(tmp_path) == [store.path_for("default/counter").name]  # no temp file


async def test_a_failed_first_save_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path)
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="injected failure"):
        await store.save("k", NEW)
    monkeypatch.undo()
    assert await store.load("k") is None
    assert files_in(tmp_path) == []


@pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="needs /proc to tell a directory fd from a file fd"
)
async def test_save_makes_file_and_directory_entry_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data is fsynced before the rename, and the directory after it."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    await FileStore(tmp_path).save("k", OLD)
    assert events == ["fsync-file", "replace", "fsync-dir"]


# -- FileStore: corrupt files --------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: b"",
        lambda data: data + b"\x00",
        lambda data: b"\xc1" + data[1:],
    ],
    ids=["truncated", "empty", "trailing-garbage", "bad-byte"],
)
async def test_a_damaged_file_is_corrupt_naming_the_path(tmp_path: Path, damage: Any) -> None:
    store = FileStore(tmp_path)
    await store.save("default/counter", NEW)
    path = store.path_for("default/counter")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointCorruptError) as info:
        await store.load("default/counter")
    assert str(path) in str(info.value)


# -- FileStore: key to file name ------------------------------------------------------

ODD_KEYS = [
    "default/counter",
    "default%2Fcounter",
    "..",
    ".",
    "../../etc/passwd",
    "/abs/path",
    "",
    "a\\b",
    "C:evil",
    "nul\x00byte",
    "CON",
    "Counter",
    "counter",
    "ünïcødé/名前",
    "lone\udcffsurrogate",
    "x" * 500,
    "x" * 499 + "y",
    " spaces and\nnewline ",
]


async def test_odd_keys_map_to_distinct_files_inside_the_directory(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    for i, key in enumerate(ODD_KEYS):
        await store.save(key, encode_state(i))
    names = files_in(tmp_path / "store")
    assert len(names) == len(ODD_KEYS)
    assert files_in(tmp_path) == ["store"]  # nothing escaped the directory
    for i, key in enumerate(ODD_KEYS):
        path = store.path_for(key)
        assert path.parent == store.directory
        assert not path.name.startswith(".")
        assert len(path.name.encode()) <= 255
        data = await store.load(key)
        assert data is not None
        assert decode_state(data, source=key) == i


def test_names_differ_by_more_than_case() -> None:
    """On a case-insensitive file system "Counter" and "counter" still get two files."""
    assert safe_file_name("Counter").lower() != safe_file_name("counter").lower()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(), min_size=2, max_size=5, unique=True))
def test_distinct_keys_get_distinct_plain_file_names(keys: list[str]) -> None:
    names = [safe_file_name(k) for k in keys]
    assert len(set(names)) == len(names)
    for name in names:
        assert "/" not in name
        assert "\\" not in name
        assert "\x00" not in name
        assert name not in (".", "..")
        assert name.endswith(".msgpack")
        assert name.isascii()


# -- checkpoint keys ----------------------------------------------------------------


def parse_key(key: str) -> tuple[str, str]:
    """The (namespace, name) a named key was made from: its one '/' splits it."""
    assert key.count("/") == 1, key
    unescape = {"%25": "%", "%2F": "/"}
    namespace, name = (re.sub("%25|%2F", lambda m: unescape[m[0]], part) for part in key.split("/"))
    return namespace, name


# Few characters besides the special ones, so that hypothesis meets them often.
odd_parts = st.text(alphabet="a/%2F5", min_size=1, max_size=6) | st.text(min_size=1)


@settings(max_examples=500, deadline=None)
@given(odd_parts, odd_parts)
def test_named_keys_give_back_their_namespace_and_name(namespace: str, name: str) -> None:
    """(namespace, name) -> key is injective: the key decodes to the very pair, '/' and '%' too."""
    assert parse_key(checkpoint_key(namespace, name, 1)) == (namespace, name)


def test_named_keys_of_tricky_pairs_are_all_distinct() -> None:
    """Every pair of a few tricky parts gets its own key."""
    parts = ["a", "a/a", "a%2Fa", "a%252Fa", "%", "%2F", "%25", "/", "//", "a/", "/a"]
    pairs = list(itertools.product(parts, parts))
    assert len({checkpoint_key(ns, name, 1) for ns, name in pairs}) == len(pairs)


def test_a_slash_in_the_namespace_or_in_the_name_gives_different_keys() -> None:
    """Namespace 'x/a' with name 'b' and namespace 'x' with name 'a/b' are kept apart."""
    assert checkpoint_key("x/a", "b", 1) != checkpoint_key("x", "a/b", 2)
    assert checkpoint_key("x%2Fa", "b", 1) != checkpoint_key("x/a", "b", 2)


plain_parts = st.text(min_size=1).filter(lambda t: "/" not in t and "%" not in t)


@settings(max_examples=200, deadline=None)
@given(plain_parts, plain_parts)
def test_keys_without_slash_or_percent_are_unchanged(namespace: str, name: str) -> None:
    """A namespace and name without '/' or '%' keep the key 'namespace/name' they always had."""
    assert checkpoint_key(namespace, name, 7) == f"{namespace}/{name}"


def test_unnamed_keys_are_new_for_every_actor_and_never_a_named_key() -> None:
    """Two unnamed actors with the same id (two processes) get different keys, without '/'."""
    first, second = checkpoint_key("default", None, 1), checkpoint_key("default", None, 1)
    assert first != second
    assert first.startswith("actor-1-")
    assert "/" not in first


def test_errors_name_the_file_of_a_file_store_and_the_key_of_others(tmp_path: Path) -> None:
    """checkpoint_source names a FileStore's file, a MemoryStore's key, and any store's key."""
    files = FileStore(tmp_path)
    assert checkpoint_source(files, "default/c") == f"file {str(files.path_for('default/c'))!r}"
    assert checkpoint_source(MemoryStore(), "default/c") == "in MemoryStore key 'default/c'"
    assert checkpoint_source(object(), "k").endswith("['k']")
