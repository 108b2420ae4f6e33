"""The integration examples, served for real on 127.0.0.1 and driven over HTTP and websockets."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import httpx
import pytest

from tests.integrations.servers import (
    aiohttp_serving,
    concurrent_requests,
    load_example,
    uvicorn_serving,
)
from tests.test_examples import run_example

service = load_example("fastapi_service")
rooms = load_example("aiohttp_rooms")


class FakeClock:
    """A clock the test moves by hand, for the token buckets."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def poll(client: httpx.AsyncClient, path: str, until: Any) -> Any:
    """GET ``path`` until ``until(json)`` holds (bounded); return that JSON."""
    for _ in range(500):
        body = (await client.get(path)).json()
        if until(body):
            return body
        await asyncio.sleep(0.01)
    raise AssertionError(f"GET {path} never satisfied the condition; last: {body!r}")


# -- fastapi_service ------------------------------------------------------------------


async def test_rate_limiter_admits_exactly_capacity_per_window_under_concurrent_load() -> None:
    """200 concurrent requests per client per window: exactly 50 admitted, the rest get 429."""
    clock = FakeClock()
    # 50 tokens, refilled at 5 a second: a window is 10 s of the fake clock.
    settings = service.Settings(rate_capacity=50, rate_per_s=5.0, clock=clock)
    async with uvicorn_serving(service.create_app(settings), backlog=1024) as (url, _):
        for window in range(2):
            alice, bob = await asyncio.gather(
                concurrent_requests(url, "GET", "/limited", 200, headers={"x-client-id": "alice"}),
                concurrent_requests(url, "GET", "/limited", 200, headers={"x-client-id": "bob"}),
            )
            for replies in (alice, bob):
                codes = [r.status_code for r in replies]
                assert (codes.count(200), codes.count(429)) == (50, 150), window
                assert all(r.headers["retry-after"] == "1" for r in replies if r.status_code == 429)
            clock.now += 10.0


