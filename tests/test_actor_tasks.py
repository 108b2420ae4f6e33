"""The tasks an actor's code starts belong to its incarnation and end with it."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
from collections.abc import Coroutine
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import asyncactors
from asyncactors import MemoryStore

# Tasks the actors below started, by name, and what their ``finally`` saw.
started: dict[str, asyncio.Task[Any]] = {}
finished: list[str] = []


def _named(name: str) -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == name and not t.done()]


async def _forever(name: str) -> None:
    try:
        await asyncio.sleep(3600)
    finally:
        finished.append(name)


def _spawn(name: str, coro: Coroutine[Any, Any, Any] | None = None) -> asyncio.Task[Any]:
    task = asyncio.create_task(coro if coro is not None else _forever(name), name=name)
    started[name] = task
    return task


@pytest.fixture(autouse=True)
def _clear() -> None:
    started.clear()
    finished.clear()


@asyncactors.remote(max_restarts=3)
class Sweeper:
    """Starts a sweeper in each of its hooks and in its methods."""

    def __init__(self) -> None:
        _spawn("in_init")

    async def __post_create__(self) -> None:
        _spawn("sweeper")

    async def __pre_destroy__(self) -> None:
        # The tasks are still running while the hook runs; they end after it.
        finished.append(f"pre_destroy saw sweeper done={started['sweeper'].done()}")

    def start_sync(self, name: str) -> None:
        _spawn(name)

    async def start_async(self, name: str) -> None:
        _spawn(name)

    async def start_nested(self, name: str) -> None:
        async def parent() -> None:
            _spawn(name)
            await asyncio.sleep(3600)

        _spawn(f"{name}-parent", parent())
        await asyncio.sleep(0)

    async def start_detached(self, name: str) -> None:
        """The escape hatch: a task in a context of its own belongs to nobody."""
        task = asyncio.create_task(_forever(name), name=name, context=contextvars.Context())
        started[name] = task

    async def boom(self) -> None:
        raise ValueError("boom")

    def ping(self) -> int:
        return 1


async def test_kill_cancels_the_tasks_of_init_post_create_and_methods_at_once() -> None:
    """kill() cancels every task the actor's code started (in __init__, __post_create__,
    sync and async methods) before it returns."""
    async with asyncactors.ActorSystem():
        s = Sweeper.remote()
        await s.start_sync.remote("sync")
        await s.start_async.remote("async")
        tasks = [started[n] for n in ("in_init", "sweeper", "sync", "async")]
        assert not any(t.done() for t in tasks)
        asyncactors.kill(s)
        assert all(t.cancelling() for t in tasks)
        await asyncio.wait(tasks)
        assert all(t.cancelled() for t in tasks)
        assert sorted(finished) == ["async", "in_init", "sweeper", "sync"]


async def test_a_restart_leaves_one_sweeper_running_not_one_per_incarnation() -> None:
    """A crash (kill(no_restart=False), or a restart_on exception) cancels the old
    incarnation's tasks before the next one runs: each restart adds no task."""
    async with asyncactors.ActorSystem():
        s = Sweeper.options(restart_on=(ValueError,)).remote()
        await s.ping.remote()
        first = started["sweeper"]
        asyncactors.kill(s, no_restart=False)
        assert first.cancelling()
        await s.ping.remote()
        with pytest.raises(ValueError, match="boom"):
            await s.boom.remote()
        await s.ping.remote()
        assert len(_named("sweeper")) == 1
        assert len(_named("in_init")) == 1
        assert started["sweeper"] is not first


async def test_a_graceful_stop_waits_for_the_tasks_finally_after_pre_destroy() -> None:
    """stop() runs __pre_destroy__ with the tasks still running, then cancels them and
    resolves once their finally blocks have run."""
    async with asyncactors.ActorSystem():
        s = Sweeper.remote()
        await s.start_async.remote("async")
        await asyncactors.stop(s)
        assert finished[0] == "pre_destroy saw sweeper done=False"
        assert sorted(finished[1:]) == ["async", "in_init", "sweeper"]
        assert all(t.cancelled() for t in started.values())


