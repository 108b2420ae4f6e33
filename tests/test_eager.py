"""eager=True: a sync call an idle actor can take at once runs inside .remote()."""

from __future__ import annotations

import asyncio

import pytest

import asyncactors
from asyncactors import ActorDiedError, ActorSystem
from asyncactors._protocols import EAGER_BUDGET


class Log:
    def __init__(self) -> None:
        self.seen: list[object] = []

    def add(self, x: object) -> list[object]:
        self.seen.append(x)
        return list(self.seen)

    def boom(self) -> None:
        raise ValueError("boom")

    def whoami(self) -> str:
        return asyncactors.get_runtime_context().get_actor_name() or ""

    def quit(self) -> None:
        asyncactors.exit_actor()

    def call_other(self, other: asyncactors.ActorHandle[Log]) -> bool:
        return other.add.remote("nested").done()

    async def slow(self, gate: asyncio.Event) -> str:
        await gate.wait()
        self.seen.append("slow")
        return "slow"


Eager = asyncactors.remote(Log).options(eager=True)
Lazy = asyncactors.remote(Log)


async def test_a_sync_call_to_an_idle_eager_actor_is_done_when_remote_returns() -> None:
    """The ref .remote() returns is resolved already, with the method's value."""
    async with ActorSystem():
        log = await Eager.remote()
        ref = log.add.remote(1)
        assert ref.done()
        assert await ref == [1]


async def test_without_eager_the_call_waits_for_the_loop() -> None:
    """By default a call runs in a later loop iteration: its ref is pending at first."""
    async with ActorSystem():
        log = await Lazy.remote()
        ref = log.add.remote(1)
        assert not ref.done()
        assert await ref == [1]


async def test_an_eager_calls_exception_is_on_its_ref() -> None:
    """What the method raises reaches the ref, not the caller of .remote()."""
    async with ActorSystem():
        log = await Eager.remote()
        ref = log.boom.remote()
        assert ref.done()
        with pytest.raises(ValueError, match="boom"):
            await ref
        assert await log.add.remote(2) == [2]


async def test_a_call_behind_queued_ones_is_not_run_early() -> None:
    """A busy actor queues the call: each caller's calls keep their order."""
    async with ActorSystem():
        log = await Eager.options(max_concurrency=1).remote()
        gate = asyncio.Event()
        slow = log.slow.remote(gate)
        await asyncio.sleep(0)  # the slow call is running
        queued = [log.add.remote(i) for i in range(3)]
        assert not any(r.done() for r in queued)
        gate.set()
        assert await slow == "slow"
        assert await queued[-1] == ["slow", 0, 1, 2]


async def test_calls_before_the_actor_is_alive_are_queued() -> None:
    """An actor not yet created takes no eager call: its calls queue behind __init__."""
    async with ActorSystem():
        log = Eager.remote()
        refs = [log.add.remote(i) for i in range(3)]
        assert not any(r.done() for r in refs)
        assert await refs[-1] == [0, 1, 2]


async def test_the_loop_turns_after_a_budget_of_eager_calls() -> None:
    """A caller looping over eager calls yields after EAGER_BUDGET of them: the next call
    is queued, and once the loop has turned, calls run at once again."""
    async with ActorSystem():
        log = await Eager.remote()
        refs = [log.add.remote(i) for i in range(EAGER_BUDGET + 5)]
        done = [r.done() for r in refs]
        assert done == [True] * EAGER_BUDGET + [False] * 5
        assert len(await refs[-1]) == EAGER_BUDGET + 5
        await asyncio.sleep(0)
        assert log.add.remote("again").done()


async def test_an_eager_call_made_by_an_actors_sync_method_is_queued() -> None:
    """Eager calls do not nest: one made from an actor's sync code waits for the loop."""
    async with ActorSystem():
        outer, inner = await Eager.remote(), await Eager.remote()
        assert await outer.call_other.remote(inner) is False
        assert await inner.add.remote("after") == ["nested", "after"]


async def test_an_eager_method_knows_its_actor() -> None:
    """get_runtime_context() inside an eager call names the actor it runs in."""
    async with ActorSystem():
        log = await Eager.options(name="who").remote()
        ref = log.whoami.remote()
        assert ref.done()
        assert await ref == "who"


async def test_exit_actor_in_an_eager_call_stops_the_actor() -> None:
    """exit_actor() in an eager call: its caller gets ActorDiedError and the actor stops."""
    async with ActorSystem():
        log = await Eager.remote()
        with pytest.raises(ActorDiedError, match="exit_actor"):
            await log.quit.remote()
        await asyncio.wait_for(log._core.stopped(), 1)
        with pytest.raises(ActorDiedError):
            await log.add.remote(1)


def test_eager_must_be_a_bool() -> None:
    """The option is checked when declared, naming it."""
    with pytest.raises(TypeError, match="option 'eager' must be a bool"):
        asyncactors.remote(Log).options(eager="yes")


class Summer:
    @asyncactors.batch(max_batch_size=4, batch_wait_timeout_s=0.01)
    def total(self, items: list[int]) -> list[int]:
        return [sum(items)] * len(items)


async def test_a_batched_method_of_an_eager_actor_still_batches() -> None:
    """Items sent to an eager actor's batched method wait for a batch, not run alone
    inside .remote(); under metrics their calls take the general path, too."""
    async with ActorSystem(metrics=True):
        s = await asyncactors.remote(Summer).options(eager=True).remote()
        refs = [s.total.remote(i) for i in (1, 2, 3, 4)]
        assert not any(r.done() for r in refs)
        assert await asyncactors.get(refs) == [10, 10, 10, 10]
