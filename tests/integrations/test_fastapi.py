"""asyncactors.integrations.fastapi, over real HTTP: uvicorn on 127.0.0.1 in the test's loop."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.requests import Request as StarletteRequest

import asyncactors
from asyncactors import ActorDiedError, ActorHandle, ActorSystem
from asyncactors.integrations.fastapi import (
    STATE_KEY,
    ActorSystemDep,
    actor_handle,
    actor_lifespan,
    actor_system_of,
)
from tests.integrations.servers import Conflict, Gate, concurrent_requests, settle, uvicorn_serving


@asyncactors.remote
class Counter:
    def __init__(self) -> None:
        self.value = 0

    def incr(self) -> int:
        self.value += 1
        return self.value

    def get(self) -> int:
        return self.value


def make_app(**lifespan_options: Any) -> FastAPI:
    """A counter and a gate actor behind a few endpoints."""

    @contextlib.asynccontextmanager
    async def own_lifespan(app: FastAPI) -> AsyncIterator[None]:
        await Counter.options(name="counter").remote()
        await Gate.options(name="gate").remote()
        yield

    app = FastAPI(lifespan=actor_lifespan(own_lifespan, **lifespan_options))
    app.state.seen = []

    @app.exception_handler(ActorDiedError)
    async def died(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": type(exc).__name__}, status_code=503)

    @app.post("/counter")
    async def incr(
        counter: Annotated[ActorHandle[Counter], Depends(actor_handle("counter"))],
    ) -> int:
        return await counter.incr.remote()  # type: ignore[no-any-return]

    @app.get("/counter")
    async def get(
        counter: Annotated[ActorHandle[Counter], Depends(actor_handle("counter"))],
    ) -> int:
        return await counter.get.remote()  # type: ignore[no-any-return]

    @app.post("/counter/sync")
    def incr_sync(
        counter: Annotated[ActorHandle[Counter], Depends(actor_handle("counter"))],
    ) -> int:
        app.state.seen.append(threading.get_ident())
        return counter.incr.remote().result(timeout=30)  # type: ignore[no-any-return]

    @app.get("/gate/{i}")
    async def through_gate(
        i: int, gate: Annotated[ActorHandle[Gate], Depends(actor_handle("gate"))]
    ) -> int:
        try:
            return await gate.wait.remote(i)  # type: ignore[no-any-return]
        except BaseException as exc:
            app.state.seen.append(type(exc))
            raise

    @app.get("/conflict")
    async def conflict(
        gate: Annotated[ActorHandle[Gate], Depends(actor_handle("gate"))],
    ) -> None:
        try:
            await gate.fail.remote("taken")
        except Conflict as exc:
            app.state.seen.append(exc)
            raise HTTPException(409, str(exc)) from None

    @app.get("/missing")
    async def missing(
        ghost: Annotated[ActorHandle[Counter], Depends(actor_handle("ghost"))],
    ) -> None:
        raise AssertionError("unreachable")  # pragma: no cover

    @app.get("/system")
    async def system_info(system: ActorSystemDep) -> dict[str, Any]:
        return {"namespace": system.namespace, "actors": len(system.list_actors())}

    return app


async def wait_until_waiting(client: httpx.AsyncClient, gate: Any, n: int) -> None:
    for _ in range(1000):
        if await gate.count_waiting.remote() >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {n} calls reached the gate")


async def test_system_is_created_at_startup_and_drained_at_shutdown() -> None:
    """No system exists when the app is built; the lifespan makes one and drains it."""
    app = make_app(namespace="svc")
    assert not hasattr(app.state, STATE_KEY)
    async with uvicorn_serving(app) as (url, _), httpx.AsyncClient(base_url=url) as client:
        reply = await client.get("/system")
        assert reply.json() == {"namespace": "svc", "actors": 2}
        system = getattr(app.state, STATE_KEY)
        assert not system.closed
    assert system.closed
    assert not hasattr(app.state, STATE_KEY)


async def test_1000_concurrent_requests_count_exactly_1000() -> None:
    """1,000 concurrent increments through the counter actor: each value once, final 1000."""
    app = make_app()
    async with uvicorn_serving(app, backlog=2048) as (url, _):
        replies = await concurrent_requests(url, "POST", "/counter", 1000)
        assert [r.status_code for r in replies] == [200] * 1000
        assert sorted(r.json() for r in replies) == list(range(1, 1001))
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/counter")).json() == 1000


async def test_sync_endpoint_blocks_on_ref_result_in_a_worker_thread() -> None:
    """A plain def endpoint runs in the thread pool and gets its value from ref.result()."""
    app = make_app()
    async with uvicorn_serving(app) as (url, _), httpx.AsyncClient(base_url=url) as client:
        replies = await concurrent_requests(url, "POST", "/counter/sync", 200)
        assert sorted(r.json() for r in replies) == list(range(1, 201))
        assert (await client.get("/counter")).json() == 200
    assert threading.get_ident() not in app.state.seen
    assert len(app.state.seen) == 200


async def test_method_exception_reaches_the_handler_as_itself() -> None:
    """The actor's own exception object reaches the handler, which picks the status."""
    app = make_app()
    async with uvicorn_serving(app) as (url, _), httpx.AsyncClient(base_url=url) as client:
        reply = await client.get("/conflict")
    assert reply.status_code == 409
    assert reply.json() == {"detail": "taken"}
    [exc] = app.state.seen
    assert type(exc) is Conflict


