"""asyncactors.integrations.aiohttp over real HTTP: an AppRunner on 127.0.0.1, in the test loop."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

import asyncactors
from asyncactors import ActorSystem
from asyncactors.integrations.aiohttp import ACTOR_SYSTEM, actor_system_ctx, get_actor_system
from tests.integrations.servers import Conflict, Gate, aiohttp_serving, settle

SEEN: web.AppKey[list[BaseException]] = web.AppKey("seen", list)


async def start_gate(app: web.Application) -> None:
    await Gate.options(name="gate").remote()


async def through_gate(request: web.Request) -> web.Response:
    gate = request.app[ACTOR_SYSTEM].get_actor("gate")
    return web.Response(text=await gate.wait.remote(request.match_info["value"]))


async def conflict(request: web.Request) -> web.Response:
    gate = get_actor_system(request).get_actor("gate")
    try:
        await gate.fail.remote("taken")
    except Conflict as exc:
        request.app[SEEN].append(exc)
        raise web.HTTPConflict(text=str(exc)) from None
    raise AssertionError("unreachable")  # pragma: no cover


def make_app(**ctx_options: float | None) -> web.Application:
    app = web.Application()
    app[SEEN] = []
    app.cleanup_ctx.append(actor_system_ctx(**ctx_options))
    app.on_startup.append(start_gate)
    app.router.add_get("/gate/{value}", through_gate)
    app.router.add_get("/conflict", conflict)
    return app


async def wait_until_waiting(gate: asyncactors.ActorHandle[Gate], n: int) -> None:
    for _ in range(1000):
        if await gate.count_waiting.remote() >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {n} calls reached the gate")


async def test_cleanup_ctx_stores_the_system_under_its_app_key_and_drains_it() -> None:
    """The system is made at startup, is app[ACTOR_SYSTEM] meanwhile, and is closed after."""
    app = make_app()
    assert ACTOR_SYSTEM not in app
    async with aiohttp_serving(app) as (url, _), aiohttp.ClientSession(url) as session:
        system = app[ACTOR_SYSTEM]
        assert isinstance(system, ActorSystem)
        gate = system.get_actor("gate")
        reply_task = asyncio.create_task(session.get("/gate/x"))
        await wait_until_waiting(gate, 1)
        await gate.open.remote()
        async with await reply_task as reply:
            assert await reply.text() == "x"
    assert system.closed


async def test_shutdown_stops_accepting_then_finishes_handlers_then_drains_actors() -> None:
    """In-flight handlers still reach live actors after the site stops; the system drains last."""
    app = make_app(shutdown_timeout=5)
    async with aiohttp_serving(app) as (url, runner), aiohttp.ClientSession(url) as session:
        system = app[ACTOR_SYSTEM]
        gate = system.get_actor("gate")
        in_flight = [asyncio.create_task(session.get(f"/gate/{i}")) for i in range(20)]
        await wait_until_waiting(gate, 20)
        cleanup = asyncio.create_task(runner.cleanup())
        # 1. The site stops accepting connections.
        for _ in range(500):
            try:
                async with aiohttp.ClientSession(url) as late, late.get("/gate/late"):
                    pass
            except aiohttp.ClientConnectionError:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the site kept accepting connections")
        # 2. Handlers are still in flight, and so the actors are not drained.
        assert not system.closed
        assert not cleanup.done()
        await gate.open.remote()
        texts = []
        for task in in_flight:
            async with await task as reply:
                assert reply.status == 200
                texts.append(await reply.text())
        assert texts == [str(i) for i in range(20)]
        # 3. Then cleanup contexts run: the system drains.
        await cleanup
        assert system.closed
    assert await settle() == set()


async def test_method_exception_reaches_the_handler_as_itself() -> None:
    """The actor's own exception object reaches the aiohttp handler, which picks the status."""
    app = make_app()
    async with (
        aiohttp_serving(app) as (url, _),
        aiohttp.ClientSession(url) as session,
        session.get("/conflict") as reply,
    ):
        assert reply.status == 409
        assert await reply.text() == "taken"
    [exc] = app[SEEN]
    assert type(exc) is Conflict


async def test_a_sub_application_finds_the_parent_system() -> None:
    """get_actor_system() looks up the chain of applications (request.config_dict)."""
    app = make_app()
    sub = web.Application()

    async def sub_handler(request: web.Request) -> web.Response:
        return web.Response(text=get_actor_system(request).namespace)

    sub.router.add_get("/ns", sub_handler)
    app.add_subapp("/sub", sub)
    async with (
        aiohttp_serving(app) as (url, _),
        aiohttp.ClientSession(url) as session,
        session.get("/sub/ns") as reply,
    ):
        assert await reply.text() == "default"


def test_get_actor_system_without_the_cleanup_ctx_raises_runtime_error() -> None:
    """An application without actor_system_ctx() gets an error that names the fix."""
    request = make_mocked_request("GET", "/", app=web.Application())
    with pytest.raises(RuntimeError, match="actor_system_ctx"):
        get_actor_system(request)


@pytest.mark.parametrize("timeout", [-0.5, "5"])
def test_bad_shutdown_timeout_is_refused_when_configured(timeout: object) -> None:
    """A negative or non-numeric drain timeout fails when the entry is built."""
    with pytest.raises((ValueError, TypeError), match="shutdown_timeout"):
        actor_system_ctx(shutdown_timeout=timeout)  # type: ignore[arg-type]


def test_importing_the_aiohttp_integration_does_not_import_fastapi() -> None:
    """asyncactors.integrations.aiohttp stays independent of FastAPI and Starlette."""
    code = (
        "import sys, asyncactors.integrations.aiohttp; "
        "assert not {'fastapi', 'starlette'} & set(sys.modules), 'fastapi imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
