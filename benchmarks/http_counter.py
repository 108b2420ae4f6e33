"""Requests/s of a FastAPI counter endpoint: through an actor vs under an ``asyncio.Lock``.

Run it with ``python -m benchmarks.http_counter`` (``--help`` for options).

Each variant is a uvicorn server in its own process, all with the same settings
(one worker, ``--loop uvloop``, httptools if installed, no access log), serving
``POST /counter``:

* ``actor``: awaits ``counter.incr.remote()`` on a counter actor injected with
  ``Depends(actor_handle("counter"))``, as the integration is meant to be used;
* ``actor_eager``: the same, on a counter with ``eager=True``;
* ``actor_nodi``: the same call on a handle the application holds, without the
  dependency;
* ``queue``: a plain asyncio actor, one task draining an ``asyncio.Queue`` of
  futures (the floor for any design that hands the call to another task);
* ``lock``: an integer in the application, incremented under an ``asyncio.Lock``;
* ``lock_di``: the same, with the lock given by a dependency that reads the
  request as ``actor_handle`` does (what FastAPI's dependency injection costs).

A load generator (``wrk`` if it is on ``PATH``, else a Python one on aiohttp)
drives one server at a time, rotating which goes first in each round. The
script prints each run's requests/s, the medians and their ratios to ``lock``
(1.0 means no overhead). Any non-2xx response, socket error, or a final count
that disagrees with the requests served fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI
from starlette.requests import HTTPConnection

import asyncactors
from asyncactors import ActorHandle
from asyncactors.integrations.fastapi import actor_handle, actor_lifespan

__all__ = [
    "actor_app",
    "actor_eager_app",
    "actor_nodi_app",
    "lock_app",
    "lock_di_app",
    "main",
    "queue_app",
]

ROOT = Path(__file__).resolve().parents[1]


# -- the two applications -----------------------------------------------------------


@asyncactors.remote
class Counter:
    def __init__(self) -> None:
        self.value = 0

    def incr(self) -> int:
        self.value += 1
        return self.value

    def get(self) -> int:
        return self.value


# Module level: FastAPI resolves the handlers' string annotations in module globals.
CounterDep = Annotated[ActorHandle[Counter], Depends(actor_handle("counter"))]


def actor_app() -> FastAPI:
    """The counter kept by an actor; handlers call it through an injected handle."""
    return _actor_app(eager=False)


def actor_eager_app() -> FastAPI:
    """As ``actor_app``, with ``eager=True``: an idle counter answers inside ``.remote()``."""
    return _actor_app(eager=True)


def _actor_app(eager: bool) -> FastAPI:
    @contextlib.asynccontextmanager
    async def start_counter(app: FastAPI) -> AsyncIterator[None]:
        await Counter.options(name="counter", eager=eager).remote()
        yield

    app = FastAPI(lifespan=actor_lifespan(start_counter, shutdown_timeout=5))

    @app.post("/counter")
    async def incr(counter: CounterDep) -> dict[str, int]:
        return {"value": await counter.incr.remote()}

    @app.get("/counter")
    async def get(counter: CounterDep) -> dict[str, int]:
        return {"value": await counter.get.remote()}

    return app


def actor_nodi_app() -> FastAPI:
    """The counter kept by an actor whose handle the application holds (no dependency)."""
    handles: list[ActorHandle[Counter]] = []

    @contextlib.asynccontextmanager
    async def start_counter(app: FastAPI) -> AsyncIterator[None]:
        handles.append(await Counter.options(name="counter").remote())
        yield
        handles.clear()

    app = FastAPI(lifespan=actor_lifespan(start_counter, shutdown_timeout=5))

    @app.post("/counter")
    async def incr() -> dict[str, int]:
        return {"value": await handles[0].incr.remote()}

    @app.get("/counter")
    async def get() -> dict[str, int]:
        return {"value": await handles[0].get.remote()}

    return app


def queue_app() -> FastAPI:
    """The counter kept by a plain asyncio actor: a task draining a queue of futures."""
    state = {"value": 0}
    queue: asyncio.Queue[asyncio.Future[int]] = asyncio.Queue(1000)

    async def serve() -> None:
        while True:
            reply = await queue.get()
            state["value"] += 1
            if not reply.done():
                reply.set_result(state["value"])

    @contextlib.asynccontextmanager
    async def start_worker(app: FastAPI) -> AsyncIterator[None]:
        worker = asyncio.create_task(serve())
        yield
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker

    app = FastAPI(lifespan=start_worker)

    @app.post("/counter")
    async def incr() -> dict[str, int]:
        reply: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        await queue.put(reply)
        return {"value": await reply}

    @app.get("/counter")
    async def get() -> dict[str, int]:
        return {"value": state["value"]}

    return app


def lock_app() -> FastAPI:
    """The counter kept in the application, under an ``asyncio.Lock``."""
    app = FastAPI()
    lock = asyncio.Lock()
    state = {"value": 0}

    @app.post("/counter")
    async def incr() -> dict[str, int]:
        async with lock:
            state["value"] += 1
            return {"value": state["value"]}

    @app.get("/counter")
    async def get() -> dict[str, int]:
        return {"value": state["value"]}

    return app


async def _app_lock(conn: HTTPConnection) -> asyncio.Lock:
    lock: asyncio.Lock = conn.app.state.counter_lock
    return lock


LockDep = Annotated[asyncio.Lock, Depends(_app_lock)]


def lock_di_app() -> FastAPI:
    """As ``lock_app``, with the lock given by a FastAPI dependency that reads the
    request, as ``actor_handle`` reads it: what the dependency machinery costs."""
    app = FastAPI()
    app.state.counter_lock = asyncio.Lock()
    state = {"value": 0}

    @app.post("/counter")
    async def incr(held: LockDep) -> dict[str, int]:
        async with held:
            state["value"] += 1
            return {"value": state["value"]}

    @app.get("/counter")
    async def get(held: LockDep) -> dict[str, int]:
        return {"value": state["value"]}

    return app


VARIANTS = {
    "actor": "actor_app",
    "actor_eager": "actor_eager_app",
    "actor_nodi": "actor_nodi_app",
    "queue": "queue_app",
    "lock": "lock_app",
    "lock_di": "lock_di_app",
}


# -- servers ------------------------------------------------------------------------


def http_implementation() -> str:
    return "httptools" if importlib.util.find_spec("httptools") else "h11"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(factory: str, port: int) -> Iterator[str]:
    """Run ``uvicorn --factory benchmarks.http_counter:<factory>`` on 127.0.0.1:port."""
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        f"benchmarks.http_counter:{factory}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        http_implementation(),
        "--no-access-log",
        "--log-level",
        "warning",
        "--backlog",
        "4096",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"{url}/counter", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"{factory} server exited with {proc.returncode}") from None
                time.sleep(0.05)
        else:
            raise RuntimeError(f"{factory} server did not start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def read_count(url: str) -> int:
    import json

    with urllib.request.urlopen(f"{url}/counter", timeout=5) as reply:
        value: int = json.load(reply)["value"]
        return value


# -- load generators ----------------------------------------------------------------

_WRK_SCRIPT = 'wrk.method = "POST"\n'


def run_wrk(url: str, seconds: float, connections: int, threads: int) -> tuple[float, int]:
    """One wrk run; returns (requests/s, requests completed).

    Raises:
        RuntimeError: wrk failed, or some responses were not 2xx, or had socket errors.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT)
    try:
        proc = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "-s",
                script.name,
                f"{url}/counter",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(script.name)
    out = proc.stdout
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {proc.stderr or out}")
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk reported errors:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rate is None or total is None:
        raise RuntimeError(f"cannot parse wrk's output:\n{out}")
    return float(rate.group(1)), int(total.group(1))


