"""Memory per idle actor, by tracemalloc and by RSS, each measured in a fresh subprocess.

A fresh process per measurement keeps the figures clean: no earlier scenario's
freed-but-kept arenas inflate the RSS, and tracemalloc's own bookkeeping does
not inflate the RSS figure (the two are measured in separate processes).

The child (``python -m benchmarks._memory SYSTEM N MODE [called]``) starts the
system, creates a few actors to warm up, then creates ``N`` idle actors of a
trivial class (created and ready, never called; with ``called``, each has
answered one call and has an empty mailbox) with the cyclic GC paused,
collects, and prints one JSON line: ``{"bytes_per_actor": ..., "seconds": ...}``.
It leaves with ``os._exit`` rather than tearing a million actors down.

Ray actors are processes, so Ray is measured in the suite's own process
instead: the mean RSS of its actors' worker processes (no tracemalloc figure).
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

__all__ = ["MODES", "RSS_KEY", "TRACEMALLOC_KEY", "measure_idle", "rss_bytes"]

TRACEMALLOC_KEY = "tracemalloc_bytes"
RSS_KEY = "rss_bytes"
MODES = {"tracemalloc": TRACEMALLOC_KEY, "rss": RSS_KEY}

_REPO = Path(__file__).resolve().parents[1]
_CHILD_TIMEOUT = 900.0


def rss_bytes() -> float:
    """This process's resident set size in bytes (NaN where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return math.nan
    return float(pages * os.sysconf("SC_PAGE_SIZE"))


def measure_idle(system: str, n: int, called: bool = False) -> dict[str, float]:
    """Return bytes per idle actor of ``system`` at ``n`` actors, by metric key.

    With ``called``, each actor has answered one call before it is measured.
    """
    if system == "ray":
        from ._peers import ray_idle_rss

        return {RSS_KEY: ray_idle_rss(n)}
    return {key: _child(system, n, mode, called) for mode, key in MODES.items()}


def _child(system: str, n: int, mode: str, called: bool) -> float:
    cmd = [sys.executable, "-m", "benchmarks._memory", system, str(n), mode]
    if called:
        cmd.append("called")
    proc = subprocess.run(
        cmd,
        cwd=_REPO,
        capture_output=True,
        text=True,
        timeout=_CHILD_TIMEOUT,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"memory child {' '.join(cmd[2:])} failed (exit {proc.returncode}):\n{proc.stderr}"
        )
    result = json.loads(lines[-1])
    return float(result["bytes_per_actor"])


# ---------------------------------------------------------------------------
# The child.

MakeIdle = Callable[[int], Awaitable[Sequence[Any]]]
CallEach = Callable[[Sequence[Any]], Awaitable[None]]
"""Make one ``ping()`` call to each actor and await the replies."""


@asynccontextmanager
async def _floor() -> AsyncIterator[MakeIdle]:
    from ._floor import FloorActor
    from ._workload import Idle

    async def make(n: int) -> Sequence[Any]:
        actors = [FloorActor(Idle().ping) for _ in range(n)]
        for a in actors:
            await a.__aenter__()
        # Let every draining task take its first step and park in queue.get().
        await asyncio.sleep(0)
        return actors

    yield make


async def _floor_call(actors: Sequence[Any]) -> None:
    await asyncio.gather(*(a.submit() for a in actors))


@asynccontextmanager
async def _asyncactors() -> AsyncIterator[MakeIdle]:
    import asyncactors

    from ._workload import Idle

    actor_class: Any = asyncactors.remote(Idle)

    async def make(n: int) -> Sequence[Any]:
        handles = [actor_class.remote() for _ in range(n)]
        for h in handles:
            await h
        await asyncio.sleep(0)
        return handles

    async with asyncactors.ActorSystem():
        yield make


async def _asyncactors_call(handles: Sequence[Any]) -> None:
    import asyncactors

    await asyncactors.get([h.ping.remote() for h in handles])


@asynccontextmanager
async def _xoscar() -> AsyncIterator[MakeIdle]:
    import importlib

    from ._peers import xoscar_class
    from ._workload import Idle

    xo: Any = importlib.import_module("xoscar")
    cls = xoscar_class(Idle)
    pool = await xo.create_actor_pool("127.0.0.1", n_process=0, use_uvloop=False)

    async def make(n: int) -> Sequence[Any]:
        return [await xo.create_actor(cls, address=pool.external_address) for _ in range(n)]

    async with pool:
        yield make


@asynccontextmanager
async def _pykka() -> AsyncIterator[MakeIdle]:
    from ._peers import pykka_class
    from ._workload import Idle

    cls = pykka_class(Idle)

    async def make(n: int) -> Sequence[Any]:
        return [cls.start() for _ in range(n)]

    yield make


_IDLE = {"floor": _floor, "asyncactors": _asyncactors, "xoscar": _xoscar, "pykka": _pykka}
_CALL: dict[str, CallEach] = {"floor": _floor_call, "asyncactors": _asyncactors_call}


async def _measure(system: str, n: int, mode: str, called: bool = False) -> None:
    call_each = _CALL[system] if called else None
    async with _IDLE[system]() as make:
        # Warm up: first-use allocations (class caches, the system's own state)
        # are not per actor.
        warm = await make(10)
        if call_each is not None:
            await call_each(warm)
            await asyncio.sleep(0)
        gc.collect()
        if mode == "tracemalloc":
            tracemalloc.start()
        rss0 = rss_bytes()
        # The cyclic GC would rescan the growing heap over and over; pausing it
        # changes what is collected when, not what stays alive.
        gc.disable()
        start = time.perf_counter()
        actors = await make(n)
        if call_each is not None:
            await call_each(actors)
            # Let each actor finish with its call (a drain or a worker may come
            # back once for a next call): idle again, with an empty mailbox.
            for _ in range(3):
                await asyncio.sleep(0)
        seconds = time.perf_counter() - start
        gc.enable()
        gc.collect()
        traced = mode == "tracemalloc"
        used = tracemalloc.get_traced_memory()[0] if traced else rss_bytes() - rss0
        result = {"bytes_per_actor": used / n, "seconds": seconds, "actors": len(actors)}
        print(json.dumps(result), flush=True)
        del warm
        # Tearing down a million actors is slow and measures nothing.
        os._exit(0)


def main(argv: Sequence[str]) -> int:
    """``SYSTEM N MODE [called]``: print one JSON line with the bytes per idle actor."""
    system, n, mode, *rest = argv
    called = rest == ["called"]
    if (
        system not in _IDLE
        or mode not in MODES
        or rest not in ([], ["called"])
        or (called and system not in _CALL)
    ):
        print(
            f"usage: SYSTEM({'|'.join(_IDLE)}) N MODE({'|'.join(MODES)}) [called] "
            f"(called: {'|'.join(_CALL)} only)",
            file=sys.stderr,
        )
        return 2
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(_measure(system, int(n), mode, called))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
