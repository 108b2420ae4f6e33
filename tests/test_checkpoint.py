"""Durable state: checkpoints through restarts and across processes."""

from __future__ import annotations

import ast
import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import asyncactors
from asyncactors import (
    ActorDiedError,
    ActorSystem,
    CheckpointCorruptError,
    CheckpointError,
    FileStore,
    MemoryStore,
)

ROOT = Path(__file__).resolve().parent.parent


class Boom(Exception):
    pass


class Account:
    def __init__(self) -> None:
        self.balance = 0
        self.history: list[int] = []

    def deposit(self, k: int) -> int:
        self.balance += k
        self.history.append(k)
        return self.balance

    def state(self) -> tuple[int, list[int]]:
        return self.balance, self.history

    def crash(self) -> None:
        raise Boom


def account(**options: Any) -> asyncactors.ActorClass[Account]:
    options.setdefault("max_restarts", 5)
    return asyncactors.remote(restart_on=(Boom,), **options)(Account)


async def test_state_survives_restart_with_checkpoint_every_call() -> None:
    """With checkpoint_every=1 a restarted actor resumes from the last acknowledged call."""
    async with ActorSystem():
        a = account(checkpoint_store=MemoryStore(), checkpoint_every=1).remote()
        assert await a.deposit.remote(5) == 5
        assert await a.deposit.remote(7) == 12
        with pytest.raises(Boom):
            await a.crash.remote()
        assert await a.state.remote() == (12, [5, 7])
        assert a._core.restarts == 1


async def test_without_store_a_restart_starts_fresh() -> None:
    """Without a checkpoint store a restart rebuilds the actor from its constructor."""
    async with ActorSystem():
        a = account().remote()
        await a.deposit.remote(5)
        with pytest.raises(Boom):
            await a.crash.remote()
        assert await a.state.remote() == (0, [])


async def test_checkpoint_every_n_calls() -> None:
    """checkpoint_every=3 saves after every third successful call; a crash rolls back to it."""
    async with ActorSystem():
        a = account(checkpoint_store=MemoryStore(), checkpoint_every=3).remote()
        for k in range(1, 6):
            await a.deposit.remote(k)  # saved after 1+2+3 = 6, not after 4 and 5
        with pytest.raises(Boom):
            await a.crash.remote()
        assert await a.state.remote() == (6, [1, 2, 3])


async def test_checkpoint_every_zero_saves_on_request_and_on_stop() -> None:
    """checkpoint_every=0 saves only on handle.checkpoint() and on a graceful stop."""
    store = MemoryStore()
    async with ActorSystem():
        a = account(checkpoint_store=store, name="acct").remote()
        await a.deposit.remote(1)
        assert await store.load("default/acct") is None
        await a.checkpoint()
        await a.deposit.remote(2)
        with pytest.raises(Boom):
            await a.crash.remote()
        assert await a.state.remote() == (1, [1])
        await a.deposit.remote(10)
    async with ActorSystem():
        again = account(checkpoint_store=store, name="acct").remote()
        assert await again.state.remote() == (11, [1, 10])


async def test_result_waits_for_the_save() -> None:
    """With checkpoint_every=1 a call's result reaches its caller only after the save."""
    gate = asyncio.Event()

    class SlowStore(MemoryStore):
        async def save(self, key: str, data: bytes) -> None:
            await gate.wait()
            await super().save(key, data)

    store = SlowStore()
    async with ActorSystem():
        a = account(checkpoint_store=store, checkpoint_every=1, name="slow").remote()
        ref = a.deposit.remote(3)
        await asyncio.sleep(0.02)
        assert not ref.done()
        assert await store.load("default/slow") is None
        gate.set()
        assert await ref == 3
        assert await store.load("default/slow") is not None


async def test_failed_save_fails_the_call_and_keeps_the_old_checkpoint() -> None:
    """A save that raises gives the caller CheckpointError; the last good state is kept."""

    class FlakyStore(MemoryStore):
        fail = False

        async def save(self, key: str, data: bytes) -> None:
            if self.fail:
                raise OSError("disk full")
            await super().save(key, data)

    store = FlakyStore()
    async with ActorSystem():
        a = account(checkpoint_store=store, checkpoint_every=1).remote()
        await a.deposit.remote(1)
        store.fail = True
        with pytest.raises(CheckpointError, match="could not save its state: disk full") as e:
            await a.deposit.remote(2)
        assert isinstance(e.value.__cause__, OSError)
        store.fail = False
        with pytest.raises(Boom):
            await a.crash.remote()
        assert await a.state.remote() == (1, [1])