def run_python_load(url: str, seconds: float, connections: int) -> tuple[float, int]:
    """A Python load generator: ``connections`` aiohttp clients posting in a loop."""
    import aiohttp

    async def load() -> tuple[float, int]:
        done = 0
        deadline = time.perf_counter() + seconds
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(url, connector=connector) as session:

            async def worker() -> None:
                nonlocal done
                while time.perf_counter() < deadline:
                    async with session.post("/counter") as reply:
                        if reply.status != 200:
                            raise RuntimeError(f"HTTP {reply.status}")
                        await reply.read()
                    done += 1

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(connections)))
            return done / (time.perf_counter() - start), done

    return asyncio.run(load())


# -- the comparison -----------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="FastAPI counter: actor vs asyncio.Lock.")
    parser.add_argument("--runs", type=int, default=7, help="runs per variant (default 7)")
    parser.add_argument("--seconds", type=int, default=5, help="length of a run, in seconds")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated; default: all"
    )
    args = parser.parse_args(argv)
    load = args.load
    if load == "auto":
        load = "wrk" if shutil.which("wrk") else "python"

    def measure(url: str, seconds: float) -> tuple[float, int]:
        if load == "wrk":
            return run_wrk(url, seconds, args.connections, args.threads)
        return run_python_load(url, seconds, args.connections)

    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown or "lock" not in names:
        parser.error(f"--variants takes names from {', '.join(VARIANTS)}, including lock")
    print(
        f"load: {load}, {args.connections} connections, {args.runs} runs x {args.seconds} s; "
        f"server: uvicorn, 1 worker, uvloop, {http_implementation()}",
        file=sys.stderr,
    )
    rates: dict[str, list[float]] = {name: [] for name in names}
    served: dict[str, int] = dict.fromkeys(names, 0)
    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(server(VARIANTS[name], free_port())) for name in names}
        for name, url in urls.items():  # warm up
            served[name] += measure(url, 1)[1]
        for run in range(args.runs):
            shift = run % len(names)
            for name in names[shift:] + names[:shift]:
                rate, total = measure(urls[name], args.seconds)
                rates[name].append(rate)
                served[name] += total
                print(f"run {run + 1} {name:10} {rate:8.0f} req/s", file=sys.stderr, flush=True)
        for name, url in urls.items():
            count = read_count(url)
            # wrk stops counting at the deadline; the server may finish a few more.
            if not served[name] <= count <= served[name] + args.connections * (args.runs + 1):
                raise RuntimeError(f"{name}: counter is {count}, but {served[name]} were served")
    medians = {name: statistics.median(rates[name]) for name in names}
    lock = medians["lock"]
    print("| variant | median req/s | / lock | runs (req/s) |")
    print("| --- | --- | --- | --- |")
    for name in names:
        runs = ", ".join(f"{r:.0f}" for r in rates[name])
        print(f"| {name} | {medians[name]:.0f} | {medians[name] / lock:.3f} | {runs} |")
    for name in ("actor", "actor_eager"):
        if name in medians:
            ratio = medians[name] / lock
            print(f"\nratio {name}/lock: {ratio:.3f} (overhead {100 * (1 - ratio):.1f}%)")


if __name__ == "__main__":
    main()
