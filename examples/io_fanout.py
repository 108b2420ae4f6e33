"""IO-bound fan-out: a pool of fetcher actors against a slow local HTTP server.

Run it with ``python examples/io_fanout.py`` (or ``--self-test`` for a small,
quick run). It starts a local HTTP server in a child process, on 127.0.0.1 at a
free port, that answers every request after ``--latency-ms``. Then, for each
``max_concurrency`` N in ``--concurrency``, it creates ``--fetchers`` fetcher
actors with ``max_concurrency=N``, spreads ``--requests`` fetches over them, and
reports the throughput next to the ideal ``fetchers * N / latency``, with the
most requests the server saw in flight at once (never above ``fetchers * N``).

Each fetcher owns an ``aiohttp.ClientSession`` with a connection pool of N,
opened in ``__post_create__`` and closed in ``__pre_destroy__``; each N runs in
its own ``ActorSystem``, whose shutdown closes the sessions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

import asyncactors

# -- the slow server (child process) --------------------------------------------------


class SlowServer:
    """Answers ``GET /item/{i}`` with ``{"i": i}`` after a delay; counts what is in flight."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.in_flight = 0
        self.peak = 0
        self.served = 0

    async def item(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.latency_s)
        finally:
            self.in_flight -= 1
        self.served += 1
        return web.json_response({"i": int(request.match_info["i"])})

    async def stats(self, request: web.Request) -> web.Response:
        """The peak in flight since the last call, then reset it."""
        peak, self.peak = self.peak, self.in_flight
        return web.json_response({"peak_in_flight": peak, "served": self.served})


async def serve(latency_s: float) -> None:
    """Serve until stdin closes; print ``port N`` once listening."""
    slow = SlowServer(latency_s)
    app = web.Application()
    app.router.add_get("/item/{i}", slow.item)
    app.router.add_get("/stats", slow.stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
        print("port", runner.addresses[0][1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def slow_server(latency_s: float) -> AsyncIterator[str]:
    """Run :func:`serve` in a child process; yield its base URL."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        "--latency-ms",
        str(latency_s * 1000),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line.startswith(b"port "):
            raise RuntimeError(f"the slow server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


# -- the fetchers -------------------------------------------------------------------


@asyncactors.remote
class Fetcher:
    """Fetches items over one connection pool; ``max_concurrency`` bounds its fetches."""

    def __init__(self, base_url: str, pool_size: int) -> None:
        self.base_url = base_url
        self.pool_size = pool_size
        self.session: aiohttp.ClientSession | None = None

    async def __post_create__(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.pool_size)
        self.session = aiohttp.ClientSession(self.base_url, connector=connector)

    async def __pre_destroy__(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def fetch(self, i: int) -> int:
        assert self.session is not None
        async with self.session.get(f"/item/{i}") as reply:
            reply.raise_for_status()
            body: dict[str, int] = await reply.json()
            return body["i"]


@dataclass(frozen=True)
class Row:
    """One run: ``requests`` fetches over ``fetchers`` actors of ``max_concurrency``."""

    max_concurrency: int
    fetchers: int
    requests: int
    ok: int
    seconds: float
    ideal_per_s: float
    peak_in_flight: int

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds


async def run_once(
    url: str, session: aiohttp.ClientSession, fetchers: int, n: int, requests: int, latency_s: float
) -> Row:
    """Fan ``requests`` fetches out over ``fetchers`` actors with ``max_concurrency=n``."""
    async with asyncactors.ActorSystem(namespace=f"fanout-{n}"):
        pool = [Fetcher.options(max_concurrency=n).remote(url, n) for _ in range(fetchers)]
        await asyncio.gather(*pool)  # sessions open before the clock starts
        async with session.get("/stats"):
            pass  # reset the server's peak
        start = time.perf_counter()
        refs = [pool[i % fetchers].fetch.remote(i) for i in range(requests)]
        values = await asyncactors.get(refs)
        seconds = time.perf_counter() - start
    async with session.get("/stats") as reply:
        stats: dict[str, Any] = await reply.json()
    ok = sum(v == i for i, v in enumerate(values))
    ideal = fetchers * n / latency_s
    return Row(n, fetchers, requests, ok, seconds, ideal, stats["peak_in_flight"])


async def fan_out(
    fetchers: int, concurrency: Sequence[int], requests: int, latency_s: float
) -> list[Row]:
    """Run every ``max_concurrency`` in turn and print a table row for each."""
    rows = []
    print(f"{fetchers} fetchers, {requests} requests, server latency {latency_s * 1000:g} ms")
    print(f"{'N':>4} {'req/s':>9} {'ideal':>9} {'ok':>6} {'peak in flight':>15}")
    async with (
        slow_server(latency_s) as url,
        aiohttp.ClientSession(url) as session,
    ):
        for n in concurrency:
            row = await run_once(url, session, fetchers, n, requests, latency_s)
            rows.append(row)
            print(
                f"{n:>4} {row.per_s:>9.0f} {row.ideal_per_s:>9.0f} "
                f"{row.ok:>6} {row.peak_in_flight:>15}",
                flush=True,
            )
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fetcher actors against a slow local server.")
    parser.add_argument("--fetchers", type=int, default=4)
    parser.add_argument("--concurrency", default="1,2,4,8,16,32,64")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--self-test", action="store_true", help="a small, quick run")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    latency_s = args.latency_ms / 1000
    if args.serve:
        asyncio.run(serve(latency_s))
        return
    if args.self_test:
        args.fetchers, args.concurrency, args.requests = 2, "1,4", 40
        latency_s = 0.005
    concurrency = [int(n) for n in args.concurrency.split(",")]
    asyncio.run(fan_out(args.fetchers, concurrency, args.requests, latency_s))


if __name__ == "__main__":
    main()
