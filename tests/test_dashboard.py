"""asyncactors.dashboard: the ASGI app (page, snapshot, live event stream), its small server,
mounting in FastAPI, and the demo command. The page in a real browser is in
test_dashboard_browser.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import asyncactors
from asyncactors import ActorSystem, dashboard
from asyncactors._cli import main
from asyncactors.dashboard import DashboardServer
from asyncactors.dashboard._snapshot import Snapshotter
from asyncactors.integrations.fastapi import actor_lifespan
from tests.integrations.servers import uvicorn_serving


@asyncactors.remote
class Queue:
    def __init__(self) -> None:
        self.gate = asyncio.Event()

    async def take(self) -> str:
        await self.gate.wait()
        return "taken"

    def ping(self) -> int:
        return 1


async def _get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One plain HTTP/1.1 request: status, headers (lower-case), body."""
    host, port, path = re.match(r"http://([^:/]+):(\d+)(/.*)", url).groups()  # type: ignore[union-attr]
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split(" ")[1]), headers, body


@contextlib.asynccontextmanager
async def _events(url: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    """Open the event stream at ``url``; yield an iterator of its decoded snapshots."""
    host, port, path = re.match(r"http://([^:/]+):(\d+)(/.*)", url).groups()  # type: ignore[union-attr]
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"content-type: text/event-stream" in head

    async def snapshots() -> AsyncIterator[dict[str, Any]]:
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"data: "):
                yield json.loads(line[6:])

    try:
        yield snapshots()
    finally:
        writer.close()
        await writer.wait_closed()


async def test_page_is_one_offline_html_file_with_a_strict_policy() -> None:
    """GET / serves the page: inline script and style only, allowed by hash, nothing fetched
    from elsewhere (no CDN), and no caching."""
    async with ActorSystem() as system, DashboardServer(dashboard.app(system)) as server:
        status, headers, body = await _get(server.url)
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert "<script>" in page
    assert 'new EventSource("events")' in page
    assert not re.search(r"(src|href)=", page)
    assert "http://" not in page
    assert "https://" not in page
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'", policy)
    assert "unsafe-inline" not in policy
    assert headers["cache-control"] == "no-store"


async def test_snapshot_reports_tree_actors_events_and_stuck_calls() -> None:
    """GET /snapshot gives the supervision tree, each actor's counters, lifecycle events and
    the calls stuck past stuck_after_s, with their stacks."""
    async with ActorSystem(block_warning_s=0.02) as system:
        app = dashboard.app(system, stuck_after_s=0.05)
        sup = asyncactors.Supervisor("one_for_all", name="workers")
        q = Queue.options(name="jobs", supervisor=sup, max_concurrency=1, mailbox_size=50).remote()
        loose = Queue.remote()
        refs = [q.take.remote() for _ in range(4)]
        await loose.ping.remote()
        async with DashboardServer(app) as server:
            for _ in range(100):
                status, headers, body = await _get(server.url + "snapshot")
                data = json.loads(body)
                if data["stuck"]:
                    break
                await asyncio.sleep(0.02)
        q._core.instance.gate.set()
        await asyncactors.get(refs)
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert data["system"] is True
    assert data["namespace"] == "default"
    tree = data["tree"]
    assert tree["kind"] == "root"
    (workers, loose_leaf) = tree["children"]
    assert (workers["kind"], workers["label"], workers["strategy"]) == (
        "supervisor",
        "workers",
        "one_for_all",
    )
    assert workers["children"] == [{"kind": "actor", "id": q._core.actor_id}]
    assert loose_leaf == {"kind": "actor", "id": loose._core.actor_id}
    jobs = data["actors"][str(q._core.actor_id)]
    assert (jobs["name"], jobs["state"], jobs["depth"], jobs["capacity"], jobs["running"]) == (
        "jobs",
        "ALIVE",
        3,
        50,
        1,
    )
    assert [e["kind"] for e in data["events"]] == ["started", "started"]
    (stuck,) = data["stuck"]
    assert (stuck["name"], stuck["method"], stuck["kind"]) == ("jobs", "take", "async")
    assert "await self.gate.wait()" in stuck["stack"][0]
    assert data["totals"]["actors"] == 2


