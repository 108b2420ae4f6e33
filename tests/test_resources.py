"""Logical resources: capacity, reservations at creation, pending actors, resizing (issue 10.3)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

import asyncactors
from asyncactors import ActorDiedError, ActorState, ActorSystem, GetTimeoutError, Supervisor
from asyncactors._resources import machine_memory


@asyncactors.remote
class Job:
    """Records its creation in ``log`` and echoes calls."""

    def __init__(self, tag: str, log: list[str]) -> None:
        self.tag = tag
        log.append(tag)

    def echo(self, x: Any) -> Any:
        return x

    def assigned(self) -> tuple[dict[str, float], dict[str, list[str]]]:
        ctx = asyncactors.get_runtime_context()
        return ctx.get_assigned_resources(), ctx.get_accelerator_ids()

    async def resize(self, amounts: dict[str, float], timeout: float | None = None) -> None:
        await asyncactors.set_resources(amounts, timeout=timeout)

    async def resize_outcome(self, amounts: dict[str, float], timeout: float | None) -> str:
        try:
            await asyncactors.set_resources(amounts, timeout=timeout)
        except BaseException as exc:
            return type(exc).__name__
        return "ok"

    def crash(self) -> None:
        raise SystemError("crash")


def job(**options: Any) -> asyncactors.ActorClass[Any]:
    return Job.options(**options)


def infos(system: ActorSystem) -> dict[str | None, asyncactors.ActorInfo]:
    return {i.name: i for i in system.list_actors()}


async def settle() -> None:
    """Give granted actors the loop iterations their creation takes."""
    for _ in range(5):
        await asyncio.sleep(0)


# -- capacity -----------------------------------------------------------------------------


async def test_default_capacity_is_the_machine() -> None:
    """By default the system has os.cpu_count() CPUs, the machine's memory, no GPU."""
    async with ActorSystem() as system:
        assert system.cluster_resources() == {
            "CPU": float(os.cpu_count() or 1),
            "memory": float(machine_memory()),
        }
        assert machine_memory() > 0
        assert system.available_resources() == system.cluster_resources()


async def test_declared_capacity_overrides_the_defaults() -> None:
    """resources= sets capacities by name; a GPU count gives that many GPUs; custom ones join."""
    async with ActorSystem(resources={"CPU": 8, "GPU": 2, "memory": 1e9, "disk": 4}) as system:
        assert system.cluster_resources() == {"CPU": 8, "GPU": 2, "memory": 1e9, "disk": 4}


@pytest.mark.parametrize(
    ("resources", "error", "match"),
    [
        (["CPU"], TypeError, "dict of resource name"),
        ({"CPU": "8"}, TypeError, "amount of 'CPU' must be a number"),
        ({"CPU": -1}, ValueError, "'CPU' must be a finite number >= 0"),
        ({"disk": float("inf")}, ValueError, "'disk' must be a finite number"),
        ({"": 1}, ValueError, "names must not be empty"),
        ({1: 1}, TypeError, "names must be str"),
        ({"GPU": 1.5}, ValueError, "whole number of GPUs"),
        ({"GPU": [0, 0]}, ValueError, "GPU ids must be unique"),
        ({"GPU": [0.5]}, TypeError, "GPU ids must be ints or strs"),
        ({"GPU": "0,1"}, TypeError, "number of GPUs or a list of GPU ids"),
    ],
)
def test_bad_capacity_is_refused(resources: Any, error: type[Exception], match: str) -> None:
    """ActorSystem(resources=...) refuses bad names, amounts and GPU ids, naming them."""
    with pytest.raises(error, match=match):
        ActorSystem(resources=resources)


def test_more_than_one_gpu_must_be_whole() -> None:
    """num_gpus above 1 must be whole, as in Ray: a fraction of one GPU, or whole GPUs."""
    with pytest.raises(ValueError, match="whole number of GPUs"):
        Job.options(num_gpus=1.5)
    Job.options(num_gpus=0.25)
    Job.options(num_gpus=2)


async def test_init_takes_a_capacity() -> None:
    """init(resources=) declares the default system's capacity."""
    system = asyncactors.init(resources={"CPU": 3, "x": 1})
    try:
        assert system.cluster_resources()["CPU"] == 3
        assert system.cluster_resources()["x"] == 1
    finally:
        await asyncactors.shutdown()


