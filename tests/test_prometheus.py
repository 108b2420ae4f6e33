"""asyncactors.prometheus: a collector registered by the user, read at scrape time."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import asyncactors
from asyncactors import ActorSystem, SystemStatistics
from asyncactors.prometheus import ActorSystemCollector


class Boom(Exception):
    pass


@asyncactors.remote
class Worker:
    def __init__(self) -> None:
        self.gate = asyncio.Event()

    def work(self) -> int:
        return 1

    def fail(self) -> None:
        raise ValueError("bad")

    def crash(self) -> None:
        raise Boom("crash")

    async def wait(self) -> None:
        await self.gate.wait()


def _registry(system: ActorSystem) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(ActorSystemCollector(system))
    return registry


def test_importing_registers_nothing() -> None:
    """Importing asyncactors.prometheus registers no collector on the default registry."""
    names = set(REGISTRY._names_to_collectors)
    assert not any(name.startswith("asyncactors_") for name in names)


def test_registering_reads_nothing_and_a_scrape_reads_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Registering reads no statistics (describe() gives the names); each scrape reads them once."""
    system = ActorSystem()
    reads: list[SystemStatistics] = []
    real = system.statistics

    def counted() -> SystemStatistics:
        reads.append(real())
        return reads[-1]

    monkeypatch.setattr(system, "statistics", counted)
    registry = _registry(system)
    assert reads == []
    text = generate_latest(registry).decode()
    assert len(reads) == 1
    assert "# TYPE asyncactors_calls_total counter" in text


def test_collector_refuses_what_is_not_a_system() -> None:
    """ActorSystemCollector() of something else raises TypeError naming it."""
    with pytest.raises(TypeError, match="needs an ActorSystem"):
        ActorSystemCollector("system")  # type: ignore[arg-type]


async def test_scrape_reports_actors_mailboxes_calls_and_restarts() -> None:
    """A scrape gives actors by class and state, mailbox depth and capacity, running calls,
    calls by outcome and restarts, as system.statistics() counts them."""
    async with ActorSystem(namespace="prom") as system:
        registry = _registry(system)
        sup = asyncactors.Supervisor(max_restarts=5)
        w = Worker.options(
            mailbox_size=10, max_concurrency=1, supervisor=sup, restart_on=(Boom,)
        ).remote()
        named = Worker.options(name="front").remote()
        await asyncactors.get([w.work.remote(), w.work.remote(), named.work.remote()])
        with pytest.raises(ValueError, match="bad"):
            await w.fail.remote()
        with pytest.raises(Boom):
            await w.crash.remote()
        await w
        running = w.wait.remote()
        queued = [w.work.remote() for _ in range(3)]
        await asyncio.sleep(0)

        def value(name: str, **labels: str) -> float | None:
            labels.setdefault("namespace", "prom")
            return registry.get_sample_value(name, labels)

        unnamed = {"actor_class": "Worker", "actor_name": ""}
        front = {"actor_class": "Worker", "actor_name": "front"}
        assert value("asyncactors_actors", actor_class="Worker", state="ALIVE") == 2
        assert value("asyncactors_mailbox_depth", **unnamed) == 3
        assert value("asyncactors_mailbox_capacity", **unnamed) == 10
        assert value("asyncactors_running_calls", **unnamed) == 1
        assert value("asyncactors_calls_total", **unnamed, outcome="ok") == 2
        assert value("asyncactors_calls_total", **unnamed, outcome="error") == 2
        assert value("asyncactors_calls_total", **front, outcome="ok") == 1
        assert value("asyncactors_restarts_total", **unnamed) == 1
        assert value("asyncactors_event_loop_blocks_total") == 0
        # No latency without metrics=True.
        assert value("asyncactors_call_latency_seconds_count", **unnamed) is None
        w._core.instance.gate.set()
        await asyncactors.get([running, *queued])
        assert value("asyncactors_mailbox_depth", **unnamed) == 0
        assert value("asyncactors_calls_total", **unnamed, outcome="ok") == 6


async def test_labels_stay_bounded() -> None:
    """Many unnamed actors of a class are one series: no label carries an actor id."""
    async with ActorSystem() as system:
        workers = [Worker.remote() for _ in range(30)]
        await asyncactors.get([w.work.remote() for w in workers])
        families = list(text_string_to_metric_families(generate_latest(_registry(system)).decode()))
        samples = [s for f in families for s in f.samples]
        label_names = {name for s in samples for name in s.labels}
        assert label_names <= {"namespace", "actor_class", "actor_name", "state", "outcome", "le"}
        calls = [s for s in samples if s.name == "asyncactors_calls_total"]
        assert {(s.labels["actor_name"], s.labels["outcome"]): s.value for s in calls} == {
            ("", "ok"): 30,
            ("", "error"): 0,
        }


async def test_counters_stay_monotonic_when_actors_stop() -> None:
    """A stopped named actor's calls join its class's unnamed series: the class's sum of
    calls never goes down, and DEAD counts it."""
    async with ActorSystem() as system:
        registry = _registry(system)
        named = Worker.options(name="n").remote()
        for _ in range(4):
            await named.work.remote()
        labels = {"namespace": "default", "actor_class": "Worker"}
        ok = {**labels, "outcome": "ok"}
        assert registry.get_sample_value("asyncactors_calls_total", {**ok, "actor_name": "n"}) == 4
        await asyncactors.stop(named)
        assert (
            registry.get_sample_value("asyncactors_calls_total", {**ok, "actor_name": "n"}) is None
        )
        # 4 calls and the stop call.
        assert registry.get_sample_value("asyncactors_calls_total", {**ok, "actor_name": ""}) == 5
        assert registry.get_sample_value("asyncactors_actors", {**labels, "state": "DEAD"}) == 1


async def test_latency_histogram_under_metrics() -> None:
    """With metrics=True a scrape has a latency histogram per group whose +Inf bucket and count
    are the calls made."""
    async with ActorSystem(metrics=True) as system:
        w = Worker.remote()
        for _ in range(7):
            await w.work.remote()
        text = generate_latest(_registry(system)).decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        histogram = families["asyncactors_call_latency_seconds"]
        assert histogram.type == "histogram"
        samples = {(s.name, s.labels.get("le")): s.value for s in histogram.samples}
        assert samples["asyncactors_call_latency_seconds_count", None] == 7
        assert samples["asyncactors_call_latency_seconds_bucket", "+Inf"] == 7
        assert samples["asyncactors_call_latency_seconds_sum", None] > 0
        buckets = [v for (name, le), v in samples.items() if name.endswith("_bucket")]
        assert buckets == sorted(buckets)