@asyncactors.remote
class Stubborn:
    """A task whose cleanup takes a while after its cancellation."""

    async def start(self, release: asyncio.Event) -> None:
        async def slow_cleanup() -> None:
            try:
                await asyncio.sleep(3600)
            finally:
                await release.wait()
                finished.append("cleaned")

        _spawn("stubborn", slow_cleanup())


async def test_a_graceful_stop_resolves_only_once_the_cancelled_tasks_have_ended() -> None:
    """The stop is not done while a cancelled task of the actor still runs its cleanup."""
    async with asyncactors.ActorSystem():
        release = asyncio.Event()
        s = Stubborn.remote()
        await s.start.remote(release)
        stop = asyncactors.stop(s)
        for _ in range(5):
            await asyncio.sleep(0)
        assert not stop.done()
        release.set()
        await stop
        assert finished == ["cleaned"]


async def test_the_shutdown_timeout_bounds_the_wait_for_an_actors_tasks() -> None:
    """At shutdown a task that does not end once cancelled is cancelled again after the
    timeout, and the actor is forced down meanwhile: nothing is left pending."""

    @asyncactors.remote
    class Deaf:
        async def start(self) -> None:
            async def deaf() -> None:
                try:
                    await asyncio.sleep(3600)
                finally:
                    try:
                        await asyncio.sleep(3600)  # ignores the first cancellation
                    finally:
                        finished.append("deaf")

            _spawn("deaf", deaf())

    async with asyncactors.ActorSystem(shutdown_timeout=0.01):
        d = Deaf.remote()
        await d.start.remote()
    assert finished == ["deaf"]
    assert started["deaf"].done()


async def test_shutdown_ends_every_actors_tasks() -> None:
    """Leaving the system ends the tasks of every actor, each finally run."""
    async with asyncactors.ActorSystem():
        actors = [Sweeper.remote() for _ in range(2)]
        await asyncio.gather(*(a.start_async.remote(f"a{i}") for i, a in enumerate(actors)))
    assert {"a0", "a1", "sweeper", "in_init"} <= set(finished)
    assert all(t.done() for t in started.values())


async def test_a_task_started_by_an_owned_task_is_owned_too() -> None:
    """A task started by a task of the actor belongs to the actor as well."""
    async with asyncactors.ActorSystem():
        s = Sweeper.remote()
        await s.start_nested.remote("child")
        await asyncio.sleep(0)
        child = started["child"]
        asyncactors.kill(s)
        assert child.cancelling()
        await asyncio.wait([child])


async def test_a_task_in_a_context_of_its_own_outlives_the_actor() -> None:
    """The escape hatch: create_task(..., context=contextvars.Context()) from an actor's
    code makes a task no incarnation owns; it survives kill() and stop()."""
    async with asyncactors.ActorSystem():
        s = Sweeper.remote()
        await s.start_detached.remote("detached")
        asyncactors.kill(s)
        await asyncio.sleep(0)
        task = started["detached"]
        assert not task.done()
        task.cancel()
        await asyncio.wait([task])


@asyncactors.remote
class Callee:
    async def wait(self, gate: asyncio.Event) -> str:
        await gate.wait()
        return "done"


@asyncactors.remote
class Caller:
    async def call(self, callee: Any, gate: asyncio.Event) -> Any:
        return callee.wait.remote(gate)

    def make_callee(self) -> Any:
        return Callee.remote()


async def test_the_engines_tasks_made_in_an_actors_code_are_not_the_actors() -> None:
    """A calls B and creates C in its code: B's call and C's creation are the engine's
    work, and go on after A is killed."""
    async with asyncactors.ActorSystem():
        gate = asyncio.Event()
        a, b = Caller.remote(), Callee.remote()
        ref = await a.call.remote(b, gate)
        c = await a.make_callee.remote()
        ref_c = c.wait.remote(gate)
        await asyncio.sleep(0)
        asyncactors.kill(a)
        await asyncio.sleep(0)
        gate.set()
        assert await ref == "done"
        assert await ref_c == "done"


