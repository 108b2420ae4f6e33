"""Scale out: the same supervised pipeline in this process, then on Ray.

Run it with ``python examples/scale_out.py`` (``pip install 'asyncactors[ray]'``
for the Ray half; without Ray only the local half runs). ``--self-test``, which
needs Ray, checks that both halves print the same results.

    Supervisor (rest_for_one)
    ├── Tally      word counts, checkpointed after every call to a FileStore
    └── Splitter   splits lines into words for the tally; crashes on bad lines

The only difference between the two runs is ``ActorSystem(backend=...)``: on
Ray each actor is a Ray actor in its own process, the splitter reaches the
tally through a handle that travelled to that process, and the tally's state
survives a kill because it is restored from its checkpoint, as in process.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import tempfile

import asyncactors
from asyncactors import ActorSystem, Backoff, FileStore, Supervisor

LINES = [
    "the quick brown fox",
    "jumps over the lazy dog",
    "!!! a line the splitter cannot parse",
    "the dog sleeps",
    "the fox runs",
]


class BadLine(Exception):
    """What the splitter crashes on."""


@asyncactors.remote(checkpoint_every=1)
class Tally:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, words: list[str]) -> int:
        for word in words:
            self.counts[word] = self.counts.get(word, 0) + 1
        return sum(self.counts.values())

    def top(self, n: int) -> list[tuple[str, int]]:
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


@asyncactors.remote(restart_on=(BadLine,))
class Splitter:
    def __init__(self, tally: asyncactors.ActorHandle[Tally]) -> None:
        self.tally = tally

    async def feed(self, line: str) -> int:
        if line.startswith("!"):
            raise BadLine(line)
        total: int = await self.tally.add.remote(line.split())
        return total

    def incarnation(self) -> int:
        return asyncactors.get_runtime_context().restart_count


async def pipeline(backend: str, store: str) -> list[str]:
    """Run the pipeline on ``backend``; return what it reports, line by line."""
    out: list[str] = []
    async with ActorSystem(backend=backend):
        sup = Supervisor("rest_for_one", backoff=Backoff(initial_s=0.01, max_s=0.1))
        tally = Tally.options(
            supervisor=sup, name="tally", checkpoint_store=FileStore(store)
        ).remote()
        splitter = Splitter.options(supervisor=sup).remote(tally)
        for i, line in enumerate(LINES):
            try:
                out.append(f"{line!r}: {await splitter.feed.remote(line)} words so far")
            except BadLine:
                out.append(f"{line!r}: the splitter crashed; its supervisor restarts it")
            if i == 1:
                # A crash of the tally: it restarts from its checkpoint, and
                # rest_for_one restarts the splitter started after it.
                asyncactors.kill(tally, no_restart=False)
        out.append(f"top words: {await tally.top.remote(3)}")
        out.append(f"splitter incarnation: {await splitter.incarnation.remote()}")
    return out


async def main(self_test: bool) -> int:
    results = {}
    backends = ["local", "ray"] if importlib.util.find_spec("ray") else ["local"]
    for backend in backends:
        with tempfile.TemporaryDirectory() as store:
            results[backend] = await pipeline(backend, store)
        print(f"--- backend={backend!r}")
        print("\n".join(results[backend]))
    if len(backends) == 1:
        print("(Ray is not installed: pip install 'asyncactors[ray]' for the Ray half)")
    if self_test:
        if len(backends) == 1:
            print("self-test needs Ray", file=sys.stderr)
            return 1
        if results["local"] != results["ray"]:
            print("self-test FAILED: the two backends differ", file=sys.stderr)
            return 1
        print("self-test ok: both backends printed the same results")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--self-test", action="store_true", help="check both backends agree")
    sys.exit(asyncio.run(main(parser.parse_args().self_test)))
