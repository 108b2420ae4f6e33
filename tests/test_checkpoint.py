"""Durable state: checkpoints through restarts and across processes."""

from __future__ import annotations

import ast
import asyncio
import itertools
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
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
from asyncactors._state import encode_state
from asyncactors._supervisor import _Status

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


async def test_failed_save_fails_the_call_and_rolls_back_to_the_old_checkpoint() -> None:
    """A save that raises gives the caller CheckpointError; the actor returns to the saved state."""

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
        assert await a.state.remote() == (1, [1])
        with pytest.raises(Boom):
            await a.crash.remote()
        assert await a.state.remote() == (1, [1])


async def test_unencodable_attribute_is_named() -> None:
    """State msgpack cannot hold is a CheckpointError naming the attribute and __save_state__."""

    class Holder:
        def __init__(self) -> None:
            self.lock = asyncio.Lock()

        def ping(self) -> str:
            return "pong"

    async with ActorSystem():
        h = asyncactors.remote(checkpoint_store=MemoryStore(), checkpoint_every=1)(Holder).remote()
        with pytest.raises(CheckpointError, match=r"attribute 'lock'.*__save_state__") as e:
            await h.ping.remote()
        assert isinstance(e.value.__cause__, TypeError)
        with pytest.raises(CheckpointError, match=r"attribute 'lock'.*__save_state__") as e:
            await h.checkpoint()
        assert isinstance(e.value.__cause__, TypeError)


class Sweeping:
    """Keeps a task its __init__ started, or a handle: neither can be saved."""

    def __init__(self, peer: Any = None) -> None:
        if peer is None:
            self.sweeper = asyncio.create_task(asyncio.Event().wait())
        else:
            self.peer = peer

    def ping(self) -> str:
        return "pong"


async def test_an_unsaveable_task_or_handle_is_named_as_the_program_knows_it() -> None:
    """The error names the actor and the value's type as the program made it: asyncio.Task,
    not the engine's ActorTask that an actor's tasks are; asyncactors.ActorHandle, not its
    private module's per-class handle."""
    cls = asyncactors.remote(checkpoint_store=MemoryStore(), checkpoint_every=1)(Sweeping)
    async with ActorSystem():
        lone = cls.options(name="lone").remote()
        with pytest.raises(
            CheckpointError,
            match=r"^actor Sweeping\(id=\d+, name='lone'\) ran the call but could not save its "
            r"state: attribute 'sweeper' of Sweeping: asyncio\.Task is not serialisable ",
        ):
            await lone.ping.remote()
        paired = cls.remote(lone)
        with pytest.raises(
            CheckpointError, match=r"'peer' of Sweeping: asyncactors\.ActorHandle is not "
        ):
            await paired.ping.remote()


# -- a failed save rolls the actor back -----------------------------------------------

runs: list[str] = []


class Wallet:
    """Keeps a balance; ``grab`` also keeps a lock, which no checkpoint can hold."""

    def __init__(self) -> None:
        self.balance = 0

    def deposit(self, k: int) -> int:
        self.balance += k
        return self.balance

    @asyncactors.method(max_task_retries=-1, retry_exceptions=True)
    def grab(self, k: int) -> int:
        runs.append("grab")
        self.balance += k
        self.lock = threading.Lock()
        return self.balance

    def state(self) -> tuple[int, bool]:
        return self.balance, hasattr(self, "lock")


def wallet(**options: Any) -> asyncactors.ActorClass[Wallet]:
    options.setdefault("checkpoint_store", MemoryStore())
    options.setdefault("checkpoint_every", 1)
    return asyncactors.remote(**options)(Wallet)


async def test_unsaveable_change_fails_its_call_and_is_rolled_back_even_with_no_restarts() -> None:
    """The call gets CheckpointError, counts as failed, and its change is undone; no restart."""
    async with ActorSystem() as system:
        w = wallet(max_restarts=0).remote()
        assert await w.deposit.remote(5) == 5
        with pytest.raises(CheckpointError, match=r"attribute 'lock' of Wallet.*__save_state__"):
            await w.grab.remote(7)
        assert await w.state.remote() == (5, False)  # reads work, on the saved state
        assert await w.deposit.remote(1) == 6
        [info] = system.list_actors()
        assert (info.state, info.calls_processed, info.calls_failed) == ("ALIVE", 4, 1)
        assert w._core.restarts == 0


async def test_rollback_does_not_use_up_a_supervisors_restart_intensity() -> None:
    """Under a supervisor allowing no restarts, a rollback neither escalates nor kills."""
    async with ActorSystem(), asyncactors.Supervisor("one_for_one", max_restarts=0) as sup:
        w = wallet(supervisor=sup).remote()
        await w.deposit.remote(5)
        with pytest.raises(CheckpointError):
            await w.grab.remote(1)
        assert await w.state.remote() == (5, False)
        assert sup._status is _Status.UP
        assert sup.children == [w]


async def test_call_that_could_not_be_saved_is_not_retried() -> None:
    """A failed save is not retried, whatever max_task_retries and retry_exceptions say."""
    runs.clear()
    async with ActorSystem():
        w = wallet().remote()
        with pytest.raises(CheckpointError):
            await w.grab.remote(1)
        assert runs == ["grab"]