def test_start_background_takes_a_capacity() -> None:
    """start_background(resources=) declares the capacity; an actor created from this
    thread that must wait is created on the loop's thread once the GPU is free."""
    with asyncactors.start_background(resources={"GPU": [7]}):
        h = job(num_gpus=1).remote("a", [])
        assert h.assigned.remote().result(timeout=10) == ({"GPU": 1.0}, {"GPU": ["7"]})
        later = job(num_gpus=1).remote("b", [])
        ref = later.assigned.remote()
        assert not ref.done()
        asyncactors.kill(h)
        assert ref.result(timeout=10) == ({"GPU": 1.0}, {"GPU": ["7"]})


# -- reservations -------------------------------------------------------------------------


async def test_an_actor_without_options_reserves_nothing() -> None:
    """Without resource options an actor is created even with no capacity, and holds nothing."""
    async with ActorSystem(resources={"CPU": 0}) as system:
        h = Job.remote("a", [])
        assert await h.assigned.remote() == ({}, {"GPU": []})
        (info,) = system.list_actors()
        assert info.resources == {}
        assert info.pending_resources == {}
        assert system.available_resources() == {"memory": float(machine_memory())}
        assert Job._config.resources is None  # creation takes one test, nothing more


async def test_creation_reserves_and_death_releases() -> None:
    """An actor reserves its options at .remote(), and gives them back once DEAD."""
    async with ActorSystem(resources={"CPU": 4, "GPU": 1, "memory": 1000, "db": 2}) as system:
        h = job(name="a", num_cpus=1.5, num_gpus=1, memory=100, resources={"db": 1}).remote("a", [])
        held = {"CPU": 1.5, "GPU": 1.0, "memory": 100.0, "db": 1.0}
        assert system.available_resources() == {"CPU": 2.5, "memory": 900, "db": 1}
        assert await h.assigned.remote() == (held, {"GPU": ["0"]})
        assert infos(system)["a"].resources == held
        await asyncactors.stop(h)
        assert system.available_resources() == system.cluster_resources()
        assert infos(system)["a"].resources == {}


async def test_assigned_resources_carry_the_ids_of_the_gpus_held() -> None:
    """get_assigned_resources() is Ray's dict of amounts, and its gpu_ids names the GPUs held."""
    async with ActorSystem(resources={"GPU": ["4", "7", "9"]}):
        two = job(num_gpus=2).remote("two", [])
        half = job(num_gpus=0.5).remote("half", [])
        none = job().remote("none", [])
        for h, amounts, ids in ((two, {"GPU": 2.0}, ["4", "7"]), (half, {"GPU": 0.5}, ["9"])):
            held, _ = await h.assigned.remote()
            assert isinstance(held, asyncactors.AssignedResources)
            assert held == amounts
            assert held.gpu_ids == ids
        held, _ = await none.assigned.remote()
        assert held == {}
        assert held.gpu_ids == []
    assert asyncactors.get_runtime_context().get_assigned_resources().gpu_ids == []


async def test_a_demand_above_the_capacity_is_refused_at_creation() -> None:
    """.remote() refuses an actor asking more than the system has in all, naming what."""
    async with ActorSystem(resources={"CPU": 2}) as system:
        with pytest.raises(ValueError, match=r"asks for CPU: 3, more than .* \(CPU: 2\)"):
            job(num_cpus=3).remote("a", [])
        with pytest.raises(ValueError, match=r"GPU: 1, but its actor system has no 'GPU'; decl"):
            job(num_gpus=1).remote("a", [])
        with pytest.raises(ValueError, match=r"ActorSystem\(resources=\{'db': \.\.\.\}\)"):
            job(resources={"db": 1}).remote("a", [])
        assert system.list_actors() == []
        assert system.available_resources()["CPU"] == 2


# -- pending creation ---------------------------------------------------------------------


