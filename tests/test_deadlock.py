"""Deadlocks: a wait inside an actor's method that could never end raises DeadlockError."""

from __future__ import annotations

import asyncio
import gc
import re
from typing import Any

import pytest

import asyncactors
from asyncactors import ActorSystem, DeadlockError, GetTimeoutError, TaskCancelledError


class Node:
    """An actor that records which of its methods ran and can call other actors."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    async def ask(self, target: Any, method: str, *args: Any) -> Any:
        """Call ``target.method(*args)`` and await its result."""
        self.ran.append("ask")
        return await getattr(target, method).remote(*args)

    async def ask_caught(self, target: Any, method: str, *args: Any) -> Any:
        """Like ``ask``, but return the DeadlockError instead of raising it."""
        self.ran.append("ask_caught")
        try:
            return await getattr(target, method).remote(*args)
        except DeadlockError as exc:
            return exc

    async def leaf(self) -> str:
        self.ran.append("leaf")
        return "leaf"

    async def gate(self, event: asyncio.Event) -> str:
        """Hold a slot, not waiting for any ref, until ``event`` is set."""
        self.ran.append("gate")
        await event.wait()
        return "gate"

    async def gate_then_ask(
        self, event: asyncio.Event, target: Any, method: str, *args: Any
    ) -> Any:
        """Hold a slot, not waiting for any ref, until ``event`` is set; then ``ask``."""
        await event.wait()
        return await self.ask(target, method, *args)

    def runs(self) -> list[str]:
        return list(self.ran)


One = asyncactors.remote(max_concurrency=1)(Node)
Two = asyncactors.remote(max_concurrency=2)(Node)


def label(handle: Any, method: str, cls: str = "Node") -> str:
    return f"{cls}(id={handle._core.actor_id}).{method}()"


async def settle() -> None:
    """Let the calls just submitted start and block."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_self_call_with_max_concurrency_1_raises_and_names_the_chain() -> None:
    """A method awaiting a call to its own max_concurrency=1 actor gets DeadlockError at once."""
    async with ActorSystem():
        a = One.remote()
        err = await asyncio.wait_for(a.ask_caught.remote(a, "leaf").future(), 2)
        assert isinstance(err, DeadlockError)
        assert isinstance(err, RuntimeError)
        f, leaf = label(a, "ask_caught"), label(a, "leaf")
        assert str(err) == f"deadlock: {f} waits for {leaf}, which is queued behind {f}"
        assert err.chain == (f, leaf, f)
        # The call waited for was cancelled: it never runs, not even once the slot frees.
        assert await a.runs.remote() == ["ask_caught"]


async def test_cancelled_call_never_runs_and_its_ref_says_so() -> None:
    """The call a deadlocked wait was for is cancelled: awaiting it raises TaskCancelledError."""

    class Keeper:
        def __init__(self) -> None:
            self.ran = 0

        async def f(self, me: Any) -> Any:
            ref = me.g.remote()
            with pytest.raises(DeadlockError):
                await ref
            return ref

        async def g(self) -> None:
            self.ran += 1

        def count(self) -> int:
            return self.ran

    async with ActorSystem():
        k = asyncactors.remote(max_concurrency=1)(Keeper).remote()
        ref = await k.f.remote(k)
        with pytest.raises(TaskCancelledError):
            await ref
        assert await k.count.remote() == 0


async def test_a_to_b_to_a_raises_in_the_wait_that_closes_the_cycle() -> None:
    """A.f -> B.g -> A.h with both max_concurrency=1: B.g's wait raises; A.h never runs."""
    async with ActorSystem():
        a, b = One.remote(), One.remote()
        with pytest.raises(DeadlockError) as info:
            await asyncio.wait_for(a.ask.remote(b, "ask", a, "leaf").future(), 2)
        f, g, h = label(a, "ask"), label(b, "ask"), label(a, "leaf")
        assert str(info.value) == (
            f"deadlock: {g} waits for {h}, which is queued behind {f}, which waits for {g}"
        )
        assert await a.runs.remote() == ["ask"]
        assert await b.runs.remote() == ["ask"]


