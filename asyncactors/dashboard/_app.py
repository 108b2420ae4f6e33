"""The dashboard's ASGI application: one page, its live feed, and a JSON snapshot."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import weakref
from collections.abc import Awaitable, Callable, MutableMapping
from importlib.resources import files
from typing import Any, Final

from .._context import current_system
from .._ref import logger
from .._system import ActorSystem, _defaults
from ._snapshot import RecentEvents, Snapshotter

__all__ = ["Dashboard"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_PAGE: Final = files(__package__).joinpath("index.html").read_bytes()


def _csp(page: bytes) -> str:
    """A Content-Security-Policy allowing exactly the page's own script and style."""

    def hashes(tag: str) -> str:
        bodies = re.findall(rb"<%s>(.*?)</%s>" % (tag.encode(), tag.encode()), page, re.S)
        return " ".join(
            f"'sha256-{base64.b64encode(hashlib.sha256(b).digest()).decode()}'" for b in bodies
        )

    return (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'self'"
    )


_PAGE_HEADERS: Final = [
    (b"content-security-policy", _csp(_PAGE).encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


class Dashboard:
    """The dashboard as an ASGI 3 application; see :func:`asyncactors.dashboard.app`."""

    def __init__(
        self,
        system: ActorSystem | None = None,
        *,
        interval_s: float = 0.5,
        stuck_after_s: float = 1.0,
        max_actors: int = 500,
        stream_s: float = 30.0,
    ) -> None:
        if system is not None and not isinstance(system, ActorSystem):
            raise TypeError(f"dashboard.app() needs an ActorSystem or None, got {system!r}")
        _check_positive("interval_s", interval_s)
        _check_positive("stream_s", stream_s)
        _check_positive("stuck_after_s", stuck_after_s)
        if isinstance(max_actors, bool) or not isinstance(max_actors, int) or max_actors < 1:
            raise ValueError(f"max_actors must be an int >= 1, got {max_actors!r}")
        self.system = system
        self.interval_s = interval_s
        self.stuck_after_s = stuck_after_s
        self.max_actors = max_actors
        self.stream_s = stream_s
        self._events: weakref.WeakKeyDictionary[ActorSystem, RecentEvents] = (
            weakref.WeakKeyDictionary()
        )
        if system is not None:
            self._events[system] = RecentEvents(system)

    def _find_system(self) -> ActorSystem | None:
        system = self.system
        if system is None:
            system = current_system.get()
            if system is None:
                system = _defaults.get(asyncio.get_running_loop())
            if system is not None and system not in self._events:
                self._events[system] = RecentEvents(system)
        return system

    def _data(self, system: ActorSystem | None, snapshotter: Snapshotter) -> bytes:
        if system is None:
            return b'{"system":false}'
        data = snapshotter.snapshot(system, self._events.get(system))
        data["system"] = True
        return json.dumps(data, separators=(",", ":")).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1003})
            return
        if kind != "http":
            return
        method = scope["method"]
        path = _route_path(scope)
        head = method == "HEAD"
        if method not in ("GET", "HEAD"):
            # Read-only: nothing here changes an actor or the system.
            await _respond(
                send,
                405,
                b"text/plain",
                b"the dashboard is read-only: GET only\n",
                head,
                [(b"allow", b"GET, HEAD")],
            )
            return
        try:
            if path == "":
                # The mount point itself: the page's relative URLs need its slash.
                location = (_full_path(scope) + "/").encode()
                await _respond(send, 307, b"text/plain", b"", head, [(b"location", location)])
            elif path in ("/", "/index.html"):
                await _respond(send, 200, b"text/html; charset=utf-8", _PAGE, head, _PAGE_HEADERS)
            elif path == "/snapshot":
                try:
                    body = self._data(self._find_system(), self._snapshotter())
                except Exception:
                    logger.exception("the dashboard failed to read the actor system")
                    await _respond(send, 500, b"text/plain", b"internal error\n", head)
                else:
                    await _respond(send, 200, b"application/json", body, head, _PAGE_HEADERS[1:])
            elif path == "/events":
                await self._stream(send, receive, head)
            else:
                await _respond(send, 404, b"text/plain", b"not found\n", head)
        except OSError:
            pass  # the client went away

    def _snapshotter(self) -> Snapshotter:
        return Snapshotter(self.max_actors, self.stuck_after_s)

    async def _stream(self, send: Send, receive: Receive, head: bool) -> None:
        """Server-sent events: a snapshot every ``interval_s`` for up to
        ``stream_s`` seconds; the page's EventSource then reconnects by itself,
        so a server stopping never waits on the feed for long."""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-store"),
                    (b"x-accel-buffering", b"no"),
                    *_PAGE_HEADERS[1:3],
                ],
            }
        )
        if head:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        watcher = asyncio.ensure_future(_disconnected(receive))
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.stream_s
            snapshotter = self._snapshotter()
            await _chunk(send, b"retry: 1000\n\n")
            while True:
                system = self._find_system()
                try:
                    data = self._data(system, snapshotter)
                except Exception:
                    # Logged here, never sent: stacks and errors stay on the server.
                    logger.exception("the dashboard failed to read the actor system")
                    data = b'{"system":true,"error":"the server failed to read the system"}'
                    await _chunk(send, b"event: failure\ndata: " + data + b"\n\n")
                else:
                    await _chunk(send, b"data: " + data + b"\n\n")
                if (system is not None and system.closed) or loop.time() >= deadline:
                    break
                done, _ = await asyncio.wait({watcher}, timeout=self.interval_s)
                if done:
                    return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


def _route_path(scope: Scope) -> str:
    """The path within the dashboard, whether a router strips its mount prefix
    from ``path`` (older Starlette) or only sets ``root_path`` (newer)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path


def _full_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path if path.startswith(root) else root + path


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _chunk(send: Send, body: bytes) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def _respond(
    send: Send,
    status: int,
    content_type: bytes,
    body: bytes,
    head: bool = False,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *(headers or ()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _lifespan(receive: Receive, send: Send) -> None:
    """Served alone by an ASGI server: nothing to start or stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