async def test_event_stream_updates_live_and_ends_with_the_system() -> None:
    """GET /events streams snapshots: an actor created after it opened appears, its mailbox
    depth changes from one to the next, and the stream ends once the system shuts down."""
    system = ActorSystem()
    async with (
        system,
        DashboardServer(dashboard.app(system, interval_s=0.02)) as server,
        _events(server.url + "events") as snapshots,
    ):
        first = await anext(snapshots)
        assert first["actors"] == {}
        q = Queue.options(name="late", max_concurrency=1).remote()
        refs = [q.take.remote() for _ in range(3)]
        key = str(q._core.actor_id)
        async for snap in snapshots:
            if snap["actors"].get(key, {}).get("depth") == 2:
                break
        q._core.instance.gate.set()
        await asyncactors.get(refs)
        async for snap in snapshots:
            if snap["actors"][key]["depth"] == 0:
                assert snap["actors"][key]["processed"] == 3
                break
        await system.shutdown()
        last = [snap async for snap in snapshots]
    assert last
    assert last[-1]["closed"] is True


async def test_event_stream_ends_after_stream_s_and_when_the_client_leaves() -> None:
    """A stream lasts at most stream_s (the page reconnects); a client leaving ends its handler."""
    async with ActorSystem() as system:
        app = dashboard.app(system, interval_s=0.01, stream_s=0.1)
        async with DashboardServer(app) as server:
            async with _events(server.url + "events") as snapshots:
                seen = [snap async for snap in snapshots]
            assert 2 <= len(seen) <= 30
            long_app = dashboard.app(system, interval_s=0.01)
            async with DashboardServer(long_app) as other:
                async with _events(other.url + "events") as snapshots:
                    await anext(snapshots)
                for _ in range(100):
                    if not other._handlers:
                        break
                    await asyncio.sleep(0.01)
                assert not other._handlers


async def test_the_dashboard_is_read_only() -> None:
    """Every method but GET and HEAD is refused with 405, on every path; unknown paths are 404."""
    async with ActorSystem() as system, DashboardServer(dashboard.app(system)) as server:
        for path in ("", "snapshot", "events", "anything"):
            for method in ("POST", "PUT", "DELETE", "PATCH"):
                status, headers, _ = await _get(server.url + path, method)
                assert status == 405, (method, path)
                assert headers["allow"] == "GET, HEAD"
        status, _, body = await _get(server.url + "snapshot", "HEAD")
        assert (status, body) == (200, b"")
        status, _, _ = await _get(server.url + "nope")
        assert status == 404


async def test_errors_stay_on_the_server(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A failure while reading the system is logged with its traceback; the client gets a
    bare 500 (or an error event), never the traceback."""

    def broken(*args: object) -> dict[str, Any]:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Snapshotter, "snapshot", broken)
    with caplog.at_level(logging.ERROR, logger="asyncactors"):
        async with ActorSystem() as system:
            app = dashboard.app(system, stream_s=0.05, interval_s=0.01)
            async with DashboardServer(app) as server:
                status, _, body = await _get(server.url + "snapshot")
                _, _, stream = await _get(server.url + "events")
    assert (status, body) == (500, b"internal error\n")
    assert b"secret" not in stream
    assert b"event: failure" in stream
    assert any("secret internals" in r.exc_text for r in caplog.records if r.exc_text)


def test_served_alone_it_binds_the_loopback() -> None:
    """DashboardServer and the demo command bind 127.0.0.1 unless told otherwise."""
    assert DashboardServer(dashboard.app()).host == "127.0.0.1"
    assert re.search(r"--host HOST\s+address to bind \(default: 127\.0\.0\.1\)", _help())


def test_demo_help_is_plain_text() -> None:
    """`asyncactors dashboard --help` shows the demo's description without reST markup."""
    text = _help()
    assert "ActorSystem(metrics=True)" in text
    assert "``" not in text


def _help() -> str:
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        main(["dashboard", "--help"])
    return out.getvalue()


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"interval_s": 0}, ValueError),
        ({"stream_s": -1}, ValueError),
        ({"stuck_after_s": "1"}, TypeError),
        ({"max_actors": 0}, ValueError),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], error: type[Exception]) -> None:
    """dashboard.app() refuses options that are not positive numbers, naming the option."""
    with pytest.raises(error, match=next(iter(options))):
        dashboard.app(**options)


