"""Supervision: a tree of two supervisors, a crashing worker, and state that survives.

Run it with ``python examples/supervision.py``.

    root (the system's)
    └── app: one_for_one
        ├── Ledger            (checkpointed after every call)
        └── workers: rest_for_one
            ├── Fetcher
            └── Parser        (crashes on bad input, and is restarted)
"""

from __future__ import annotations

import asyncio

import asyncactors
from asyncactors import Backoff, MemoryStore, Supervisor


class BadInput(Exception):
    """What the parser crashes on."""


@asyncactors.remote(checkpoint_every=1)
class Ledger:
    def __init__(self) -> None:
        self.parsed: list[str] = []

    def record(self, item: str) -> int:
        self.parsed.append(item)
        return len(self.parsed)

    def items(self) -> list[str]:
        return self.parsed


@asyncactors.remote
class Fetcher:
    async def fetch(self, n: int) -> str:
        await asyncio.sleep(0.001)
        return "oops" if n == 3 else f"item-{n}"


@asyncactors.remote(restart_on=(BadInput,))
class Parser:
    def __init__(self) -> None:
        self.seen = 0

    def parse(self, raw: str) -> str:
        self.seen += 1
        if raw == "oops":
            raise BadInput(raw)  # let it crash: the supervisor restarts a clean parser
        return raw.upper()

    def incarnation(self) -> int:
        return asyncactors.get_runtime_context().restart_count


async def main() -> None:
    fast = Backoff(initial_s=0.01, max_s=0.1)
    async with asyncactors.ActorSystem() as system:
        events = system.events()
        app = Supervisor("one_for_one", max_restarts=3, within_s=5, backoff=fast, name="app")
        workers = Supervisor("rest_for_one", backoff=fast, name="workers", parent=app)
        ledger = Ledger.options(supervisor=app, checkpoint_store=MemoryStore()).remote()
        fetcher = Fetcher.options(supervisor=workers).remote()
        parser = Parser.options(supervisor=workers).remote()

        for n in range(6):
            raw = await fetcher.fetch.remote(n)
            try:
                item = await parser.parse.remote(raw)
            except BadInput as exc:
                print(f"parser crashed on {exc.args[0]!r}; its supervisor restarts it")
                continue
            await ledger.record.remote(item)

        print("ledger:", await ledger.items.remote())
        print("parser incarnation:", await parser.incarnation.remote())
        await events.aclose()
        kinds = [f"{e.class_name}:{e.kind}" async for e in events]
        print("events:", ", ".join(k for k in kinds if not k.endswith(":started")))


if __name__ == "__main__":
    asyncio.run(main())