async def test_unencodable_attribute_is_named() -> None:
    """A checkpoint of state msgpack cannot hold raises TypeError naming the attribute."""

    class Holder:
        def __init__(self) -> None:
            self.lock = asyncio.Lock()

        def ping(self) -> str:
            return "pong"

    async with ActorSystem():
        h = asyncactors.remote(checkpoint_store=MemoryStore(), checkpoint_every=1)(Holder).remote()
        with pytest.raises(TypeError, match="attribute 'lock'"):
            await h.ping.remote()
        with pytest.raises(TypeError, match="attribute 'lock'"):
            await h.checkpoint()


async def test_save_and_restore_hooks_are_used() -> None:
    """__save_state__/__restore_state__ decide what is saved and how it comes back."""

    class Hooked:
        def __init__(self) -> None:
            self.items: set[str] = set()
            self.cache = object()  # not state

        def add(self, x: str) -> list[str]:
            self.items.add(x)
            return sorted(self.items)

        def crash(self) -> None:
            raise Boom

        def __save_state__(self) -> dict[str, Any]:
            return {"items": self.items}

        def __restore_state__(self, state: dict[str, Any]) -> None:
            self.items = state["items"]

    async with ActorSystem():
        cls = asyncactors.remote(
            restart_on=(Boom,), max_restarts=1, checkpoint_store=MemoryStore(), checkpoint_every=1
        )(Hooked)
        h = cls.remote()
        await h.add.remote("a")
        with pytest.raises(Boom):
            await h.crash.remote()
        assert await h.add.remote("b") == ["a", "b"]


async def test_corrupt_checkpoint_fails_start_or_starts_fresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A truncated checkpoint file fails the start naming the file, unless start_fresh."""
    store = FileStore(tmp_path)
    async with ActorSystem():
        a = account(checkpoint_store=store, name="c", checkpoint_every=1).remote()
        await a.deposit.remote(42)
        asyncactors.kill(a)
    path = store.path_for("default/c")
    path.write_bytes(path.read_bytes()[:-3])
    async with ActorSystem():
        broken = account(checkpoint_store=store, name="c", max_restarts=0).remote()
        with pytest.raises(ActorDiedError, match="failed to start") as e:
            await broken
        assert isinstance(e.value.__cause__, CheckpointCorruptError)
        assert str(path) in str(e.value.__cause__)
        with caplog.at_level(logging.WARNING, logger="asyncactors"):
            fresh = account(
                checkpoint_store=store, name="c", on_corrupt_checkpoint="start_fresh"
            ).remote()
            assert await fresh.state.remote() == (0, [])
        assert any("corrupt checkpoint ignored" in r.getMessage() for r in caplog.records)


async def test_unnamed_actor_checkpoint_is_deleted_when_it_stops() -> None:
    """An unnamed actor's checkpoint key is never reused, so it is deleted at the end."""
    store = MemoryStore()
    async with ActorSystem():
        a = account(checkpoint_store=store, checkpoint_every=1).remote()
        await a.deposit.remote(1)
        key = a._core.checkpoint_key
        assert await store.load(key) is not None
        asyncactors.kill(a)
        await a.monitor()
        for _ in range(5):
            await asyncio.sleep(0)
        assert await store.load(key) is None


async def test_checkpoint_without_store_is_refused() -> None:
    """handle.checkpoint() on an actor without a store raises RuntimeError naming it."""
    async with ActorSystem():
        a = account().remote()
        with pytest.raises(RuntimeError, match="no checkpoint_store"):
            await a.checkpoint()


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    import asyncactors

    @asyncactors.remote(checkpoint_every=1)
    class Ledger:
        def __init__(self):
            self.entries = []

        def add(self, x):
            self.entries.append(x)
            return len(self.entries)

        def all(self):
            return self.entries

    async def main(directory, mode):
        store = asyncactors.FileStore(directory)
        async with asyncactors.ActorSystem():
            ledger = Ledger.options(name="ledger", checkpoint_store=store).remote()
            if mode == "write":
                i = 0
                while True:
                    await ledger.add.remote(i)
                    print(i, flush=True)  # acknowledged
                    i += 1
            else:
                print(await ledger.all.remote(), flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


def test_filestore_survives_sigkill(tmp_path: Path) -> None:
    """A FileStore actor killed with SIGKILL keeps every acknowledged update."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "store"), "write"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert writer.stdout is not None
    acknowledged = []
    for line in writer.stdout:
        acknowledged.append(int(line))
        if len(acknowledged) == 50:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    writer.stdout.close()
    reader = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "store"), "read"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    recovered = ast.literal_eval(reader.stdout)
    assert recovered[: len(acknowledged)] == acknowledged
    assert recovered == list(range(len(recovered)))