def test_app_refuses_what_is_not_a_system() -> None:
    """dashboard.app(x) of something not an ActorSystem raises TypeError."""
    with pytest.raises(TypeError, match="needs an ActorSystem"):
        dashboard.app("system")  # type: ignore[arg-type]


async def test_mounted_in_fastapi_it_shows_the_applications_system() -> None:
    """Mounted in a FastAPI app with actor_lifespan, dashboard.app() finds the system the app
    started, and its mount point redirects to the page."""
    api = FastAPI(lifespan=actor_lifespan())

    @api.post("/ping")
    async def ping() -> int:
        return int(await asyncactors.get_actor("pinger").ping.remote())

    api.mount("/ops/actors", dashboard.app(stream_s=0.1))
    async with uvicorn_serving(api) as (base, _), httpx.AsyncClient(base_url=base) as client:
        Queue.options(name="pinger").remote()
        assert (await client.post("/ping")).json() == 1
        redirect = await client.get("/ops/actors")
        assert redirect.status_code == 307
        assert redirect.headers["location"].endswith("/ops/actors/")
        page = await client.get("/ops/actors/")
        assert page.status_code == 200
        assert "asyncactors dashboard" in page.text
        snap = (await client.get("/ops/actors/snapshot")).json()
        assert [a["name"] for a in snap["actors"].values()] == ["pinger"]
        assert (await client.post("/ops/actors/snapshot")).status_code == 405
        events = await client.get("/ops/actors/events")  # ends after stream_s
        assert events.text.count("data: ") >= 1


@pytest.mark.parametrize(
    ("path", "root_path"),
    [("/ops", "/ops"), ("", "/ops")],
    ids=["path-keeps-the-prefix", "path-stripped"],
)
async def test_the_mount_point_redirects_to_the_page(path: str, root_path: str) -> None:
    """At its mount point without the trailing slash the app redirects to it, whether the router
    keeps the prefix in path (newer Starlette) or strips it (older)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "method": "GET", "path": path, "root_path": root_path, "headers": []}
    await dashboard.app()(scope, receive, send)
    assert sent[0]["status"] == 307
    assert (b"location", b"/ops/") in sent[0]["headers"]


async def test_without_a_system_the_page_says_so() -> None:
    """dashboard.app() with no system on the loop serves {"system": false}."""
    async with DashboardServer(dashboard.app()) as server:
        _, _, body = await _get(server.url + "snapshot")
    assert json.loads(body) == {"system": False}


def test_the_demo_command_serves_the_dashboard(capsys: pytest.CaptureFixture[str]) -> None:
    """python -m asyncactors dashboard runs the demo system and serves the page until
    --duration."""
    seen: list[int] = []

    def fetch_when_up() -> None:
        for _ in range(200):
            out = capsys.readouterr().out
            match = re.search(r"(http://127\.0\.0\.1:\d+/)", out)
            if match:
                seen.append(httpx.get(match.group(1) + "snapshot").json()["totals"]["actors"])
                return
            threading.Event().wait(0.01)

    fetcher = threading.Thread(target=fetch_when_up)
    fetcher.start()
    assert main(["dashboard", "--port", "0", "--duration", "0.6"]) == 0
    fetcher.join()
    assert seen
    assert seen[0] >= 5
