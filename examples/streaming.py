"""A token stream over server-sent events: an async generator method of an actor, on aiohttp.

Run it with ``python examples/streaming.py`` (serves http://127.0.0.1:8080;
``--port`` to change) and watch the tokens arrive one by one with
``curl -N 'http://127.0.0.1:8080/generate?prompt=hello+there'``; or check it
end to end with ``python examples/streaming.py --self-test``.

* ``GET /generate?prompt=TEXT&max_tokens=N`` answers ``text/event-stream``: one
  ``data:`` event per token (a JSON string) as the model actor yields it, then
  ``event: done``.
* ``GET /stats`` reports the model's streams: running, completed and closed early.

The model is an actor with ``max_concurrency=2``: each open stream holds one of
its slots, so a third request waits in the mailbox until a stream ends. Its
generator runs at most ``stream_buffer`` tokens ahead of the client: a slow
reader slows the model down instead of making it buffer. A client that
disconnects mid-stream closes the generator (its ``finally`` runs) and frees
the slot at once, through ``contextlib.aclosing``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp import web

import asyncactors
from asyncactors import ActorHandle
from asyncactors.integrations.aiohttp import actor_system_ctx

# -- the model --------------------------------------------------------------------


def reply_to(prompt: str) -> list[str]:
    """The canned reply the stand-in model gives to ``prompt``, as tokens."""
    words = prompt.split() or ["nothing"]
    return ["You", " said:", *(f" {w}" for w in words), "."]


@asyncactors.remote(max_concurrency=2)
class TokenModel:
    """A stand-in for a language model: streams its reply one token at a time."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.running = 0
        self.completed = 0
        self.closed_early = 0

    @asyncactors.method(stream_buffer=4)
    async def generate(self, prompt: str, max_tokens: int) -> AsyncIterator[str]:
        self.running += 1
        done = False
        try:
            for token in reply_to(prompt)[:max_tokens]:
                await asyncio.sleep(self.delay_s)  # the model thinks
                yield token
            done = True
        finally:
            # Runs however the stream ends: to the last token, or closed by the
            # handler when its client went away.
            self.running -= 1
            if done:
                self.completed += 1
            else:
                self.closed_early += 1

    def stats(self) -> dict[str, int]:
        return {
            "running": self.running,
            "completed": self.completed,
            "closed_early": self.closed_early,
        }


# -- the web application ----------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    delay_s: float = 0.05
    max_tokens: int = 256
    shutdown_timeout: float = 5.0


SETTINGS: Final = web.AppKey("settings", Settings)
MODEL: Final = web.AppKey("model", ActorHandle[TokenModel])


async def generate(request: web.Request) -> web.StreamResponse:
    """Stream the model's tokens as server-sent events while the client reads them."""
    settings = request.app[SETTINGS]
    prompt = request.query.get("prompt", "")
    try:
        max_tokens = min(int(request.query.get("max_tokens", settings.max_tokens)), 1024)
    except ValueError:
        raise web.HTTPBadRequest(text="max_tokens must be an integer") from None
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    # aclosing: however this handler ends (the client disconnected, the server
    # stops), the generator is closed now, not when the stream is collected.
    try:
        async with contextlib.aclosing(
            request.app[MODEL].generate.remote(prompt, max_tokens)
        ) as tokens:
            async for token in tokens:
                await response.write(f"data: {json.dumps(token)}\n\n".encode())
        await response.write(b"event: done\ndata: {}\n\n")
    except ConnectionResetError:
        pass  # the client went away; aclosing has closed the stream
    return response


async def stats(request: web.Request) -> web.Response:
    return web.json_response(await request.app[MODEL].stats.remote())


async def start_model(app: web.Application) -> None:
    app[MODEL] = TokenModel.remote(app[SETTINGS].delay_s)


def create_app(settings: Settings | None = None) -> web.Application:
    """Build the server; its actor system starts and stops with it."""
    app = web.Application()
    app[SETTINGS] = settings or Settings()
    app.cleanup_ctx.append(actor_system_ctx(shutdown_timeout=app[SETTINGS].shutdown_timeout))
    app.on_startup.append(start_model)
    app.router.add_get("/generate", generate)
    app.router.add_get("/stats", stats)
    return app


# -- a client, and running it -----------------------------------------------------


async def read_events(response: aiohttp.ClientResponse, limit: int | None = None) -> list[str]:
    """The tokens of an event stream, up to ``event: done`` (or ``limit`` tokens)."""
    tokens: list[str] = []
    event = "message"
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            if event == "done":
                break
            tokens.append(json.loads(line.removeprefix("data: ")))
            if limit is not None and len(tokens) >= limit:
                break
    return tokens


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 at a free port in this loop; yield its base URL."""
    runner = web.AppRunner(app, shutdown_timeout=5.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def self_test() -> None:
    """Stream replies in full and cut short; the model's slots must all be freed."""
    settings = Settings(delay_s=0.002)
    async with serving(create_app(settings)) as url, aiohttp.ClientSession() as session:
        prompt = "streams of tokens"

        async def full() -> list[str]:
            async with session.get(f"{url}/generate", params={"prompt": prompt}) as reply:
                assert reply.headers["Content-Type"] == "text/event-stream"
                return await read_events(reply)

        # Three at once, two slots: the third waits for one, then streams.
        replies = await asyncio.gather(full(), full(), full())
        for tokens in replies:
            assert tokens == reply_to(prompt), tokens
        print(f"3 clients got {''.join(replies[0])!r}, token by token")

        # A client that reads two tokens and hangs up closes its generator.
        long_prompt = " ".join(["word"] * 200)
        async with session.get(f"{url}/generate", params={"prompt": long_prompt}) as reply:
            assert await read_events(reply, limit=2) == ["You", " said:"]
        for _ in range(500):
            async with session.get(f"{url}/stats") as reply:
                counts = await reply.json()
            if counts["closed_early"] == 1 and counts["running"] == 0:
                break
            await asyncio.sleep(0.01)
        assert counts == {"running": 0, "completed": 3, "closed_early": 1}, counts
        print(f"a client hung up after 2 tokens: the generator closed; stats {counts}")
    print("self-test ok")


def main() -> None:
    parser = argparse.ArgumentParser(description="Server-sent token streams from an actor.")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--self-test", action="store_true", help="run a short check and exit")
    args = parser.parse_args()
    if args.self_test:
        asyncio.run(self_test())
    else:
        web.run_app(create_app(), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