async def test_an_actor_that_does_not_fit_waits_and_its_calls_queue() -> None:
    """A pending actor is not created and runs no call until an actor stops and frees room."""
    log: list[str] = []
    async with ActorSystem(resources={"CPU": 2}) as system:
        a = job(name="a", num_cpus=2).remote("a", log)
        b = job(name="b", num_cpus=1).remote("b", log)
        refs = [b.echo.remote(i) for i in range(3)]
        await a
        await settle()
        assert log == ["a"]
        assert not any(r.done() for r in refs)
        info = infos(system)["b"]
        assert info.state is ActorState.PENDING_CREATION
        assert info.mailbox_depth == 3
        assert (info.resources, info.pending_resources) == ({}, {"CPU": 1.0})
        asyncactors.kill(a)
        assert system.available_resources().get("CPU", 0) == 1  # granted at once
        assert await asyncactors.get(refs) == [0, 1, 2]
        assert log == ["a", "b"]
        assert infos(system)["b"].resources == {"CPU": 1.0}


async def test_pending_actors_are_created_in_strict_request_order() -> None:
    """A later small request does not jump ahead of an earlier large one."""
    log: list[str] = []
    async with ActorSystem(resources={"CPU": 3}) as system:
        a = job(name="a", num_cpus=2).remote("a", log)
        job(name="big", num_cpus=2).remote("big", log)
        small = job(name="small", num_cpus=1).remote("small", log)
        await a
        await settle()
        # One CPU is free and "small" would fit, but "big" asked first.
        assert system.available_resources()["CPU"] == 1
        assert infos(system)["small"].state is ActorState.PENDING_CREATION
        asyncactors.kill(a)
        await small
        assert log == ["a", "big", "small"]
        assert "CPU" not in system.available_resources()


async def test_killing_a_pending_actor_lets_those_behind_it_go() -> None:
    """A pending actor killed leaves the queue; the ones it held back are granted at once."""
    log: list[str] = []
    async with ActorSystem(resources={"CPU": 3}) as system:
        a = job(name="a", num_cpus=2).remote("a", log)
        big = job(name="big", num_cpus=2).remote("big", log)
        small = job(name="small", num_cpus=1).remote("small", log)
        queued = big.echo.remote(1)
        asyncactors.kill(big)
        await small
        with pytest.raises(ActorDiedError, match="killed"):
            await queued
        with pytest.raises(ActorDiedError):
            await big
        assert log == ["a", "small"]
        del a
        assert "CPU" not in system.available_resources()


async def test_shutdown_fails_pending_actors_and_their_callers() -> None:
    """At shutdown, actors still waiting for resources die: their callers get ActorDiedError."""
    log: list[str] = []
    async with ActorSystem(resources={"GPU": 1}) as system:
        a = job(name="a", num_gpus=1).remote("a", log)
        b = job(name="b", num_gpus=1).remote("b", log)
        ref = b.echo.remote(1)
        ready = asyncio.ensure_future(_ready(b))
        await a
        await system.shutdown()
        with pytest.raises(ActorDiedError, match=r"before it was created.*GPU: 1"):
            await ref
        with pytest.raises(ActorDiedError, match="before it was created"):
            await ready
        assert log == ["a"]
        assert infos(system)["b"].state is ActorState.DEAD


async def _ready(handle: Any) -> None:
    await handle


async def test_a_restart_keeps_the_reservation() -> None:
    """A crashed actor restarts with what it held: pending actors keep waiting."""
    log: list[str] = []
    async with ActorSystem(resources={"CPU": 1}) as system:
        a = job(name="a", num_cpus=1, max_restarts=1, restart_on=(SystemError,)).remote("a", log)
        job(name="b", num_cpus=1).remote("b", log)
        with pytest.raises(SystemError):
            await a.crash.remote()
        assert await a.echo.remote(2) == 2  # restarted
        assert infos(system)["a"].resources == {"CPU": 1.0}
        await settle()
        assert log == ["a", "a"]
        assert infos(system)["b"].state is ActorState.PENDING_CREATION


async def test_a_pending_supervised_actor_joins_its_supervisor_when_granted() -> None:
    """Granted later, a supervised actor starts under its supervisor; one that failed
    for good meanwhile makes it die with a clear error."""
    log: list[str] = []
    async with ActorSystem(resources={"CPU": 2}):
        a = job(num_cpus=2).remote("a", log)
        sup = Supervisor()
        b = job(num_cpus=1, supervisor=sup).remote("b", log)
        doomed_sup = Supervisor(restart="temporary")
        c = job(num_cpus=1, supervisor=doomed_sup).remote("c", log)
        assert sup.children == []
        doomed_sup._die("it was told to")
        await a
        asyncactors.kill(a)
        await b
        assert sup.children == [b]
        with pytest.raises(ActorDiedError, match=r"could not start: .* has failed and stays down"):
            await c
        assert log == ["a", "b"]
        await sup.stop()


