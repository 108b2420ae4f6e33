"""Hypothesis: random calls, crashes, kills and restarts lose nothing; crash-looping
trees come back, or shut down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import asyncactors
from asyncactors import ActorDiedError, ActorSystem, Backoff, Supervisor


class Boom(Exception):
    pass


class Serial:
    """A serial actor that records every call it runs in a log outliving incarnations."""

    def __init__(self, log: list[tuple[int, int]]) -> None:
        self.log = log

    def put(self, caller: int, seq: int) -> tuple[int, int]:
        self.log.append((caller, seq))
        return caller, seq

    async def slow_put(self, caller: int, seq: int) -> tuple[int, int]:
        await asyncio.sleep(0)
        self.log.append((caller, seq))
        return caller, seq

    def crash(self) -> None:
        raise Boom


class CrashAndRestart(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.log: list[tuple[int, int]] = []
        self.next_seq = [0, 0, 0]
        self.calls: list[tuple[int, int, asyncactors.ObjectRef[Any]]] = []
        self.crashes: list[asyncactors.ObjectRef[Any]] = []
        self.killed = False
        self.system = ActorSystem()
        self.runner.run(self.system.__aenter__())
        self.supervised = self.runner.run(self._start())

    async def _start(self) -> asyncactors.ActorHandle[Serial]:
        # Under an explicit supervisor (permanent, generous intensity) or the root.
        sup = Supervisor(max_restarts=1000, backoff=Backoff(initial_s=0, max_s=0, jitter=0))
        cls = asyncactors.remote(restart_on=(Boom,), max_concurrency=1, mailbox_size=4)(Serial)
        return cls.options(supervisor=sup).remote(self.log)

    @rule(
        batch=st.lists(
            st.one_of(
                st.tuples(st.integers(0, 2), st.booleans()),
                st.sampled_from(["crash", "kill"]),
            ),
            min_size=1,
            max_size=10,
        )
    )
    def submit(self, batch: list[Any]) -> None:
        """Submit calls, crashes and kill(no_restart=False) back to back, so they queue."""

        async def go() -> None:
            for op in batch:
                if op == "crash":
                    self.crashes.append(self.supervised.crash.remote())
                elif op == "kill":
                    asyncactors.kill(self.supervised, no_restart=False)
                else:
                    caller, slow = op
                    seq = self.next_seq[caller]
                    self.next_seq[caller] += 1
                    method = self.supervised.slow_put if slow else self.supervised.put
                    self.calls.append((caller, seq, method.remote(caller, seq)))

        self.runner.run(go())

    # Late and once: a final kill ends what a run can observe about restarts.
    @precondition(lambda self: not self.killed and len(self.calls) >= 15)
    @rule()
    def kill_for_good(self) -> None:
        async def go() -> None:
            asyncactors.kill(self.supervised)

        self.runner.run(go())
        self.killed = True

    @rule(steps=st.integers(1, 5))
    def let_it_run(self, steps: int) -> None:
        async def go() -> None:
            for _ in range(steps):
                await asyncio.sleep(0)

        self.runner.run(go())

    @invariant()
    def each_call_runs_at_most_once_in_caller_order(self) -> None:
        assert len(set(self.log)) == len(self.log)
        for caller in range(3):
            seqs = [s for c, s in self.log if c == caller]
            assert seqs == sorted(seqs)

    def teardown(self) -> None:
        try:
            refs = [r for _, _, r in self.calls] + self.crashes

            async def settle() -> None:
                if refs:
                    _ready, not_ready = await asyncactors.wait(
                        refs, num_returns=len(refs), timeout=10
                    )
                    assert not_ready == [], "a caller would wait forever"

            self.runner.run(settle())
            ran = set(self.log)
            for caller, seq, ref in self.calls:
                outcome: Any
                try:
                    outcome = ref.result()
                except ActorDiedError as e:
                    outcome = e
                if isinstance(outcome, ActorDiedError):
                    # Lost only to a final kill, or cut off mid-run by a restart.
                    assert (caller, seq) not in ran
                    assert self.killed or "restarted during the call" in str(outcome), outcome
                else:
                    assert outcome == (caller, seq)
                    assert (caller, seq) in ran
                if not self.killed:
                    assert ref.done()
            for ref in self.crashes:
                try:
                    ref.result()
                except (Boom, ActorDiedError):
                    pass
                else:
                    raise AssertionError("a crash call returned a value")

            assert self.runner.run(self._close()) == set(), "tasks left after shutdown"
        finally:
            if not self.system.closed:
                self.runner.run(self._close())
            self.runner.close()

    async def _close(self) -> set[asyncio.Task[Any]]:
        await self.system.__aexit__(None, None, None)
        return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


CrashAndRestart.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
test_crash_and_restart = CrashAndRestart.TestCase


class Flaky:
    """Fails its first starts, as many as ``fails`` holds; records every start."""

    def __init__(self, starts: list[int], fails: list[int]) -> None:
        starts.append(1)
        if fails:
            fails.pop()
            raise Boom

    def ping(self) -> str:
        return "pong"


def _expected_attempts(failures: int, intensity: int) -> list[int]:
    """Backoff attempts for a child failing ``failures`` starts in a row under a
    top-level supervisor allowing ``intensity`` restarts: its own restarts count
    1..intensity within each incarnation of the tree, and each failure of the tree
    counts up the root's attempt."""
    attempts = []
    for i in range(failures):
        k = i % (intensity + 1)
        attempts.append(k + 1 if k < intensity else i // (intensity + 1) + 1)
    return attempts


@given(
    failures=st.integers(0, 7),
    intensity=st.integers(0, 2),
    calls=st.integers(0, 5),
    stop_after=st.one_of(st.none(), st.integers(0, 40)),
)
@settings(max_examples=40, deadline=None)
def test_crash_looping_tree_comes_back_or_shuts_down_cleanly(
    failures: int, intensity: int, calls: int, stop_after: int | None
) -> None:
    """Under a top-level supervisor a crash-looping child brings the tree down and back,
    with the backoff counting each failure in a row; calls to its sibling run once, in order.
    A shutdown at any point answers every caller and leaves no timer or task behind."""
    attempts: list[int] = []

    class Counting(Backoff):
        def delay(self, attempt: int) -> float:
            attempts.append(attempt)
            return super().delay(attempt)

    async def run() -> None:
        ran: list[int] = []

        class Sibling:
            def put(self, i: int) -> int:
                ran.append(i)
                return i

        starts: list[int] = []
        async with ActorSystem() as system:
            backoff = Counting(initial_s=0.001, max_s=0.004, jitter=0)
            sup = Supervisor(max_restarts=intensity, within_s=60, backoff=backoff)
            sibling = await asyncactors.remote(supervisor=sup)(Sibling).remote()
            flaky = asyncactors.remote(supervisor=sup)(Flaky).remote(starts, [1] * failures)
            refs = [sibling.put.remote(i) for i in range(calls)] + [flaky.ping.remote()]
            if stop_after is None:
                assert await asyncactors.get(refs) == [*range(calls), "pong"]
                assert len(starts) == failures + 1
                assert attempts == _expected_attempts(failures, intensity)
            else:
                for _ in range(stop_after):
                    await asyncio.sleep(0)
                await asyncio.wait_for(system.shutdown(), 5)
                done, _ = await asyncactors.wait(refs, num_returns=len(refs), timeout=0)
                assert len(done) == len(refs), "a caller would wait forever"
                answered = []
                for ref in refs[:-1]:
                    with contextlib.suppress(ActorDiedError):
                        answered.append(await ref)
                assert answered == list(range(len(answered)))  # a prefix, in order
                assert ran == answered
                loop: Any = asyncio.get_running_loop()
                assert [h for h in loop._scheduled if not h.cancelled()] == []
                assert {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} == set()
            assert ran == list(range(len(ran)))  # each call ran once, in order

    asyncio.run(run())