async def test_three_actor_cycle_is_reported() -> None:
    """A -> B -> C -> A, each max_concurrency=1, is reported with the whole chain."""
    async with ActorSystem():
        a, b, c = One.remote(), One.remote(), One.remote()
        with pytest.raises(DeadlockError) as info:
            await asyncio.wait_for(a.ask.remote(b, "ask", c, "ask", a, "leaf").future(), 2)
        assert info.value.chain == (
            label(c, "ask"),
            label(a, "leaf"),
            label(a, "ask"),
            label(b, "ask"),
            label(c, "ask"),
        )
        assert await a.runs.remote() == ["ask"]


async def test_concurrency_group_at_its_limit() -> None:
    """Two calls fill group 'io' (limit 2) and each awaits another 'io' call: one raises."""

    class Grouped:
        def __init__(self) -> None:
            self.both = asyncio.Event()
            self.outer = 0
            self.inner = 0

        @asyncactors.method(concurrency_group="io")
        async def outer(self, me: Any) -> Any:
            self.outer += 1
            if self.outer == 2:
                self.both.set()
            await self.both.wait()
            try:
                return await me.inner.remote()
            except DeadlockError as exc:
                return exc

        @asyncactors.method(concurrency_group="io")
        async def inner(self) -> str:
            self.inner += 1
            return "inner"

        def inner_runs(self) -> int:
            return self.inner

    async with ActorSystem():
        g = asyncactors.remote(concurrency_groups={"io": 2})(Grouped).remote()
        results = await asyncio.wait_for(
            asyncio.gather(g.outer.remote(g).future(), g.outer.remote(g).future()), 2
        )
        errors = [r for r in results if isinstance(r, DeadlockError)]
        assert len(errors) == 1
        assert [r for r in results if not isinstance(r, DeadlockError)] == ["inner"]
        assert "queued in concurrency group 'io' behind" in str(errors[0])
        assert "and 1 other waiting call" in str(errors[0])
        # Only the inner call of the outer call that did not raise ran.
        assert await g.inner_runs.remote() == 1


async def test_dataflow_argument_that_is_the_waiters_own_result() -> None:
    """Awaiting a call whose argument is the waiting method's own ref raises at once."""

    async with ActorSystem():
        box: list[Any] = []

        @asyncactors.remote
        class Relay:
            async def f(self, target: Any) -> Any:
                try:
                    return await target.echo.remote(box[0])
                except DeadlockError as exc:
                    return exc

        @asyncactors.remote
        class Echo:
            def __init__(self) -> None:
                self.ran = 0

            def echo(self, x: Any) -> Any:
                self.ran += 1
                return x

            def runs(self) -> int:
                return self.ran

        relay, echo = Relay.remote(), Echo.remote()
        ref = relay.f.remote(echo)
        box.append(ref)
        err = await asyncio.wait_for(ref.future(), 2)
        assert isinstance(err, DeadlockError)
        assert re.fullmatch(
            r"deadlock: Relay\(id=\d+\)\.f\(\) waits for Echo\(id=\d+\)\.echo\(\), "
            r"which waits for its argument Relay\(id=\d+\)\.f\(\)",
            str(err),
        )
        # The echo call was cancelled, so it does not run once its argument is ready.
        assert await echo.runs.remote() == 0


async def test_awaiting_its_own_ref_raises() -> None:
    """A method awaiting its own ref gets DeadlockError naming itself."""

    box: list[Any] = []

    @asyncactors.remote
    class Selfish:
        async def f(self) -> Any:
            await box[0]

    async with ActorSystem():
        s = Selfish.remote()
        ref = s.f.remote()
        box.append(ref)
        with pytest.raises(DeadlockError, match=r"Selfish\(id=\d+\)\.f\(\) waits for its own"):
            await asyncio.wait_for(ref.future(), 2)


async def test_cycle_closed_by_a_later_wait_raises_there() -> None:
    """A.f awaits B.g queued behind B.x; when B.x later awaits A, B.x's wait raises."""
    async with ActorSystem():
        a, b = One.remote(), One.remote()
        go = asyncio.Event()
        x = b.gate_then_ask.remote(go, a, "leaf")  # holds B's slot, waiting for no ref
        f = a.ask.remote(b, "leaf")  # A.f awaits B.leaf, queued behind B.x: no deadlock yet
        await settle()
        assert not f.done()
        go.set()
        with pytest.raises(DeadlockError) as info:
            await asyncio.wait_for(x.future(), 2)
        assert info.value.chain == (
            label(b, "gate_then_ask"),
            label(a, "leaf"),
            label(a, "ask"),
            label(b, "leaf"),
            label(b, "gate_then_ask"),
        )
        # Once B.x gave up, B.leaf ran and A.f got its value; A.leaf never ran.
        assert await asyncio.wait_for(f.future(), 2) == "leaf"
        assert await a.runs.remote() == ["ask"]