# -- the runtime context ------------------------------------------------------------------


async def test_gpu_ids_are_assigned_and_fractions_share_one_gpu() -> None:
    """Whole GPUs get distinct ids; fractions pack onto one GPU, as Ray packs them."""
    async with ActorSystem(resources={"GPU": [3, 5]}) as system:
        h1 = job(num_gpus=0.5).remote("h1", [])
        h2 = job(num_gpus=0.5).remote("h2", [])
        whole = job(num_gpus=1).remote("w", [])
        assert await h1.assigned.remote() == ({"GPU": 0.5}, {"GPU": ["3"]})
        assert await h2.assigned.remote() == ({"GPU": 0.5}, {"GPU": ["3"]})
        assert await whole.assigned.remote() == ({"GPU": 1.0}, {"GPU": ["5"]})
        assert "GPU" not in system.available_resources()
        asyncactors.kill(h1)
        asyncactors.kill(whole)
        both = job(name="both", num_gpus=2).remote("both", [])
        await settle()
        # 1.5 GPUs are free, but not two whole ones.
        assert system.available_resources()["GPU"] == 1.5
        assert infos(system)["both"].pending_resources == {"GPU": 2.0}
        asyncactors.kill(h2)
        assert await both.assigned.remote() == ({"GPU": 2.0}, {"GPU": ["3", "5"]})


async def test_outside_an_actor_nothing_is_assigned() -> None:
    """Outside an actor get_assigned_resources() is empty and there are no GPU ids."""
    async with ActorSystem(resources={"GPU": 1}):
        ctx = asyncactors.get_runtime_context()
        assert ctx.get_assigned_resources() == {}
        assert ctx.get_accelerator_ids() == {"GPU": []}


# -- set_resources --------------------------------------------------------------------


async def test_growth_waits_behind_pending_creations_and_shrinking_frees_at_once() -> None:
    """set_resources() grows in FIFO order behind pending actors; a decrease frees at once."""
    log: list[str] = []
    async with ActorSystem(resources={"CPU": 4, "GPU": 2}) as system:
        a = job(name="a", num_cpus=1, num_gpus=1).remote("a", log)
        d = job(name="d", num_cpus=3).remote("d", log)
        await d
        b = job(name="b", num_cpus=2).remote("b", log)
        grow = a.resize.remote({"GPU": 2})  # a GPU is free, but b asked first
        await settle()
        assert not grow.done()
        assert infos(system)["a"].pending_resources == {"GPU": 2.0}
        await d.resize.remote({"CPU": 1})  # frees 2 CPUs: b is granted, then the growth
        await b
        await grow
        assert log == ["a", "d", "b"]
        assert await a.assigned.remote() == ({"CPU": 1.0, "GPU": 2.0}, {"GPU": ["0", "1"]})
        assert "CPU" not in system.available_resources()
        await a.resize.remote({"GPU": 0, "CPU": 0})
        assert await a.assigned.remote() == ({}, {"GPU": []})
        assert system.available_resources() == {"CPU": 1, "GPU": 2, "memory": machine_memory()}


async def test_growth_times_out_and_keeps_the_reservation() -> None:
    """A growth that does not fit in time raises GetTimeoutError; the actor keeps what it had,
    and the requests it held back go ahead."""
    log: list[str] = []
    async with ActorSystem(resources={"CPU": 2}) as system:
        a = job(name="a", num_cpus=1, max_concurrency=2).remote("a", log)
        blocker = job(name="blocker", num_cpus=1).remote("blocker", log)
        await blocker
        grow = a.resize_outcome.remote({"CPU": 2}, 0.05)
        await settle()
        small = job(name="small", num_cpus=1).remote("small", log)  # behind the growth
        asyncactors.kill(blocker)
        await settle()
        # The growth of 1 CPU fits now: it went first.
        assert await grow == "ok"
        assert infos(system)["small"].state is ActorState.PENDING_CREATION
        assert await a.resize_outcome.remote({"CPU": 3}, 0.0) == "ValueError"
        assert await a.resize_outcome.remote({"CPU": 1}, 0.0) == "ok"
        await small
        assert await a.resize_outcome.remote({"CPU": 2}, 0.01) == "GetTimeoutError"
        assert infos(system)["a"].resources == {"CPU": 1.0}
        assert infos(system)["a"].pending_resources == {}
        assert log == ["a", "blocker", "small"]