async def test_actor_died_error_reaches_the_handler_during_shutdown() -> None:
    """A call in flight when the system shuts down fails with ActorDiedError in the handler."""
    app = make_app()
    async with uvicorn_serving(app) as (url, _), httpx.AsyncClient(base_url=url) as client:
        gate = asyncactors.get_actor("gate")
        in_flight = asyncio.create_task(client.get("/gate/1"))
        await wait_until_waiting(client, gate, 1)
        system: ActorSystem = getattr(app.state, STATE_KEY)
        await system.shutdown(timeout=0)
        reply = await in_flight
        assert reply.status_code == 503
        assert reply.json() == {"error": "ActorDiedError"}
        assert app.state.seen == [ActorDiedError]
        # Later calls are refused the same way.
        assert (await client.get("/counter")).status_code == 503


async def test_graceful_stop_with_100_requests_in_flight_answers_them_all() -> None:
    """Stopping uvicorn with 100 requests in the actor: all get 200, then the system drains."""
    app = make_app(shutdown_timeout=10)
    limits = httpx.Limits(max_connections=100)
    async with (
        uvicorn_serving(app) as (url, server),
        httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client,
    ):
        gate = asyncactors.get_actor("gate")
        requests = [asyncio.create_task(client.get(f"/gate/{i}")) for i in range(100)]
        await wait_until_waiting(client, gate, 100)
        system: ActorSystem = getattr(app.state, STATE_KEY)
        server.should_exit = True
        for _ in range(50):  # the server stops accepting; the actors keep serving
            await asyncio.sleep(0.01)
        assert not system.closed
        async with httpx.AsyncClient(base_url=url) as late:
            with pytest.raises(httpx.ConnectError):
                await late.get("/counter")
        await gate.open.remote()
        replies = await asyncio.gather(*requests)
        assert [r.json() for r in replies] == list(range(100))
    assert system.closed
    assert await settle() == set()


async def test_stop_with_100_stuck_requests_closes_them_and_leaves_no_task() -> None:
    """Requests that never finish are cut off cleanly; the system drains; nothing is left."""
    app = make_app(shutdown_timeout=0.1)
    limits = httpx.Limits(max_connections=100)
    async with (
        uvicorn_serving(app, timeout_graceful_shutdown=0.2) as (url, server),
        httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client,
    ):
        gate = asyncactors.get_actor("gate")
        requests = [asyncio.create_task(client.get(f"/gate/{i}")) for i in range(100)]
        await wait_until_waiting(client, gate, 100)
        system: ActorSystem = getattr(app.state, STATE_KEY)
        server.should_exit = True
        outcomes = await asyncio.gather(*requests, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, httpx.Response):
            # uvicorn answers a handler it had to cancel with 500.
            assert outcome.status_code == 500, outcome
        else:
            # A closed connection, not a hang or a timeout.
            assert isinstance(outcome, httpx.RemoteProtocolError | httpx.ReadError), outcome
    assert system.closed
    assert await settle() == set()


