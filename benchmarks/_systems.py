"""The actor systems under test, each behind the same small driver interface.

A :class:`System` opens a *session* for one timed run: an async context
manager that starts whatever the system needs on the running loop (an
``ActorSystem``, an xoscar pool, nothing) and yields a :class:`Driver`. The
driver's methods are the call patterns the scenarios time, each written the
way a user of that system would write it (``await h.incr.remote(1)`` for
asyncactors), so no shared indirection layer sits on anyone's hot path.

The floor and asyncactors live here; the peers (Ray, pykka, xoscar) live in
:mod:`benchmarks._peers` and register only when importable.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import asyncactors

from . import _observe
from ._floor import FloorActor, FloorBatcher
from ._workload import (
    BATCH_CONCURRENCY,
    BATCH_SIZE,
    BATCH_WAIT_S,
    BatchIOService,
    Crash,
    Crashy,
    Idle,
    IOService,
    ModelClient,
    NetBatchService,
    Workload,
)

__all__ = [
    "ASYNCACTORS",
    "BASELINE",
    "AsyncActorsDriver",
    "BatchService",
    "BatchWorkload",
    "Driver",
    "System",
    "batch_workload",
    "core_systems",
    "timed_io_call",
]

BASELINE = "floor"
"""The system every other one is compared with."""

ASYNCACTORS = "asyncactors"


class Driver(Protocol):
    """One session of a system: spawns actors and runs call patterns on them.

    Actors are whatever the system's handles are; the session's exit stops them.
    Every workload has ``incr(arg)``, which counts calls, and ``value()``.
    """

    async def spawn(self, workload: Workload, max_concurrency: int | None = None) -> Any:
        """Start one actor running a fresh ``workload()``; return once it can take calls."""

    async def seq(self, actor: Any, n: int, arg: object) -> None:
        """Make ``n`` calls ``incr(arg)`` from one caller, awaiting each before the next."""

    async def pipelined(self, actors: Sequence[Any], n: int) -> None:
        """Submit ``n`` calls ``incr(1)`` round-robin over ``actors``, then wait for all."""

    async def callers(self, actors: Sequence[Any], n_callers: int, n: int) -> None:
        """Run ``n_callers`` concurrent callers, ``n`` calls in all, each awaited in turn.

        Caller ``c`` calls ``actors[(c + j) % len(actors)]`` for its ``j``-th call.
        """

    async def wait_loop(self, actor: Any, n: int) -> None:
        """Submit ``n`` calls ``incr(1)``, then wait for the pending ones until none is
        left, each wait returning as soon as one is done (a crawler's loop)."""

    async def count(self, actor: Any) -> int:
        """Return the actor's count of calls, through the actor."""

    async def create(self, n: int) -> int:
        """Create ``n`` :class:`~benchmarks._workload.Idle` actors and await a first
        ``ping()`` reply from each; return the sum of the replies."""

    async def io(self, actors: Sequence[Any], n: int) -> list[int]:
        """Make ``n`` concurrent ``incr()`` calls over ``actors``; return their latencies (ns)."""

    async def restart(self, n: int) -> int:
        """Crash one actor ``n`` times, each time awaiting a first reply from the
        restarted actor; return the sum of those replies (``n``: each is fresh)."""

    async def batch_service(
        self,
        batched: bool,
        latency_s: float,
        wait_s: float = BATCH_WAIT_S,
        *,
        client: ModelClient | None = None,
    ) -> BatchService:
        """Start a :class:`~benchmarks._workload.BatchIOService` taking ``latency_s`` per
        request, :data:`~benchmarks._workload.BATCH_CONCURRENCY` requests at once, each of
        a batch of items (``batched``, waiting up to ``wait_s`` for a batch to fill) or
        of one item. With ``client``, a :class:`~benchmarks._workload.NetBatchService`
        instead, whose requests go to that client's model server (started with the
        latency ``latency_s``)."""


BatchWorkload = type[BatchIOService] | type[NetBatchService]


def batch_workload(latency_s: float, client: ModelClient | None) -> tuple[BatchWorkload, object]:
    """The class of a batch service and the argument of its constructor: sleeping
    ``latency_s`` per request, or asking the model server behind ``client``."""
    if client is None:
        return BatchIOService, latency_s
    return NetBatchService, client


@dataclass(frozen=True)
class BatchService:
    """A started batch service: send it one item, and ask how many items it served."""

    submit: Callable[[int], Awaitable[Any]]
    served: Callable[[], Awaitable[int]]


SessionFactory = Callable[[], AbstractAsyncContextManager[Driver]]


@dataclass(frozen=True)
class System:
    """A system under test and how much work it gets per run."""

    name: str
    description: str
    session: SessionFactory
    all_loops: bool = True
    """``False``: run on the ``asyncio`` loop only (peers, whose speed is not the loop's)."""
    scale: float = 1.0
    """Calls per run, relative to the floor's, for call scenarios (slow peers do fewer)."""
    min_calls: int = 1
    create_n: int | None = None
    """Actors per creation run; ``None``: the scenario's size."""
    memory_n: int | None = None
    """Idle actors measured at the 10k size; ``None``: the scenario's size."""
    unsupported: Mapping[str, str] = field(default_factory=dict)
    """Scenario name -> why this system cannot run it."""

    def calls(self, n: int) -> int:
        """Calls per run for a scenario that gives the floor ``n``."""
        return max(self.min_calls, round(n * self.scale))


def timed_io_call(call: Callable[[], Any], latencies: list[int]) -> Any:
    """Return a coroutine that awaits ``call()`` and appends its latency in ns."""

    async def one() -> None:
        start = time.perf_counter_ns()
        await call()
        latencies.append(time.perf_counter_ns() - start)

    return one()


# ---------------------------------------------------------------------------
# The floor: a plain asyncio actor per workload instance.


class _FloorActorRef:
    __slots__ = ("actor", "instance")

    def __init__(self, instance: Any, actor: FloorActor | FloorBatcher) -> None:
        self.instance = instance
        self.actor = actor


class _FloorDriver:
    def __init__(self, stack: AsyncExitStack) -> None:
        self._stack = stack

    async def spawn(self, workload: Workload, max_concurrency: int | None = None) -> Any:
        instance = workload()
        if workload is IOService:
            # The IO-bound scenario's floor is no actor at all: plain asyncio.gather
            # over the same coroutine method.
            return instance
        actor = await self._stack.enter_async_context(
            FloorActor(instance.incr, max_concurrency=max_concurrency or 1)
        )
        return _FloorActorRef(instance, actor)

    async def seq(self, actor: Any, n: int, arg: object) -> None:
        submit = actor.actor.submit
        for _ in range(n):
            await submit(arg)

    async def pipelined(self, actors: Sequence[Any], n: int) -> None:
        subs = [a.actor.submit for a in actors]
        k = len(subs)
        futs = [subs[i % k](1) for i in range(n)]
        await asyncio.gather(*futs)

    async def callers(self, actors: Sequence[Any], n_callers: int, n: int) -> None:
        await round_robin_callers([a.actor.submit for a in actors], n_callers, n)

    async def wait_loop(self, actor: Any, n: int) -> None:
        submit = actor.actor.submit
        pending = {submit(1) for _ in range(n)}
        while pending:
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)

    async def count(self, actor: Any) -> int:
        # The floor actor serves a single method; once the timed calls are awaited
        # the instance is idle, so reading it directly is race-free.
        instance = actor.instance if isinstance(actor, _FloorActorRef) else actor
        result: int = await _maybe_await(instance.value())
        return result

    async def create(self, n: int) -> int:
        actors = [FloorActor(Idle().ping) for _ in range(n)]
        for a in actors:
            await self._stack.enter_async_context(a)
        replies = await asyncio.gather(*(a.submit() for a in actors))
        return sum(int(r) for r in replies)  # type: ignore[call-overload]

    async def io(self, actors: Sequence[Any], n: int) -> list[int]:
        latencies: list[int] = []
        methods = [a.incr for a in actors]
        k = len(methods)
        await asyncio.gather(*(timed_io_call(methods[i % k], latencies) for i in range(n)))
        return latencies

    async def restart(self, n: int) -> int:
        # A hand-rolled restart: on a crash, drop the task and the instance, then
        # start a fresh instance with a fresh task and queue.
        total = 0
        actor = FloorActor(Crashy().work)
        await actor.__aenter__()
        try:
            for _ in range(n):
                try:
                    await actor.submit(True)
                except Crash:
                    await actor.__aexit__(None, None, None)
                    actor = FloorActor(Crashy().work)
                    await actor.__aenter__()
                total += cast(int, await actor.submit(False))
        finally:
            await actor.__aexit__(None, None, None)
        return total

    async def batch_service(
        self,
        batched: bool,
        latency_s: float,
        wait_s: float = BATCH_WAIT_S,
        *,
        client: ModelClient | None = None,
    ) -> BatchService:
        # Batched: a hand-written asyncio batcher; else a plain actor per request slot.
        workload, arg = batch_workload(latency_s, client)
        service = workload(arg)  # type: ignore[arg-type]
        actor: FloorActor | FloorBatcher
        if batched:
            actor = FloorBatcher(
                service.infer_batch,  # type: ignore[arg-type]
                BATCH_SIZE,
                wait_s,
                max_concurrency=BATCH_CONCURRENCY,
            )
        else:
            actor = FloorActor(service.infer, max_concurrency=BATCH_CONCURRENCY)
        await self._stack.enter_async_context(actor)
        return BatchService(actor.submit, service.value)


