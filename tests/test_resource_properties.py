"""Property-based tests of resource accounting (issue 10.3).

Each example runs in a system of its own capacity, nested in ``_run``'s.

- what actors reserve never exceeds the system's capacity, and what is
  reserved plus what is available is the capacity;
- a pending actor is granted its resources as soon as an actor's death or a
  decrease frees room for it, in strict FIFO order, checked against a model;
- GPUs: whole GPUs are never shared, a fraction sits on one GPU, no GPU is
  oversubscribed, and the first pending request never fits what is free;
- at shutdown every actor still pending fails with ``ActorDiedError``, and so
  do the calls queued to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import asyncactors
from asyncactors import ActorDiedError, ActorState, GetTimeoutError

from .test_properties import _run


@asyncactors.remote
class Holder:
    def __init__(self) -> None:
        self.created = True

    def echo(self, x: int) -> int:
        return x

    def gpus(self) -> tuple[float, list[str]]:
        ctx = asyncactors.get_runtime_context()
        return ctx.get_assigned_resources().get("GPU", 0.0), ctx.get_accelerator_ids()["GPU"]

    async def resize(self, amounts: dict[str, float]) -> str:
        try:
            await asyncactors.set_resources(amounts, timeout=0)
        except GetTimeoutError:
            return "timeout"
        return "ok"


NAMES = ("CPU", "x")


@dataclass
class Model:
    """Strict-FIFO accounting of scalar resources, as the README states it."""

    capacity: dict[str, float]
    free: dict[str, float] = field(default_factory=dict)
    held: dict[int, dict[str, float]] = field(default_factory=dict)
    queue: list[tuple[int, dict[str, float]]] = field(default_factory=list)

    def fits(self, i: int, want: dict[str, float]) -> bool:
        mine = self.held.get(i, {})
        return all(a - mine.get(n, 0) <= self.free[n] for n, a in want.items())

    def take(self, i: int, want: dict[str, float]) -> None:
        mine = self.held.setdefault(i, {})
        for n, a in want.items():
            self.free[n] -= a - mine.get(n, 0)
            mine[n] = a

    def grant(self) -> None:
        while self.queue and self.fits(*self.queue[0]):
            self.take(*self.queue.pop(0))

    def create(self, i: int, want: dict[str, float]) -> None:
        # Asking for nothing, an actor never waits.
        if not any(want.values()) or (not self.queue and self.fits(i, want)):
            self.take(i, want)
        else:
            self.queue.append((i, want))

    def drop(self, i: int) -> None:
        for n, a in self.held.pop(i, {}).items():
            self.free[n] += a
        self.queue = [(j, w) for j, w in self.queue if j != i]
        self.grant()

    def resize(self, i: int, want: dict[str, float]) -> bool:
        """A resize with timeout 0: decreases at once, increases only if they go now."""
        mine = self.held.setdefault(i, {})
        self.take(i, {n: a for n, a in want.items() if a < mine.get(n, 0)})
        self.grant()
        grow = {n: a for n, a in want.items() if a > mine.get(n, 0)}
        if grow and (self.queue or not self.fits(i, grow)):
            return False
        self.take(i, grow)
        return True


# Mostly demands that fit the capacity, with some that never can.
demand = st.fixed_dictionaries(
    {"CPU": st.sampled_from([0, 0.5, 0.5, 1, 1, 1.5, 2, 4]), "x": st.sampled_from([0, 0, 1, 3])}
)
# Some actors first, so that deaths and resizes meet a queue.
ops = st.tuples(
    st.lists(st.tuples(st.just("create"), demand), min_size=3, max_size=8),
    st.lists(
        st.one_of(
            st.tuples(st.just("create"), demand),
            st.tuples(st.just("kill"), st.integers(0, 30)),
            st.tuples(st.just("stop"), st.integers(0, 30)),
            st.tuples(st.just("resize"), st.integers(0, 30), demand),
        ),
        max_size=25,
    ),
).map(lambda parts: parts[0] + parts[1])


async def _check(system: asyncactors.ActorSystem, model: Model, ids: dict[int, int]) -> None:
    available = system.available_resources()
    for n in NAMES:
        assert available.get(n, 0) == model.free[n], (n, available, model)
        reserved = sum(i.resources.get(n, 0) for i in system.list_actors())
        assert reserved + model.free[n] == model.capacity[n]
        assert 0 <= model.free[n] <= model.capacity[n]
    by_id = {info.actor_id: info for info in system.list_actors()}
    pending = {i for i, _ in model.queue}
    for i, actor_id in ids.items():
        info = by_id[actor_id]
        if i in pending:
            assert info.state is ActorState.PENDING_CREATION
            assert info.resources == {}
            assert dict(info.pending_resources) == {
                n: a for n, a in dict(model.queue)[i].items() if a
            }
        elif i in model.held:
            assert {n: a for n, a in info.resources.items()} == {
                n: a for n, a in model.held[i].items() if a
            }


@settings(max_examples=40, deadline=None)
@given(cpu=st.sampled_from([1, 2, 3]), x=st.sampled_from([1, 2]), steps=ops)
def test_accounting_follows_the_strict_fifo_model(
    cpu: int, x: int, steps: list[tuple[Any, ...]]
) -> None:
    """Reservations match a strict-FIFO model after every creation, death and resize,
    never exceed the capacity, and pending actors die with their calls at shutdown."""

    async def body(_: asyncactors.ActorSystem) -> None:
        async with asyncactors.ActorSystem(resources={"CPU": cpu, "x": x}) as system:
            await steps_in(system)

    async def steps_in(system: asyncactors.ActorSystem) -> None:
        model = Model({"CPU": cpu, "x": x}, free={"CPU": cpu, "x": x})
        handles: list[Any] = []
        ids: dict[int, int] = {}
        dead: set[int] = set()
        for step in steps:
            if step[0] == "create":
                want = step[1]
                opts = {"num_cpus": want["CPU"], "resources": {"x": want["x"]}}
                try:
                    h = Holder.options(**opts).remote()
                except ValueError:
                    assert any(want[n] > model.capacity[n] for n in NAMES)
                    continue
                i = len(handles)
                handles.append(h)
                ids[i] = h._core.actor_id
                model.create(i, {n: a for n, a in want.items()})
            elif handles and step[0] in ("kill", "stop"):
                i = step[1] % len(handles)
                if i in dead or (step[0] == "stop" and i in dict(model.queue)):
                    continue
                dead.add(i)
                if step[0] == "kill":
                    asyncactors.kill(handles[i])
                else:
                    await asyncactors.stop(handles[i])
                model.drop(i)
            elif handles and step[0] == "resize":
                i, want = step[1] % len(handles), step[2]
                if i in dead or i in dict(model.queue):
                    continue
                if any(want[n] > model.capacity[n] for n in NAMES):
                    continue
                outcome = await handles[i].resize.remote(dict(want))
                assert outcome == ("ok" if model.resize(i, dict(want)) else "timeout")
            # Granted synchronously: no loop iteration is needed to see it.
            await _check(system, model, ids)
        pending = [handles[i] for i, _ in model.queue]
        queued = [h.echo.remote(1) for h in pending]
        live = [handles[i] for i in model.held if i not in dead]
        for h in live:
            assert await h.echo.remote(2) == 2
        await system.shutdown()
        for ref in queued:
            with pytest.raises(ActorDiedError, match="before it was created"):
                await ref

    _run(body)


@settings(max_examples=40, deadline=None)
@given(
    n_gpus=st.integers(1, 3),
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("create"), st.sampled_from([0.25, 0.5, 0.75, 1, 2, 3])),
            st.tuples(st.just("kill"), st.integers(0, 30)),
        ),
        max_size=20,
    ),
)
def test_gpus_are_never_oversubscribed(n_gpus: int, steps: list[tuple[Any, Any]]) -> None:
    """Whole GPUs are held alone, a fraction sits on one GPU, no GPU holds more than
    one in all, and the first pending request does not fit what is free."""

    async def body(_: asyncactors.ActorSystem) -> None:
        async with asyncactors.ActorSystem(resources={"GPU": n_gpus}) as system:
            await steps_in(system)

    async def steps_in(system: asyncactors.ActorSystem) -> None:
        handles: list[Any] = []
        demands: list[float] = []
        dead: set[int] = set()
        for kind, arg in steps:
            if kind == "create":
                try:
                    handles.append(Holder.options(num_gpus=arg).remote())
                except ValueError:
                    assert arg > n_gpus
                    continue
                demands.append(arg)
            elif handles:
                i = arg % len(handles)
                dead.add(i)
                asyncactors.kill(handles[i])
            infos = {i.actor_id: i for i in system.list_actors()}
            use = [0.0] * n_gpus
            whole: set[int] = set()
            first_pending = None
            for i, h in enumerate(handles):
                info = infos[h._core.actor_id]
                if i in dead:
                    continue
                if info.resources:
                    await h
                    amount, gpu_ids = await h.gpus.remote()
                    assert amount == demands[i]
                    assert len(gpu_ids) == max(1, int(amount))
                    for g in map(int, gpu_ids):
                        use[g] += min(amount, 1)
                        if amount >= 1:
                            assert g not in whole
                            whole.add(g)
                elif first_pending is None:
                    first_pending = demands[i]
            assert all(u <= 1 for u in use)
            reserved = sum(use)
            assert reserved + system.available_resources().get("GPU", 0) == n_gpus
            if first_pending is not None:
                if first_pending < 1:
                    assert all(1 - u < first_pending for u in use)
                else:
                    assert sum(u == 0 for u in use) < first_pending

    _run(body)
