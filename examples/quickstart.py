"""asyncactors quick start: a counter, a concurrent async actor and a named actor.

Run it with ``python examples/quickstart.py``.
"""

from __future__ import annotations

import asyncio
import time

import asyncactors


@asyncactors.remote
class Counter:
    """State without locks: calls run one at a time, in order."""

    def __init__(self, n: int = 0) -> None:
        self.n = n

    def incr(self, k: int = 1) -> int:
        self.n += k
        return self.n


@asyncactors.remote(max_concurrency=10)
class Fetcher:
    """An IO-bound actor: up to ten calls wait on IO at the same time."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0

    async def fetch(self, url: str) -> str:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.1)  # stands in for an HTTP request
        self.in_flight -= 1
        return f"<body of {url}>"

    def peak_concurrency(self) -> int:
        return self.peak


async def main() -> None:
    async with asyncactors.ActorSystem() as system:
        # 1. A counter actor: fire-and-forget calls, then read the result.
        c = Counter.remote()
        for _ in range(99):
            c.incr.remote()
        print("counter:", await c.incr.remote())

        # 2. A concurrent async actor: twenty 100 ms fetches, ten at a time.
        f = Fetcher.remote()
        start = time.perf_counter()
        urls = [f"https://example.com/{i}" for i in range(20)]
        pages = await asyncactors.get([f.fetch.remote(url) for url in urls])
        elapsed = time.perf_counter() - start
        print(f"fetched {len(pages)} pages in {elapsed:.2f} s")
        print("peak concurrency:", await f.peak_concurrency.remote())

        # 3. A named actor: any part of the program can look it up by name.
        Counter.options(name="hits").remote(1000)
        hits = asyncactors.get_actor("hits")
        print("hits:", await hits.incr.remote())

        for info in system.list_actors():
            print(f"  {info.class_name:8} {info.state:6} processed={info.calls_processed}")


if __name__ == "__main__":
    asyncio.run(main())
