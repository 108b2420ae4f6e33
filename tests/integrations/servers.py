"""Real servers on 127.0.0.1 at a free port, run in the test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import uvicorn
from aiohttp import web

import asyncactors
from tests.conftest import pending_tasks

ROOT = Path(__file__).resolve().parents[2]


class Server(uvicorn.Server):
    """uvicorn without signal handlers: the test runner owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def uvicorn_serving(app: Any, **config: Any) -> AsyncIterator[tuple[str, Server]]:
    """Serve ``app`` with uvicorn on 127.0.0.1:<free port>; yield (base URL, server).

    Leaving the block stops the server (if the test has not) and waits for it.
    """
    # h11: the same HTTP implementation whether or not httptools is installed.
    # A long keep-alive: a client must not reuse a connection the server is closing.
    options: dict[str, Any] = {
        "http": "h11",
        "log_level": "warning",
        "lifespan": "on",
        "timeout_keep_alive": 60,
    }
    options.update(config)
    server = Server(uvicorn.Config(app, host="127.0.0.1", port=0, **options))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(1000):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            await task
            raise AssertionError("uvicorn did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def aiohttp_serving(app: web.Application) -> AsyncIterator[tuple[str, web.AppRunner]]:
    """Serve ``app`` with aiohttp on 127.0.0.1:<free port>; yield (base URL, runner).

    Leaving the block cleans the runner up; a test may do it first.
    """
    runner = web.AppRunner(app, shutdown_timeout=5.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}", runner
    finally:
        await runner.cleanup()


async def settle() -> set[asyncio.Task[object]]:
    """Let finishing tasks finish (bounded); return the tasks still pending."""
    for _ in range(200):
        left = pending_tasks()
        if not left:
            break
        await asyncio.sleep(0.01)
    return pending_tasks()


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (examples/ is not a package), once."""
    module_name = f"_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "examples" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


async def concurrent_requests(
    base_url: str,
    method: str,
    path: str,
    n: int,
    *,
    headers: dict[str, str] | None = None,
    clients: int = 20,
) -> list[httpx.Response]:
    """Send ``n`` requests at once, over ``n`` connections, and return the responses in order.

    They are spread over several ``httpx.AsyncClient``s, each with a pool sized
    for its share: one client's pool does work quadratic in its queued requests
    times its connections, which makes a single 1,000-connection client take
    tens of seconds on its own bookkeeping.
    """
    shares = [n // clients + (i < n % clients) for i in range(clients)]
    async with contextlib.AsyncExitStack() as stack:
        pool = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=base_url,
                    limits=httpx.Limits(max_connections=share, max_keepalive_connections=share),
                    timeout=50,
                )
            )
            for share in shares
            if share
        ]
        return await asyncio.gather(
            *(
                client.request(method, path, headers=headers)
                for client, share in zip(pool, shares, strict=False)
                for _ in range(share)
            )
        )


class Conflict(ValueError):
    """An application error raised inside an actor."""


@asyncactors.remote
class Gate:
    """Calls to ``wait`` block until ``open`` is called; counts who is waiting."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.waiting = 0

    async def wait(self, value: Any) -> Any:
        self.waiting += 1
        await self.event.wait()
        return value

    async def open(self) -> None:
        self.event.set()

    async def count_waiting(self) -> int:
        return self.waiting

    async def fail(self, detail: str) -> None:
        raise Conflict(detail)