async def test_wait_for_a_call_queued_behind_a_blocked_call() -> None:
    """A.f awaits B.leaf queued behind B.g, which awaits a call queued behind A.f: A.f raises."""
    async with ActorSystem():
        a, b = One.remote(), One.remote()
        go = asyncio.Event()
        f = a.gate_then_ask.remote(go, b, "leaf")  # A.f holds A's slot until go
        g = b.ask.remote(a, "leaf")  # B.g awaits A.leaf, queued behind A.f: no deadlock yet
        await settle()
        assert not g.done()
        go.set()
        with pytest.raises(DeadlockError) as info:
            await asyncio.wait_for(f.future(), 2)
        assert info.value.chain == (
            label(a, "gate_then_ask"),
            label(b, "leaf"),
            label(b, "ask"),
            label(a, "leaf"),
            label(a, "gate_then_ask"),
        )
        assert await asyncio.wait_for(g.future(), 2) == "leaf"
        # A.f's call to B.leaf was cancelled before it ran: B ran only B.g.
        assert await b.runs.remote() == ["ask"]


async def test_running_blocked_target_is_cancelled() -> None:
    """When the call waited for runs, blocked in the cycle, its task is cancelled."""

    class Peer:
        def __init__(self) -> None:
            self.cancelled = 0

        async def leaf(self) -> str:
            return "leaf"

        async def await_later(self, event: asyncio.Event, box: list[Any]) -> Any:
            await event.wait()
            try:
                return await box[0]
            except DeadlockError as exc:
                return exc

        async def ask_leaf(self, target: Any) -> Any:
            try:
                return await target.leaf.remote()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise

        def stats(self) -> int:
            return self.cancelled

    async with ActorSystem():
        peer = asyncactors.remote(max_concurrency=1)(Peer)
        a, b = peer.remote(), peer.remote()
        go, box = asyncio.Event(), []
        f = a.await_later.remote(go, box)  # holds A's slot until go
        g = b.ask_leaf.remote(a)  # B.g awaits A.leaf, queued behind A.f: no deadlock yet
        box.append(g)
        await settle()
        assert not g.done()
        go.set()  # A.f awaits B.g
        err = await asyncio.wait_for(f.future(), 2)
        assert isinstance(err, DeadlockError)
        assert err.chain == (
            label(a, "await_later", "Peer"),
            label(b, "ask_leaf", "Peer"),
            label(a, "leaf", "Peer"),
            label(a, "await_later", "Peer"),
        )
        with pytest.raises(TaskCancelledError):
            await g
        assert await b.stats.remote() == 1


async def test_get_and_wait_without_timeout_raise() -> None:
    """get (one ref or a list) and wait raise; the calls they waited for never run."""

    class User:
        def __init__(self) -> None:
            self.ran = 0

        async def via(self, me: Any, how: str) -> str:
            refs = [me.leaf.remote(), me.leaf.remote()]
            try:
                if how == "get":
                    await asyncactors.get(refs[0])
                elif how == "get_list":
                    await asyncactors.get(refs)
                else:
                    await asyncactors.wait(refs)
            except DeadlockError as exc:
                return str(exc)
            return "no deadlock"

        async def leaf(self) -> None:
            self.ran += 1

        def count(self) -> int:
            return self.ran

    async with ActorSystem():
        u = asyncactors.remote(max_concurrency=1)(User).remote()
        for how in ("get", "get_list", "wait"):
            message = await asyncio.wait_for(u.via.remote(u, how).future(), 2)
            assert message.startswith("deadlock: User("), (how, message)
        # get(one ref) cancels that one only; the other ran once the slot freed.
        assert await u.count.remote() == 1


async def test_wait_and_get_with_a_timeout_time_out_and_the_call_goes_on() -> None:
    """With a timeout, get() raises GetTimeoutError and wait() returns; the calls then run."""

    class Timed:
        def __init__(self) -> None:
            self.ran = 0

        async def via(self, me: Any) -> tuple[str, int]:
            try:
                await asyncactors.get(me.leaf.remote(), timeout=0.01)
            except GetTimeoutError:
                timed_out = "timed out"
            ready, _ = await asyncactors.wait([me.leaf.remote()], timeout=0.01)
            return timed_out, len(ready)

        async def leaf(self) -> None:
            self.ran += 1

        def count(self) -> int:
            return self.ran

    async with ActorSystem():
        t = asyncactors.remote(max_concurrency=1)(Timed).remote()
        assert await asyncio.wait_for(t.via.remote(t).future(), 2) == ("timed out", 0)
        assert await t.count.remote() == 2


