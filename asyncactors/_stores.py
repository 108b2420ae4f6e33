"""Where checkpoints live: the ``CheckpointStore`` protocol, ``MemoryStore``, ``FileStore``.

A store maps string keys (see ``checkpoint_key``) to the bytes of one
checkpoint. It does not interpret them beyond checking, on ``load``, that they
decode as a checkpoint, so that a corrupt one is reported by the store that
holds it, naming the file or key.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

import anyio.to_thread

from ._state import decode_state

__all__ = ["CheckpointStore", "FileStore", "MemoryStore", "checkpoint_key", "checkpoint_source"]


def _escape(part: str) -> str:
    return part.replace("%", "%25").replace("/", "%2F")


def checkpoint_key(namespace: str, name: str | None, actor_id: int) -> str:
    """The key under which an actor's checkpoints are stored.

    A named actor's key is ``<namespace>/<name>``, with ``%`` and ``/`` in
    either written ``%25`` and ``%2F``: keys of different (namespace, name)
    pairs differ, and a pair without those characters keeps the plain
    ``namespace/name`` of earlier versions. An unnamed actor's key is
    ``actor-<id>-<32 random hex digits>``, new for each actor: ids start at 1
    in every process, and an unnamed actor must never find the checkpoint of an
    unrelated actor of another process or system run. It holds no ``/``, so it
    is never a named actor's key either.
    """
    if name is None:
        return f"actor-{actor_id}-{secrets.token_hex(16)}"
    return f"{_escape(namespace)}/{_escape(name)}"


def checkpoint_source(store: object, key: str) -> str:
    """How errors name the checkpoint under ``key``: its file for a ``FileStore``."""
    if isinstance(store, FileStore):
        return f"file {str(store.path_for(key))!r}"
    if isinstance(store, MemoryStore):
        return f"in MemoryStore key {key!r}"
    return f"{store!r}[{key!r}]"


@runtime_checkable
class CheckpointStore(Protocol):
    """What ``checkpoint_store=`` accepts: async ``load``, ``save`` and ``delete`` by key.

    Keys are arbitrary strings chosen by asyncactors (``checkpoint_key``), e.g.
    ``"default/counter"`` for a named actor; a store must map every key to its own
    place in storage, whatever characters it holds. Data is opaque bytes.
    """

    async def load(self, key: str) -> bytes | None:
        """The bytes last saved under ``key``, or ``None`` if there are none.

        Raises ``CheckpointCorruptError``, naming where the checkpoint is kept,
        if the stored bytes are not a complete checkpoint, and ``OSError`` (or
        the backend's own error) if the storage cannot be read.
        """
        ...

    async def save(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing what was there, all or nothing.

        When it returns, the data is durable as far as the store promises. When
        it raises (``OSError`` or the backend's own error), the previous
        checkpoint under ``key``, if any, is still there and loadable.
        """
        ...

    async def delete(self, key: str) -> None:
        """Remove the checkpoint under ``key``; nothing happens if there is none.

        Raises ``OSError`` (or the backend's own error) if it cannot be removed.
        """
        ...


def _check_key(key: object) -> str:
    if type(key) is not str:
        raise TypeError(f"checkpoint key must be a str, not {type(key).__name__}")
    return key


class MemoryStore:
    """Checkpoints in a dict of this object: they outlive actor restarts, not the process.

    Actors given the same ``MemoryStore`` share it; any thread may use it.
    """

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    async def load(self, key: str) -> bytes | None:
        """The bytes saved under ``key``, or ``None``.

        Raises ``CheckpointCorruptError`` naming the key if they are not a
        complete checkpoint, and ``TypeError`` if ``key`` is not a str.
        """
        data = self._data.get(_check_key(key))
        if data is not None:
            decode_state(data, source=checkpoint_source(self, key))
        return data

    async def save(self, key: str, data: bytes) -> None:
        """Keep a copy of ``data`` under ``key``. Raises ``TypeError`` for a non-str key."""
        self._data[_check_key(key)] = bytes(data)

    async def delete(self, key: str) -> None:
        """Forget ``key`` if present. Raises ``TypeError`` for a non-str key."""
        self._data.pop(_check_key(key), None)

    def __repr__(self) -> str:
        n = len(self._data)
        return f"<MemoryStore: {n} checkpoint{'' if n == 1 else 's'}>"


# Left readable in file names; everything else is percent-encoded.
_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
_MAX_READABLE = 100
SUFFIX = ".msgpack"


def safe_file_name(key: str) -> str:
    """The file name ``FileStore`` uses for ``key``: ``<readable>~<hash>.msgpack``.

    ``<readable>`` is the key with every byte of its UTF-8 form outside
    ``[A-Za-z0-9._-]`` percent-encoded (a leading ``.`` too, so that no file is
    hidden), cut to 100 characters; it is for people listing the directory.
    ``<hash>`` is the first 32 hex digits of the SHA-256 of the key, which keeps
    distinct keys apart even where the readable part is cut, or where the file
    system ignores case. The name never contains a path separator, so no key
    can reach outside the store's directory, and it stays far below the usual
    255-byte limit.
    """
    raw = key.encode("utf-8", "surrogatepass")
    readable = "".join(
        chr(b) if chr(b) in _SAFE_CHARS and not (i == 0 and b == ord(".")) else f"%{b:02X}"
        for i, b in enumerate(raw)
    )[:_MAX_READABLE]
    digest = hashlib.sha256(raw).hexdigest()[:32]
    return f"{readable}~{digest}{SUFFIX}"


class FileStore:
    """One msgpack file per key in ``directory``, replaced atomically; survives the process.

    The directory is created (with parents) if missing. Each key's file is
    ``directory / safe_file_name(key)``. ``save`` writes a temporary file in the
    same directory, flushes and fsyncs it, renames it over the old file with
    ``os.replace`` and fsyncs the directory, so that after a crash at any point
    the file holds either the previous checkpoint or the new one, never a mix.
    A process killed mid-save may leave a ``.<name>.*.tmp`` file behind; it is
    never read. Files are created with mode 0600 (``tempfile.mkstemp``).

    Blocking file operations run in a worker thread, so the event loop never
    waits on the disk; a cancelled ``save`` finishes its thread first, so it has
    either happened entirely or not at all.

    Raises ``OSError`` from the constructor if the directory cannot be created.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).absolute()
        self.directory.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        """The file that holds ``key``'s checkpoint (which may not exist).

        Raises ``TypeError`` if ``key`` is not a str.
        """
        return self.directory / safe_file_name(_check_key(key))

    async def load(self, key: str) -> bytes | None:
        """The checkpoint saved under ``key``, or ``None`` if there is no file.

        Raises ``CheckpointCorruptError`` naming the file if it is empty,
        truncated or not a valid checkpoint, and ``OSError`` if it cannot be read.
        """
        return await anyio.to_thread.run_sync(self._load_sync, key)

    async def save(self, key: str, data: bytes) -> None:
        """Atomically replace ``key``'s file with ``data`` and make it durable.

        Raises ``OSError`` if writing, syncing or renaming fails; the previous
        file is then untouched and the temporary file is removed.
        """
        await anyio.to_thread.run_sync(self._save_sync, self.path_for(key), bytes(data))

    async def delete(self, key: str) -> None:
        """Remove ``key``'s file if it exists. Raises ``OSError`` if that fails."""
        await anyio.to_thread.run_sync(self._delete_sync, self.path_for(key))

    def __repr__(self) -> str:
        return f"FileStore({str(self.directory)!r})"

    def _load_sync(self, key: str) -> bytes | None:
        try:
            data = self.path_for(key).read_bytes()
        except FileNotFoundError:
            return None
        decode_state(data, source=checkpoint_source(self, key))
        return data

    def _save_sync(self, path: Path, data: bytes) -> None:
        # Someone may have removed the directory since the constructor ran.
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with open(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._fsync_directory()

    def _delete_sync(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            return
        self._fsync_directory()

    def _fsync_directory(self) -> None:
        # The rename or unlink is durable only once the directory entry is.
        # Windows cannot open a directory for fsync, and does not need it.
        if not hasattr(os, "O_DIRECTORY"):  # pragma: no cover - Windows
            return
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