async def test_idle_rate_limiters_are_reaped_and_recreated_on_demand() -> None:
    """A client's bucket actor stops once idle and full; its next request gets a fresh one."""
    clock = FakeClock()
    settings = service.Settings(
        rate_capacity=2, rate_per_s=1.0, limiter_idle_s=60.0, sweep_every_s=0.01, clock=clock
    )
    headers = {"x-client-id": "carol"}
    async with (
        uvicorn_serving(service.create_app(settings)) as (url, _),
        httpx.AsyncClient(base_url=url) as client,
    ):
        assert [(await client.get("/limited", headers=headers)).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        assert "ratelimit:carol" in {a["name"] for a in (await client.get("/actors")).json()}
        clock.now += 61.0
        await poll(
            client, "/actors", lambda actors: "ratelimit:carol" not in {a["name"] for a in actors}
        )
        codes = [(await client.get("/limited", headers=headers)).status_code for _ in range(3)]
        assert codes == [200, 200, 429]


async def test_cache_evicts_the_least_recently_used_and_counts_hits_and_misses() -> None:
    """LRU order decides the eviction; a miss is the actor's CacheMiss, answered with 404."""
    settings = service.Settings(cache_capacity=2)
    async with (
        uvicorn_serving(service.create_app(settings)) as (url, _),
        httpx.AsyncClient(base_url=url) as client,
    ):
        for key in ("a", "b"):
            assert (await client.put(f"/cache/{key}", json={"value": key * 2})).json()[
                "evicted"
            ] is None
        assert (await client.get("/cache/a")).json() == {"key": "a", "value": "aa"}
        assert (await client.put("/cache/c", json={"value": "cc"})).json()["evicted"] == "b"
        assert (await client.get("/cache/b")).status_code == 404
        stats = (await client.get("/cache")).json()
    assert stats == {"size": 2, "capacity": 2, "hits": 1, "misses": 1, "evictions": 1}


async def test_supervised_worker_survives_a_crash_injected_through_the_endpoint() -> None:
    """POST /worker/crash crashes the worker; its supervisor restarts it; every job completes."""
    settings = service.Settings(job_delay_s=0.001)
    async with (
        uvicorn_serving(service.create_app(settings)) as (url, _),
        httpx.AsyncClient(base_url=url) as client,
    ):
        before = [(await client.post("/jobs", params={"n": n})).json()["job"] for n in range(10)]
        first = (await client.get("/worker")).json()
        crash = await client.post("/worker/crash")
        assert crash.status_code == 200
        assert crash.json()["injected"].startswith("InjectedCrash:")
        after = [(await client.post("/jobs", params={"n": n})).json()["job"] for n in range(10)]
        for n, job in enumerate(before + after):
            state = await poll(client, f"/jobs/{job}", lambda s: s["state"] != "pending")
            expected = sum(i * i for i in range(n % 10))
            assert state == {"job": job, "state": "done", "result": expected}
        status = (await client.get("/worker")).json()
        assert (await client.get("/jobs/999")).status_code == 404
    assert (first["restart_count"], first["was_restarted"]) == (0, False)
    # The same actor, in its second incarnation, which ran the ten later jobs.
    assert status["actor_id"] == first["actor_id"]
    assert (status["restart_count"], status["was_restarted"]) == (1, True)
    assert status["processed"] == 10


async def test_actors_endpoint_lists_live_actors_with_mailbox_depths() -> None:
    """GET /actors names every live actor, with its mailbox depth and capacity."""
    async with (
        uvicorn_serving(service.create_app()) as (url, _),
        httpx.AsyncClient(base_url=url) as client,
    ):
        await client.get("/limited", headers={"x-client-id": "dave"})
        actors = (await client.get("/actors")).json()
    assert sorted(a["name"] for a in actors) == ["cache", "counter", "ratelimit:dave", "worker"]
    for actor in actors:
        assert actor["state"] == "ALIVE"
        assert actor["mailbox_depth"] == 0
        assert actor["mailbox_capacity"] == 1000


def test_fastapi_service_self_test_runs() -> None:
    """``python examples/fastapi_service.py --self-test`` exercises every endpoint and passes."""
    out = run_example("fastapi_service.py", "--self-test")
    assert "counter: 110" in out
    assert "rate limiter: admitted 5, refused 3" in out
    assert "jobs: ['done', 'done', 'done']" in out
    assert "'restart_count': 1, 'was_restarted': True" in out
    assert out.rstrip().endswith("self-test ok")


# -- aiohttp_rooms --------------------------------------------------------------------


async def join(session: aiohttp.ClientSession, url: str, room: str, name: str) -> Any:
    ws = await session.ws_connect(f"{url}/rooms/{room}?name={name}")
    joined = await ws.receive_json(timeout=10)
    assert joined["type"] == "joined"
    return ws


async def test_every_member_gets_every_message_once_in_order_per_sender() -> None:
    """Five members each send 30 messages at once; all get all 150, once, in sender order."""
    names = [f"m{i}" for i in range(5)]
    per_sender = 30
    async with (
        aiohttp_serving(rooms.create_app()) as (url, _),
        aiohttp.ClientSession() as session,
    ):
        sockets = [await join(session, url, "lobby", name) for name in names]

        async def chat(name: str, ws: Any) -> list[dict[str, Any]]:
            async def send() -> None:
                for i in range(per_sender):
                    await ws.send_str(f"{name}:{i}")

            sender = asyncio.create_task(send())
            frames = [await ws.receive_json(timeout=10) for _ in range(per_sender * len(names))]
            await sender
            return frames

        received = await asyncio.gather(
            *(chat(n, ws) for n, ws in zip(names, sockets, strict=True))
        )
        for ws in sockets:
            await ws.close()
    expected = {n: [f"{n}:{i}" for i in range(per_sender)] for n in names}
    first = received[0]
    for frames in received:
        assert {n: [f["text"] for f in frames if f["from"] == n] for n in names} == expected
        # One room, one order: every member sees the same sequence.
        assert [f["seq"] for f in frames] == list(range(1, per_sender * len(names) + 1))
        assert [f["text"] for f in frames] == [f["text"] for f in first]


async def test_slow_consumer_is_evicted_with_1008_while_the_others_get_everything() -> None:
    """A member that stops reading is evicted once its bounded outbox fills; others are served."""
    settings = rooms.Settings(outbox_limit=8)
    payload = "x" * 12000  # under max_message
    async with (
        aiohttp_serving(rooms.create_app(settings)) as (url, _),
        aiohttp.ClientSession() as session,
    ):
        slow = await join(session, url, "busy", "slow")
        fast = await join(session, url, "busy", "fast")
        info: list[dict[str, Any]] = []
        for i in range(2000):
            await fast.send_str(f"{i}:{payload}")
            frame = await fast.receive_json(timeout=10)
            assert frame["text"].startswith(f"{i}:")
            if i % 20 == 19:
                async with session.get(f"{url}/rooms") as reply:
                    info = await reply.json()
                if info[0]["evicted"]:
                    break
        assert info[0]["evicted"] == 1
        assert info[0]["members"] == ["fast"]
        assert info[0]["peak_backlog"] <= 8
        # The slow member reads what reached its socket, then the close.
        for _ in range(2000):
            msg = await slow.receive(timeout=10)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        if msg.type is aiohttp.WSMsgType.CLOSE:
            assert msg.data == 1008
        await fast.close()


async def test_an_emptied_room_stops_and_a_new_member_starts_it_again() -> None:
    """When the last member leaves, the room actor stops; joining again makes a new one."""
    async with (
        aiohttp_serving(rooms.create_app()) as (url, _),
        aiohttp.ClientSession() as session,
    ):
        for round_ in range(3):
            a = await join(session, url, "cycle", "a")
            b = await join(session, url, "cycle", "b")
            await a.send_str(f"hello {round_}")
            assert (await b.receive_json(timeout=10))["text"] == f"hello {round_}"
            await a.close()
            await b.close()
            for _ in range(500):
                async with session.get(f"{url}/rooms") as reply:
                    if await reply.json() == []:
                        break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the emptied room did not stop")


async def test_server_shutdown_closes_member_sockets_with_going_away() -> None:
    """Stopping the server closes open websockets (1001), then drains the room actors."""
    app = rooms.create_app()
    async with aiohttp.ClientSession() as session:
        async with aiohttp_serving(app) as (url, runner):
            ws = await join(session, url, "bye", "a")
            await runner.cleanup()
        msg = await ws.receive(timeout=10)
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert msg.data == 1001


def test_aiohttp_rooms_self_test_runs() -> None:
    """``python examples/aiohttp_rooms.py --self-test`` chats in one room and passes."""
    out = run_example("aiohttp_rooms.py", "--self-test")
    assert out.count("got 15 messages, in order per sender") == 3
    assert out.rstrip().endswith("self-test ok")


# -- io_fanout ------------------------------------------------------------------------


def test_io_fanout_runs_end_to_end_and_never_exceeds_max_concurrency() -> None:
    """A small fan-out: every fetch returns its item; in flight stays <= fetchers * N."""
    out = run_example("io_fanout.py", "--self-test")
    rows = re.findall(r"^\s*(\d+)\s+\d+\s+\d+\s+(\d+)\s+(\d+)\s*$", out, re.MULTILINE)
    assert [int(n) for n, _, _ in rows] == [1, 4]
    for n, ok, peak in rows:
        assert int(ok) == 40
        assert 1 <= int(peak) <= 2 * int(n)


# -- streaming ------------------------------------------------------------------------


def test_streaming_self_test_runs() -> None:
    """``python examples/streaming.py --self-test``: SSE token streams, full and cut short."""
    out = run_example("streaming.py", "--self-test")
    assert "3 clients got 'You said: streams of tokens.', token by token" in out
    assert "'running': 0, 'completed': 3, 'closed_early': 1" in out
    assert out.rstrip().endswith("self-test ok")


# -- batching -------------------------------------------------------------------------


def test_batching_self_test_batches_requests_and_fails_only_the_bad_text() -> None:
    """``python examples/batching.py --self-test``: 200 requests in few model calls, each
    vector right; an empty text fails alone; max_batch_size changes at run time."""
    out = run_example("batching.py", "--self-test")
    calls = re.search(r"200 requests, every vector right, in (\d+) model calls", out)
    assert calls is not None
    assert int(calls[1]) < 50
    assert "empty text among others: [200, 422, 200]" in out
    assert "max_batch_size=1: 5 requests in 5 model calls" in out
    assert "max_batch_size=0: 422 option 'max_batch_size' must be an int >= 1, got 0" in out
    assert out.rstrip().endswith("self-test ok")


@pytest.mark.parametrize(
    "example",
    ["fastapi_service.py", "aiohttp_rooms.py", "io_fanout.py", "streaming.py", "batching.py"],
)
def test_example_help_runs(example: str) -> None:
    """Each example's command line parses (``--help``) without starting a server."""
    assert "--self-test" in run_example(example, "--help")