async def test_app_lifespan_runs_inside_the_system_and_its_state_is_kept() -> None:
    """The app's own lifespan starts after the system, stops before it drains, keeps state."""
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def own(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        counter = Counter.options(name="counter").remote()
        events.append(f"startup sees {await counter.incr.remote()}")
        yield {"greeting": "hello"}
        events.append(f"teardown sees {await counter.incr.remote()}")

    app = FastAPI(lifespan=actor_lifespan(own))

    @app.get("/")
    async def root(
        request: Request,
        counter: Annotated[ActorHandle[Counter], Depends(actor_handle("counter"))],
    ) -> dict[str, Any]:
        return {"greeting": request.state.greeting, "count": await counter.incr.remote()}

    async with uvicorn_serving(app) as (url, _), httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/")).json() == {"greeting": "hello", "count": 2}
        system = getattr(app.state, STATE_KEY)
    assert events == ["startup sees 1", "teardown sees 3"]
    assert system.closed


async def test_missing_named_actor_is_a_server_error() -> None:
    """Injecting a name no live actor has raises ValueError, which the server answers with 500."""
    app = make_app()
    async with uvicorn_serving(app) as (url, _), httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/missing")).status_code == 500
        request = StarletteRequest({"type": "http", "app": app, "headers": [], "state": {}})
        with pytest.raises(ValueError, match="no actor named 'ghost'"):
            await actor_handle("ghost")(request)


async def test_the_dependency_gives_the_same_handle_while_the_named_actor_is_the_same() -> None:
    """Successive requests get one handle (no new handle per request) while the actor
    named so is the same; once another actor takes the name, they get that one."""
    async with ActorSystem() as system:
        request = StarletteRequest(
            {"type": "http", "app": FastAPI(), "headers": [], "state": {STATE_KEY: system}}
        )
        dependency = actor_handle("c")
        first = Counter.options(name="c").remote()
        given = await dependency(request)
        assert given == first
        assert await dependency(request) is given
        asyncactors.kill(first)
        second = Counter.options(name="c").remote()
        replaced = await dependency(request)
        assert replaced == second
        assert replaced != given
        assert await replaced.incr.remote() == 1


async def test_failing_app_lifespan_cancels_calls_and_closes_the_system() -> None:
    """If the app's lifespan fails at startup, running calls are cancelled and the system closes."""
    refs: list[Any] = []

    @contextlib.asynccontextmanager
    async def broken(app: FastAPI) -> AsyncIterator[None]:
        gate = Gate.remote()
        refs.append(gate.wait.remote(0))
        await gate.count_waiting.remote()
        raise RuntimeError("config missing")
        yield  # pragma: no cover

    app = FastAPI()
    with pytest.raises(RuntimeError, match="config missing"):
        async with actor_lifespan(broken, shutdown_timeout=None)(app):
            pass  # pragma: no cover
    with pytest.raises(ActorDiedError):
        await refs[0]
    assert not hasattr(app.state, STATE_KEY)


async def test_second_system_on_the_same_loop_is_refused() -> None:
    """One application per event loop owns the default system; a second one fails at startup."""
    first, second = FastAPI(), FastAPI()
    async with actor_lifespan()(first):
        with pytest.raises(RuntimeError, match="already"):
            async with actor_lifespan()(second):
                pass  # pragma: no cover
        assert not getattr(first.state, STATE_KEY).closed


def test_dependency_without_lifespan_raises_runtime_error() -> None:
    """actor_system_of() on an app that never ran actor_lifespan names the fix."""
    app = FastAPI()
    request = StarletteRequest({"type": "http", "app": app, "headers": [], "state": {}})
    with pytest.raises(RuntimeError, match="actor_lifespan"):
        actor_system_of(request)


@pytest.mark.parametrize("timeout", [-1, "10"])
def test_bad_shutdown_timeout_is_refused_when_configured(timeout: Any) -> None:
    """A negative or non-numeric drain timeout fails when the lifespan is built."""
    with pytest.raises((ValueError, TypeError), match="shutdown_timeout"):
        actor_lifespan(shutdown_timeout=timeout)


def test_importing_the_fastapi_integration_does_not_import_aiohttp() -> None:
    """asyncactors.integrations.fastapi stays independent of aiohttp."""
    code = (
        "import sys, asyncactors.integrations.fastapi; "
        "assert 'aiohttp' not in sys.modules, 'aiohttp imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "variant", ["actor", "actor_eager", "actor_nodi", "queue", "lock", "lock_di"]
)
async def test_each_http_counter_benchmark_app_counts_every_request(
    variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each app that benchmarks.http_counter compares answers POST /counter with
    1, 2, 3 ... and GET /counter with the count, served by uvicorn."""
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks import http_counter

    app = getattr(http_counter, http_counter.VARIANTS[variant])()
    async with uvicorn_serving(app) as (url, _), httpx.AsyncClient(base_url=url) as client:
        values = [(await client.post("/counter")).json()["value"] for _ in range(3)]
        assert values == [1, 2, 3]
        assert (await client.get("/counter")).json() == {"value": 3}