async def test_rollback_undoes_acknowledged_calls_since_the_last_checkpoint() -> None:
    """With checkpoint_every=3, calls acknowledged after the last save roll back too."""
    async with ActorSystem():
        w = wallet(checkpoint_every=3).remote()
        for k in (1, 2, 3, 4):  # saved after 1+2+3; 4 acknowledged, never saved
            await w.deposit.remote(k)
        await w.deposit.remote(10)
        with pytest.raises(CheckpointError):
            await w.grab.remote(100)  # the third call since the save: it saves
        assert await w.state.remote() == (6, False)


async def test_queued_calls_run_on_the_rolled_back_actor_in_order() -> None:
    """Calls queued behind a call whose save failed run, in order, after the rollback."""
    async with ActorSystem():
        w = wallet().remote()
        await w.deposit.remote(5)
        failed = w.grab.remote(7)
        later = [w.deposit.remote(1), w.deposit.remote(2)]
        with pytest.raises(CheckpointError):
            await failed
        assert [await ref for ref in later] == [6, 8]


async def test_rollback_is_reported_as_a_restart_not_a_crash() -> None:
    """events() shows restarting and restarted around a rollback, never crashed."""
    async with ActorSystem() as system:
        w = wallet().remote()
        await w
        events = system.events()
        with pytest.raises(CheckpointError) as e:
            await w.grab.remote(1)
        await w.state.remote()
        await events.aclose()
        seen = [(ev.kind, ev.restart_count, ev.exception) async for ev in events]
        assert seen == [("restarting", 0, e.value), ("restarted", 0, None)]


async def test_save_state_hook_raising_fails_the_call_instead_of_leaving_it_pending() -> None:
    """Whatever __save_state__ raises becomes the call's CheckpointError; the caller never hangs."""

    class Picky:
        def __init__(self) -> None:
            self.items: list[int] = []

        def add(self, x: int) -> int:
            self.items.append(x)
            return len(self.items)

        def __save_state__(self) -> Any:
            if 13 in self.items:
                raise KeyError("13 is unlucky")
            return {"items": self.items}

        def __restore_state__(self, state: Any) -> None:
            self.items = state["items"]

    async with ActorSystem():
        p = asyncactors.remote(checkpoint_store=MemoryStore(), checkpoint_every=1)(Picky).remote()
        await p.add.remote(1)
        with pytest.raises(CheckpointError, match="unlucky") as e:
            await asyncio.wait_for(p.add.remote(13), 2)
        assert isinstance(e.value.__cause__, KeyError)
        assert await p.add.remote(2) == 2


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


async def test_corrupt_checkpoint_fails_the_actor_and_its_callers_at_once(
    tmp_path: Path,
) -> None:
    """With max_restarts=-1 a corrupt file is no crash loop: start and queued calls fail once."""
    store = FileStore(tmp_path)
    path = store.path_for("default/c")
    path.write_bytes(b"\xc1")
    async with ActorSystem():
        a = account(checkpoint_store=store, name="c", max_restarts=-1).remote()
        pending = a.state.remote()
        with pytest.raises(ActorDiedError, match="checkpoint is corrupt") as e:
            await pending
        assert str(path) in str(e.value)
        assert isinstance(e.value.__cause__, CheckpointCorruptError)
        with pytest.raises(ActorDiedError, match="failed to start") as e:
            await a
        assert str(path) in str(e.value)
        assert a._core.restarts == 0
        assert (await a.monitor()).state == "DEAD"


@pytest.mark.parametrize(
    "state",
    [[1, 2], {"balance": 5, 3: "x"}, 7],
    ids=["list", "non-str-keys", "int"],
)
async def test_checkpoint_of_the_wrong_shape_is_refused_naming_the_file(
    tmp_path: Path, state: Any
) -> None:
    """Valid msgpack that is not a dict of attribute names fails the start naming the file."""
    store = FileStore(tmp_path)
    await store.save("default/c", encode_state(state))
    async with ActorSystem():
        a = account(checkpoint_store=store, name="c").remote()
        with pytest.raises(ActorDiedError, match="failed to start") as e:
            await a
        assert str(store.path_for("default/c")) in str(e.value)
        assert isinstance(e.value.__cause__, CheckpointCorruptError)
        fresh = account(
            checkpoint_store=store, name="c2", on_corrupt_checkpoint="start_fresh"
        ).remote()
        assert await fresh.state.remote() == (0, [])


async def test_slashes_in_namespace_and_name_do_not_share_a_checkpoint() -> None:
    """Namespace 'x/a' with name 'b' does not start from the state of namespace 'x', name 'a/b'."""
    store = MemoryStore()
    async with ActorSystem():
        first = account(checkpoint_store=store, checkpoint_every=1, namespace="x", name="a/b")
        await first.remote().deposit.remote(5)
        second = account(checkpoint_store=store, namespace="x/a", name="b").remote()
        assert await second.state.remote() == (0, [])


async def test_unnamed_actor_in_a_new_run_does_not_see_a_dead_runs_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ids restart at 1 in each process; an unnamed actor still starts from its constructor."""

    class KilledBeforeCleanup(MemoryStore):
        async def delete(self, key: str) -> None:
            pass  # the process died before it could delete the checkpoint

    store = KilledBeforeCleanup()
    for run in range(2):
        monkeypatch.setattr(asyncactors._system, "_ids", itertools.count(1))  # a new process
        async with ActorSystem():
            a = account(checkpoint_store=store, checkpoint_every=1).remote()
            assert await a.state.remote() == (0, []), f"run {run} saw another run's state"
            await a.deposit.remote(5)
            assert a._core.actor_id == 1


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
