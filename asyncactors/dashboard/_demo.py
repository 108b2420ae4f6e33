"""Serve the live dashboard over a demo actor system.

The demo runs a small supervised pipeline under ``ActorSystem(metrics=True)``:
a parser that crashes on bad input and is restarted, a store whose mailbox
fills in bursts, a named reporter whose calls hang for seconds (stuck calls), a
batch job that now and then blocks the event loop (logged by the watchdog, on
purpose), and short-lived actors coming and going. Open the printed URL in a
browser; Ctrl-C stops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncactors

from . import DashboardServer, app

__all__ = ["add_arguments", "demo_system", "run"]


class BadInput(ValueError):
    """A record the parser cannot read: it crashes, and its supervisor restarts it."""


class Parser:
    def parse(self, record: str) -> int:
        if record == "garbage":
            raise BadInput("cannot parse 'garbage'")
        return len(record)


class Store:
    def __init__(self) -> None:
        self.rows = 0

    async def save(self, n: int) -> int:
        await asyncio.sleep(random.uniform(0.001, 0.004))
        self.rows += n
        return self.rows


class Reporter:
    async def report(self, hold_s: float) -> str:
        await asyncio.sleep(hold_s)  # a slow downstream: the call shows as stuck
        return "sent"


class Batch:
    def crunch(self, block_s: float) -> None:
        time.sleep(block_s)  # blocking the loop, on purpose: the watchdog reports it


class Temp:
    def ping(self) -> str:
        return "pong"


@contextlib.asynccontextmanager
async def demo_system(*, block_every_s: float = 20.0) -> AsyncIterator[asyncactors.ActorSystem]:
    """An actor system with the demo's actors and load running, for the block."""
    async with asyncactors.ActorSystem(namespace="demo", metrics=True) as system:
        root = asyncactors.Supervisor("one_for_one", name="pipeline", max_restarts=50)
        ingest = asyncactors.Supervisor("rest_for_one", name="ingest", parent=root, max_restarts=50)
        parser = (
            asyncactors.remote(Parser)
            .options(name="parser", supervisor=ingest, restart_on=(BadInput,))
            .remote()
        )
        stores = [
            asyncactors.remote(Store).options(supervisor=ingest, max_concurrency=2).remote()
            for _ in range(3)
        ]
        reporter = asyncactors.remote(Reporter).options(name="reporter", supervisor=root).remote()
        batch = asyncactors.remote(Batch).options(name="batch").remote()
        actors: dict[str, Any] = {
            "parser": parser,
            "stores": stores,
            "reporter": reporter,
            "batch": batch,
        }
        load = asyncio.create_task(_load(actors, block_every_s))
        try:
            yield system
        finally:
            load.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load


async def _load(actors: dict[str, Any], block_every_s: float) -> None:
    temp_class = asyncactors.remote(Temp)
    step = 0
    reports: list[Any] = []
    next_block = time.monotonic() + min(3.0, block_every_s)
    while True:
        step += 1
        record = "garbage" if step % 97 == 0 else f"record-{step}"
        with contextlib.suppress(BadInput, asyncactors.ActorDiedError):
            await actors["parser"].parse.remote(record)
        # Bursts: every few seconds the stores get far more than they take.
        burst = 60 if step % 200 < 20 else 1
        refs = [actors["stores"][i % 3].save.remote(1) for i in range(burst)]
        if step % 50 == 0:
            temp = temp_class.remote()
            await temp.ping.remote()
            asyncactors.stop(temp)
        reports = [r for r in reports if not r.done()]
        if not reports and step % 40 == 0:
            reports.append(actors["reporter"].report.remote(random.uniform(3.0, 8.0)))
        if time.monotonic() >= next_block:
            next_block = time.monotonic() + block_every_s
            actors["batch"].crunch.remote(0.15)
        await asyncio.sleep(0.01)
        if step % 20 == 0:
            await asyncactors.get(refs)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m asyncactors dashboard``."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8265, help="port (default: %(default)s; 0: any)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds (default: run until Ctrl-C)",
    )


def run(args: argparse.Namespace) -> int:
    """Serve the dashboard over the demo until Ctrl-C or ``--duration``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, args.duration))
    return 0


async def _serve(host: str, port: int, duration: float | None) -> None:
    async with demo_system() as system, DashboardServer(app(system), host, port) as server:
        print(f"asyncactors dashboard of a demo system: {server.url}  (Ctrl-C to stop)", flush=True)
        if duration is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(duration)