async def _maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value):
        return await value
    return value


def _split(n: int, parts: int) -> list[int]:
    """``n`` as ``parts`` near-equal non-negative integers."""
    q, r = divmod(n, parts)
    return [q + (1 if i < r else 0) for i in range(parts)]


async def round_robin_callers(
    calls: Sequence[Callable[[int], Awaitable[Any]]], n_callers: int, n: int
) -> None:
    """``n_callers`` concurrent callers make ``n`` calls in all, each awaited before the
    next; caller ``c``'s ``j``-th call is ``calls[(c + j) % len(calls)](1)``."""
    k = len(calls)

    async def caller(c: int, count: int) -> None:
        for j in range(count):
            await calls[(c + j) % k](1)

    await asyncio.gather(*(caller(c, m) for c, m in enumerate(_split(n, n_callers))))


@asynccontextmanager
async def _floor_session() -> AsyncIterator[Driver]:
    async with AsyncExitStack() as stack:
        yield _FloorDriver(stack)


# ---------------------------------------------------------------------------
# asyncactors, with default options except where a scenario sets max_concurrency.


class AsyncActorsDriver:
    def __init__(self) -> None:
        self._classes: dict[tuple[type, int | None], Any] = {}

    async def spawn(self, workload: Workload, max_concurrency: int | None = None) -> Any:
        # Default options unless the scenario says otherwise: the figures are what a
        # user gets out of the box (mailbox_size=1000, max_concurrency 1 for a sync
        # class, 1000 for a class with an async method).
        key = (workload, max_concurrency)
        actor_class = self._classes.get(key)
        if actor_class is None:
            actor_class = asyncactors.remote(workload)
            if max_concurrency is not None:
                actor_class = actor_class.options(max_concurrency=max_concurrency)
            self._classes[key] = actor_class
        return await actor_class.remote()

    async def seq(self, actor: Any, n: int, arg: object) -> None:
        h = actor
        for _ in range(n):
            await h.incr.remote(arg)

    async def pipelined(self, actors: Sequence[Any], n: int) -> None:
        hs = list(actors)
        k = len(hs)
        refs = [hs[i % k].incr.remote(1) for i in range(n)]
        await asyncactors.get(refs)

    async def callers(self, actors: Sequence[Any], n_callers: int, n: int) -> None:
        await round_robin_callers([h.incr.remote for h in actors], n_callers, n)

    async def wait_loop(self, actor: Any, n: int) -> None:
        incr = actor.incr
        pending = [incr.remote(1) for _ in range(n)]
        while pending:
            _, pending = await asyncactors.wait(pending, num_returns=1)

    async def count(self, actor: Any) -> int:
        result = await actor.value.remote()
        if not isinstance(result, int):
            raise TypeError(f"value() returned {result!r}, expected an int")
        return result

    async def create(self, n: int) -> int:
        actor_class: Any = asyncactors.remote(Idle)
        handles = [actor_class.remote() for _ in range(n)]
        replies = await asyncactors.get([h.ping.remote() for h in handles])
        return sum(replies)

    async def io(self, actors: Sequence[Any], n: int) -> list[int]:
        latencies: list[int] = []
        hs = list(actors)
        k = len(hs)
        await asyncio.gather(*(timed_io_call(hs[i % k].incr.remote, latencies) for i in range(n)))
        return latencies

    async def restart(self, n: int) -> int:
        # Supervised, restarted at once: the figure is the cost of a restart,
        # not of a backoff delay.
        supervisor = asyncactors.Supervisor(
            max_restarts=n + 1, backoff=asyncactors.Backoff(initial_s=0, max_s=0, jitter=0)
        )
        actor_class: Any = asyncactors.remote(restart_on=(Crash,), supervisor=supervisor)(Crashy)
        handle = await actor_class.remote()
        total = 0
        for _ in range(n):
            with suppress(Crash):
                await handle.work.remote(True)
            total += await handle.work.remote(False)
        return total

    async def batch_service(
        self,
        batched: bool,
        latency_s: float,
        wait_s: float = BATCH_WAIT_S,
        *,
        client: ModelClient | None = None,
    ) -> BatchService:
        workload, arg = batch_workload(latency_s, client)
        # mypy takes a union of type[...] for unhashable (mypy issue 11470).
        handle = await _batched_service(workload, wait_s).remote(arg)  # type: ignore[arg-type]
        method = handle.infer_batched if batched else handle.infer
        return BatchService(method.remote, handle.value.remote)