async def test_an_unretrieved_failure_of_an_actors_task_is_logged_naming_the_actor(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A task of the actor that failed, unseen by anyone when it is collected, is logged
    on the asyncactors logger naming the actor and the task."""

    @asyncactors.remote
    class Faulty:
        async def start(self) -> None:
            async def fail() -> None:
                raise KeyError("lost")

            asyncio.create_task(fail(), name="faulty-task")  # noqa: RUF006 - dropped on purpose

    async with asyncactors.ActorSystem():
        f = Faulty.options(name="faulty").remote()
        with caplog.at_level(logging.ERROR, logger="asyncactors"):
            await f.start.remote()
            for _ in range(3):
                await asyncio.sleep(0)
            gc.collect()
    records = [r for r in caplog.records if "faulty-task" in r.getMessage()]
    assert len(records) == 1
    assert "name='faulty'" in records[0].getMessage()
    assert records[0].name == "asyncactors"
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], KeyError)


async def test_a_retrieved_failure_of_an_actors_task_is_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A task of the actor whose failure its code awaited is not reported."""

    @asyncactors.remote
    class Careful:
        async def run(self) -> str:
            async def fail() -> None:
                raise KeyError("seen")

            task = asyncio.create_task(fail())
            try:
                await task
            except KeyError:
                return "caught"
            return "no"

    async with asyncactors.ActorSystem():
        with caplog.at_level(logging.ERROR, logger="asyncactors"):
            assert await Careful.remote().run.remote() == "caught"
            gc.collect()
    assert not [r for r in caplog.records if "nobody retrieved" in r.getMessage()]


class PoolStore(MemoryStore):
    """A store that starts a background task of its own on its first save."""

    def __init__(self) -> None:
        super().__init__()
        self.pool: asyncio.Task[Any] | None = None

    async def save(self, key: str, data: bytes) -> None:
        if self.pool is None:
            self.pool = asyncio.create_task(asyncio.sleep(3600))
        await super().save(key, data)


@asyncactors.remote
class Saved:
    def __init__(self) -> None:
        self.n = 0

    def bump(self) -> int:
        self.n += 1
        return self.n


async def test_a_task_a_checkpoint_store_starts_is_not_the_actors() -> None:
    """A store's own task, started while it saves an actor's checkpoint, is the store's:
    it survives the actor's kill."""
    store = PoolStore()
    async with asyncactors.ActorSystem():
        s = Saved.options(checkpoint_store=store, checkpoint_every=1).remote()
        await s.bump.remote()
        asyncactors.kill(s)
        await asyncio.sleep(0)
        assert store.pool is not None
        assert not store.pool.done()
        store.pool.cancel()
        await asyncio.wait([store.pool])


@asyncactors.remote
class Cache:
    """The new user's repro: a sweeper that is not serialisable fails each checkpoint."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    async def __post_create__(self) -> None:
        self._sweeper = _spawn("cache-sweeper")

    async def put(self, k: str, v: str) -> None:
        self.data[k] = v


async def test_a_rollback_ends_the_sweeper_of_the_rolled_back_incarnation() -> None:
    """A failed checkpoint rolls the actor back: the old incarnation's sweeper ends, and
    one sweeper runs, the new incarnation's."""
    async with asyncactors.ActorSystem():
        c = Cache.options(checkpoint_store=MemoryStore(), checkpoint_every=1).remote()
        with pytest.raises(asyncactors.CheckpointError):
            await c.put.remote("a", "1")
        with pytest.raises(asyncactors.CheckpointError):
            await c.put.remote("b", "2")
        assert len(_named("cache-sweeper")) == 1


def _counting_factory(counted: list[str]) -> Any:
    def factory(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
    ) -> asyncio.Task[Any]:
        counted.append(getattr(coro, "__name__", "?"))
        return asyncio.Task(coro, loop=loop, **kwargs)

    return factory


async def test_a_task_factory_set_before_is_chained_and_put_back() -> None:
    """The program's task factory still makes every task, the actors' tasks are owned
    all the same, and it is the loop's factory again once the last system shuts down."""
    loop = asyncio.get_running_loop()
    counted: list[str] = []
    mine = _counting_factory(counted)
    loop.set_task_factory(mine)
    try:
        async with asyncactors.ActorSystem():
            async with asyncactors.ActorSystem():
                pass
            assert loop.get_task_factory() is not mine
            s = Sweeper.remote()
            await s.start_async.remote("async")
            assert "_forever" in counted
            asyncactors.kill(s)
            assert started["async"].cancelling()
            await asyncio.wait(list(started.values()))
        assert loop.get_task_factory() is mine
    finally:
        loop.set_task_factory(None)


async def test_no_factory_is_left_on_the_loop_after_shutdown() -> None:
    """A loop without a task factory has none again after the system's shutdown."""
    loop = asyncio.get_running_loop()
    assert loop.get_task_factory() is None
    async with asyncactors.ActorSystem():
        assert loop.get_task_factory() is not None
    assert loop.get_task_factory() is None


def test_on_uvloop_the_actors_tasks_end_with_it() -> None:
    """On uvloop too, kill() cancels the actor's tasks, and the factory is put back."""
    uvloop = pytest.importorskip("uvloop")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with asyncactors.ActorSystem():
            s = Sweeper.remote()
            await s.start_async.remote("async")
            asyncactors.kill(s)
            assert started["async"].cancelling()
            await asyncio.wait(list(started.values()))
        assert loop.get_task_factory() is None

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    assert sorted(finished) == ["async", "in_init", "sweeper"]


@asyncactors.remote(max_restarts=-1, restart_on=(ValueError,))
class Spawner:
    """Starts tasks each tagged with its incarnation, in sync and async methods."""

    def __init__(self, incarnations: list[int]) -> None:
        incarnations.append(len(incarnations))
        self.tag = f"spawned-{incarnations[-1]}"

    def sync(self) -> None:
        _spawn_tagged(self.tag)

    async def nested(self) -> None:
        async def parent() -> None:
            _spawn_tagged(self.tag)
            await _forever(self.tag)

        asyncio.create_task(parent(), name=self.tag)  # noqa: RUF006 - owned by the actor
        await asyncio.sleep(0)

    def crash(self) -> None:
        raise ValueError("crash")


def _spawn_tagged(tag: str) -> None:
    asyncio.create_task(_forever(tag), name=tag)  # noqa: RUF006 - owned by the actor


@given(
    steps=st.lists(st.sampled_from(["sync", "nested", "crash", "kill", "turn"]), max_size=12),
    end=st.sampled_from(["stop", "kill", "shutdown"]),
)
@settings(max_examples=25, deadline=None)
def test_only_the_current_incarnations_tasks_ever_run(steps: list[str], end: str) -> None:
    """Whatever mix of task starts, crashes and kills: after each step settles the tasks
    running are the current incarnation's alone, and however the actor ends, none is left."""

    async def run() -> None:
        incarnations: list[int] = []
        async with asyncactors.ActorSystem():
            s = Spawner.remote(incarnations)
            await s.sync.remote()
            for step in steps:
                if step == "kill":
                    asyncactors.kill(s, no_restart=False)
                elif step == "crash":
                    with pytest.raises(ValueError, match="crash"):
                        await s.crash.remote()
                elif step == "turn":
                    await asyncio.sleep(0)
                else:
                    await getattr(s, step).remote()
                await s.sync.remote()  # the actor is up again, and has a task
                await asyncio.sleep(0)  # the cancelled tasks end
                current = f"spawned-{incarnations[-1]}"
                running = {t.get_name() for t in asyncio.all_tasks() if not t.done()}
                assert {n for n in running if n.startswith("spawned-")} == {current}
            if end == "stop":
                await asyncactors.stop(s)
            elif end == "kill":
                asyncactors.kill(s)
            await asyncio.sleep(0)
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("spawned-")]

    asyncio.run(run())
