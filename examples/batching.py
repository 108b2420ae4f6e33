"""An embedding service: one request per text, one batched actor in front of the model.

Run it with ``python examples/batching.py`` (serves http://127.0.0.1:8000;
``--port`` to change), or check it end to end with
``python examples/batching.py --self-test``.

The model stands in for a GPU or a remote API: one call takes
``--model-latency-ms`` whatever the number of texts in it, and takes one call at
a time. Called once per request it would serve ``1000 / latency`` requests a
second; the ``Embedder`` actor's ``embed`` method is ``@asyncactors.batch``, so
every handler sends one text and awaits its own vector, while the model sees
lists of up to ``max_batch_size`` texts.

* ``POST /embed`` ``{"text": "..."}``: the text's embedding (an empty text is
  refused by the model for that text alone: 422, the others in its batch go on).
* ``GET /stats``: how many batches the model ran, and how full they were.
* ``PUT /batching`` ``{"max_batch_size": n, "batch_wait_timeout_s": s}``: change
  the batching at run time (``self.embed.set_max_batch_size()`` in the actor).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import uvicorn
from fastapi import Body, Depends, FastAPI, HTTPException

import asyncactors
from asyncactors import ActorHandle
from asyncactors.integrations.fastapi import actor_handle, actor_lifespan

DIMENSIONS = 8


def embed_one(text: str) -> list[float]:
    """The model's vector for ``text``: a unit vector from hashed character trigrams."""
    vector = [0.0] * DIMENSIONS
    padded = f"  {text} "
    for i in range(len(padded) - 2):
        digest = hashlib.blake2s(padded[i : i + 3].encode(), digest_size=2).digest()
        vector[digest[0] % DIMENSIONS] += 1.0 if digest[1] % 2 else -1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [round(x / norm, 6) for x in vector]


class EmptyText(ValueError):
    """The model refuses an empty text."""


@asyncactors.remote
class Embedder:
    """The model behind a batched method: callers send one text, the model gets lists."""

    def __init__(self, model_latency_s: float) -> None:
        self.model_latency_s = model_latency_s
        self.batches = 0
        self.texts = 0
        self.largest = 0

    @asyncactors.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def embed(self, texts: list[str]) -> list[list[float] | EmptyText]:
        # One model call for the whole batch: the latency is paid once.
        await asyncio.sleep(self.model_latency_s)
        self.batches += 1
        self.texts += len(texts)
        self.largest = max(self.largest, len(texts))
        # An exception in the list fails that text's caller alone.
        return [embed_one(t) if t else EmptyText("the text is empty") for t in texts]

    def stats(self) -> dict[str, int | float]:
        return {
            "batches": self.batches,
            "texts": self.texts,
            "mean_batch": round(self.texts / self.batches, 2) if self.batches else 0.0,
            "largest_batch": self.largest,
        }

    def set_batching(self, max_batch_size: int | None, batch_wait_timeout_s: float | None) -> None:
        if max_batch_size is not None:
            self.embed.set_max_batch_size(max_batch_size)
        if batch_wait_timeout_s is not None:
            self.embed.set_batch_wait_timeout_s(batch_wait_timeout_s)


EmbedderDep = Annotated[ActorHandle[Embedder], Depends(actor_handle("embedder"))]


@dataclass(frozen=True)
class Settings:
    """What the service is built with."""

    model_latency_s: float = 0.02
    shutdown_timeout: float | None = 10.0


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. Its actor system starts and stops with the application."""
    cfg = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await Embedder.options(name="embedder").remote(cfg.model_latency_s)
        yield

    app = FastAPI(
        title="asyncactors batching example",
        lifespan=actor_lifespan(lifespan, shutdown_timeout=cfg.shutdown_timeout),
    )

    @app.post("/embed")
    async def embed(
        text: Annotated[str, Body(embed=True)], embedder: EmbedderDep
    ) -> dict[str, list[float]]:
        try:
            return {"embedding": await embedder.embed.remote(text)}
        except EmptyText as exc:
            raise HTTPException(422, str(exc)) from None

    @app.get("/stats")
    async def stats(embedder: EmbedderDep) -> dict[str, int | float]:
        return await embedder.stats.remote()

    @app.put("/batching")
    async def batching(
        embedder: EmbedderDep,
        max_batch_size: Annotated[int | None, Body()] = None,
        batch_wait_timeout_s: Annotated[float | None, Body()] = None,
    ) -> dict[str, Any]:
        try:
            await embedder.set_batching.remote(max_batch_size, batch_wait_timeout_s)
        except (TypeError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None
        return {"max_batch_size": max_batch_size, "batch_wait_timeout_s": batch_wait_timeout_s}

    return app


# -- running it -----------------------------------------------------------------------


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host program."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 at a free port in this loop; yield its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            await task  # raises the startup error, if any
            raise RuntimeError("uvicorn did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def self_test(requests: int = 200) -> None:
    """Embed ``requests`` texts at once over HTTP, check every vector, and print the batching."""
    settings = Settings(model_latency_s=0.02)
    texts = [f"text number {i}" for i in range(requests)]
    async with (
        serving(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        start = time.perf_counter()
        replies = await asyncio.gather(*(client.post("/embed", json={"text": t}) for t in texts))
        elapsed = time.perf_counter() - start
        assert all(r.status_code == 200 for r in replies), [r.text for r in replies][:3]
        assert [r.json()["embedding"] for r in replies] == [embed_one(t) for t in texts]
        stats = (await client.get("/stats")).json()
        assert stats["texts"] == requests
        assert stats["largest_batch"] <= 32
        # One model call per request would take requests * 20 ms.
        assert stats["batches"] < requests / 4, stats
        print(f"{requests} requests, every vector right, in {stats['batches']} model calls")
        print(f"one call per request would take {requests * 0.02:.1f} s; took {elapsed:.2f} s")

        mixed = await asyncio.gather(
            *(client.post("/embed", json={"text": t}) for t in ("a", "", "b"))
        )
        print("empty text among others:", [r.status_code for r in mixed])

        put = await client.put("/batching", json={"max_batch_size": 1})
        assert put.status_code == 200, put.text
        before = (await client.get("/stats")).json()["batches"]
        await asyncio.gather(*(client.post("/embed", json={"text": t}) for t in texts[:5]))
        after = (await client.get("/stats")).json()["batches"]
        print(f"max_batch_size=1: 5 requests in {after - before} model calls")
        bad = await client.put("/batching", json={"max_batch_size": 0})
        print("max_batch_size=0:", bad.status_code, bad.json()["detail"])
    print("self-test ok")


def main() -> None:
    parser = argparse.ArgumentParser(description="An embedding service with batched calls.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model-latency-ms", type=float, default=20.0)
    parser.add_argument("--self-test", action="store_true", help="run a short check and exit")
    args = parser.parse_args()
    if args.self_test:
        asyncio.run(self_test())
    else:
        settings = Settings(model_latency_s=args.model_latency_ms / 1000)
        uvicorn.run(create_app(settings), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