@functools.cache
def _batched_service(workload: BatchWorkload, wait_s: float) -> Any:
    """The actor class of the batch scenarios: ``workload`` with its ``infer_batch``
    batched with ``batch_wait_timeout_s=wait_s`` (made once per pair)."""

    class _Batched(workload):  # type: ignore[valid-type,misc]
        infer_batched = asyncactors.batch(max_batch_size=BATCH_SIZE, batch_wait_timeout_s=wait_s)(
            workload.infer_batch
        )

    return asyncactors.remote(max_concurrency=BATCH_CONCURRENCY)(_Batched)


@asynccontextmanager
async def _asyncactors_session() -> AsyncIterator[Driver]:
    # ASYNCACTORS_BENCH_OBSERVE may turn observability features on: see _observe.
    async with _observe.asyncactors_system():
        yield AsyncActorsDriver()


def core_systems() -> dict[str, System]:
    """The floor and asyncactors, which always run."""
    return {
        BASELINE: System(
            name=BASELINE,
            description="a plain asyncio actor: one task draining an asyncio.Queue of "
            "(args, future); in io_* scenarios, plain asyncio.gather over the same IO",
            session=_floor_session,
        ),
        ASYNCACTORS: System(
            name=ASYNCACTORS,
            description=f"asyncactors with default options{_observe.describe()}",
            session=_asyncactors_session,
        ),
    }