async def test_no_deadlock_with_a_free_slot() -> None:
    """A self-call with max_concurrency=2 and a free slot just runs."""
    async with ActorSystem():
        a = Two.remote()
        assert await asyncio.wait_for(a.ask.remote(a, "leaf").future(), 2) == "leaf"


async def test_no_deadlock_when_a_slot_holder_is_not_waiting() -> None:
    """Both slots taken, but one holder waits for no ref: the self-call waits, then runs."""
    async with ActorSystem():
        a = Two.remote()
        event = asyncio.Event()
        gate = a.gate.remote(event)
        f = a.ask.remote(a, "leaf")
        await settle()
        assert not f.done()
        event.set()
        assert await asyncio.wait_for(f.future(), 2) == "leaf"
        assert await gate == "gate"


async def test_no_deadlock_in_a_chain_without_a_cycle() -> None:
    """A -> B -> C with max_concurrency=1 each is an ordinary chain of waits."""
    async with ActorSystem():
        a, b, c = One.remote(), One.remote(), One.remote()
        assert await a.ask.remote(b, "ask", c, "leaf") == "leaf"


async def test_a_wait_that_timed_out_no_longer_counts() -> None:
    """A wait ended by asyncio.timeout is forgotten: the holder is not taken to be blocked."""

    class Waiter:
        async def leaf(self) -> str:
            return "leaf"

        async def timed_then_gate(self, target: Any, event: asyncio.Event) -> str:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.01):
                    await target.leaf.remote()
            await event.wait()
            return "done"

    async with ActorSystem():
        a = asyncactors.remote(max_concurrency=1)(Waiter).remote()
        b = One.remote()
        go, release = asyncio.Event(), asyncio.Event()
        x = b.gate_then_ask.remote(go, a, "leaf")
        # A's wait for B.leaf (queued behind B.x) times out; A then waits for an event.
        f = a.timed_then_gate.remote(b, release)
        await asyncio.sleep(0.05)
        go.set()  # B.x awaits a call queued behind A's method, which waits for no ref
        await settle()
        assert not x.done()
        release.set()
        assert await asyncio.wait_for(f.future(), 2) == "done"
        assert await asyncio.wait_for(x.future(), 2) == "leaf"


async def test_get_of_a_list_checks_every_ref_before_waiting() -> None:
    """get([slow, self-call]) raises at once, without first waiting for the slow ref."""
    async with ActorSystem():
        other = One.remote()
        event = asyncio.Event()

        @asyncactors.remote(max_concurrency=1)
        class Lister:
            async def f(self, me: Any) -> Any:
                slow = other.gate.remote(event)
                try:
                    await asyncactors.get([slow, me.g.remote()])
                except DeadlockError as exc:
                    return exc

            async def g(self) -> None:
                pass

        lister = Lister.remote()
        err = await asyncio.wait_for(lister.f.remote(lister).future(), 2)
        assert isinstance(err, DeadlockError)
        event.set()
        assert await other.runs.remote() == ["gate"]


async def test_wait_raises_only_when_too_few_refs_can_be_ready() -> None:
    """wait() for 1 of [self-call, other call] returns; for 2 of them it raises."""

    class Mixed:
        def __init__(self) -> None:
            self.ran = 0

        async def f(self, me: Any, other: Any, num_returns: int) -> Any:
            mine, theirs = me.leaf.remote(), other.leaf.remote()
            try:
                ready, _ = await asyncactors.wait([mine, theirs], num_returns=num_returns)
            except DeadlockError as exc:
                return exc
            return ready == [theirs]

        async def leaf(self) -> None:
            self.ran += 1

        def count(self) -> int:
            return self.ran

    async with ActorSystem():
        m = asyncactors.remote(max_concurrency=1)(Mixed).remote()
        other = One.remote()
        assert await asyncio.wait_for(m.f.remote(m, other, 1).future(), 2) is True
        assert await m.count.remote() == 1  # the self-call ran once f finished
        err = await asyncio.wait_for(m.f.remote(m, other, 2).future(), 2)
        assert isinstance(err, DeadlockError)
        assert await m.count.remote() == 1  # the second self-call was cancelled
        assert await other.runs.remote() == ["leaf", "leaf"]