async def test_a_timed_out_growth_lets_smaller_requests_behind_it_go() -> None:
    """Withdrawn at its timeout, a growth no longer holds back the creations behind it."""
    log: list[str] = []
    async with ActorSystem(resources={"CPU": 3}):
        a = job(name="a", num_cpus=1).remote("a", log)
        blocker = job(name="blocker", num_cpus=1).remote("blocker", log)
        await blocker
        grow = a.resize.remote({"CPU": 2.5}, 0.05)  # needs 1.5 more; 1 is free
        await settle()
        small = job(name="small", num_cpus=1).remote("small", log)
        await settle()
        assert log == ["a", "blocker"]
        with pytest.raises(GetTimeoutError, match=r"timed out after 0.05 s waiting for CPU: 2.5"):
            await grow
        await small
        assert log == ["a", "blocker", "small"]


async def test_set_resources_outside_an_actor_raises() -> None:
    """set_resources() outside an actor's code raises RuntimeError saying where it works."""
    async with ActorSystem():
        with pytest.raises(RuntimeError, match="only be called inside an actor"):
            await asyncactors.set_resources({"CPU": 1})


@pytest.mark.parametrize(
    ("amounts", "error", "match"),
    [
        ([("CPU", 1)], TypeError, "dict of resource name"),
        ({"CPU": -1}, ValueError, "'CPU' must be a finite number >= 0"),
        ({"GPU": 1.5}, ValueError, "whole number of GPUs"),
        ({"CPU": True}, TypeError, "'CPU' must be a number"),
    ],
)
async def test_set_resources_refuses_bad_amounts(
    amounts: Any, error: type[Exception], match: str
) -> None:
    """set_resources() checks its mapping, naming the resource."""
    async with ActorSystem():
        h = Job.remote("a", [])
        with pytest.raises(error, match=match):
            await h.resize.remote(amounts)


async def test_one_set_resources_at_a_time() -> None:
    """A second set_resources() while one waits raises RuntimeError."""
    async with ActorSystem(resources={"CPU": 1}):
        blocker = job(num_cpus=1).remote("b", [])
        await blocker
        a = job(max_concurrency=2).remote("a", [])
        first = a.resize.remote({"CPU": 1})
        await settle()
        with pytest.raises(RuntimeError, match="already waiting in set_resources"):
            await a.resize.remote({"CPU": 0.5})
        asyncactors.kill(blocker)
        await first


async def test_shutdown_fails_a_waiting_growth() -> None:
    """A growth waiting at shutdown fails with ActorDiedError; nothing is left waiting."""
    async with ActorSystem(resources={"CPU": 1}) as system:
        blocker = job(num_cpus=1).remote("b", [])
        a = Job.remote("a", [])
        await blocker
        grow = a.resize.remote({"CPU": 1})
        await settle()
        await system.shutdown()
        with pytest.raises(ActorDiedError, match="its actor system is being shut down"):
            await grow


async def test_killing_an_actor_waiting_to_grow_withdraws_its_request() -> None:
    """A killed actor's waiting growth leaves the queue; pending actors behind it go."""
    log: list[str] = []
    async with ActorSystem(resources={"CPU": 2}):
        a = job(num_cpus=1).remote("a", log)
        blocker = job(num_cpus=1).remote("blocker", log)
        await blocker
        grow = a.resize.remote({"CPU": 2})
        await settle()
        c = job(num_cpus=1).remote("c", log)
        await settle()
        assert log == ["a", "blocker"]
        asyncactors.kill(a)
        await c
        with pytest.raises(ActorDiedError):
            await grow
        assert log == ["a", "blocker", "c"]