async def test_a_call_blocked_in_wait_counts_for_later_checks() -> None:
    """A.f blocked in asyncactors.wait() on B.leaf closes the cycle B.x -> A.leaf -> A.f."""

    @asyncactors.remote(max_concurrency=1)
    class WaitsOnB:
        async def f(self, b: Any) -> list[Any]:
            ready, _ = await asyncactors.wait([b.leaf.remote()])
            return [await r for r in ready]

        async def leaf(self) -> str:
            return "leaf"

    async with ActorSystem():
        a, b = WaitsOnB.remote(), One.remote()
        go = asyncio.Event()
        x = b.gate_then_ask.remote(go, a, "leaf")
        f = a.f.remote(b)
        await settle()
        go.set()
        with pytest.raises(DeadlockError) as info:
            await asyncio.wait_for(x.future(), 2)
        assert info.value.chain[2] == label(a, "f", "WaitsOnB")
        assert await asyncio.wait_for(f.future(), 2) == ["leaf"]


async def test_a_finished_call_keeps_nothing_it_waited_for() -> None:
    """The record of a wait ends with it: a kept ref does not keep the values it awaited."""

    class Big:
        pass

    @asyncactors.remote
    class Maker:
        def make(self) -> Big:
            return Big()

    @asyncactors.remote
    class User:
        async def use(self, maker: Any, how: str) -> str:
            if how == "await":
                await maker.make.remote()
            else:
                await asyncactors.wait([maker.make.remote()])
            return "used"

    async with ActorSystem():
        maker, user = Maker.remote(), User.remote()
        for how in ("await", "wait"):
            ref = user.use.remote(maker, how)
            assert await ref == "used"
            gc.collect()
            alive = [o for o in gc.get_objects() if isinstance(o, Big)]
            assert alive == [], how


async def test_self_call_with_a_ref_argument_raises_before_the_argument_is_ready() -> None:
    """A self-call waiting for its argument would still queue behind the waiter: it raises."""

    @asyncactors.remote(max_concurrency=1)
    class Chained:
        def __init__(self) -> None:
            self.ran = 0

        async def f(self, me: Any, other: Any) -> Any:
            try:
                return await me.g.remote(other.gate.remote(event))
            except DeadlockError as exc:
                return exc

        async def g(self, x: Any) -> Any:
            self.ran += 1
            return x

        def count(self) -> int:
            return self.ran

    event = asyncio.Event()
    async with ActorSystem():
        c, other = Chained.remote(), One.remote()
        err = await asyncio.wait_for(c.f.remote(c, other).future(), 2)
        assert isinstance(err, DeadlockError)
        f, g = label(c, "f", "Chained"), label(c, "g", "Chained")
        assert str(err) == (
            f"deadlock: {f} waits for {g}, which will queue, once its arguments are ready, "
            f"behind {f}"
        )
        event.set()
        assert await other.runs.remote() == ["gate"]
        assert await c.count.remote() == 0


async def test_a_cancelled_wait_stops_counting_before_its_task_resumes() -> None:
    """A wait whose future was cancelled does not count, even before its task runs again."""

    @asyncactors.remote(max_concurrency=1)
    class Cancellable:
        async def f(self, b: Any) -> str:
            try:
                await b.leaf.remote()
            except asyncio.CancelledError:
                task = asyncio.current_task()
                assert task is not None
                task.uncancel()
                return "cancelled"
            return "waited"

        async def leaf(self) -> str:
            return "leaf"

    async with ActorSystem():
        a, b = Cancellable.remote(), One.remote()
        go = asyncio.Event()
        x = b.gate_then_ask.remote(go, a, "leaf")  # holds B's slot until go
        f = a.f.remote(b)  # A.f awaits B.leaf, queued behind B.x
        await settle()
        workers = a._core.workers
        task = next(t for t, call in workers.items() if call is f)
        # B.x wakes first and awaits A.leaf, queued behind A.f, whose wait has
        # just been cancelled but which has not run again yet.
        go.set()
        task.cancel()
        assert await asyncio.wait_for(f.future(), 2) == "cancelled"
        assert await asyncio.wait_for(x.future(), 2) == "leaf"
