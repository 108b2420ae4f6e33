"""A websocket chat server on aiohttp where each room is an actor.

Run it with ``python examples/aiohttp_rooms.py`` (serves ws://127.0.0.1:8080;
``--port`` to change) and connect with any websocket client, for example
``websocat 'ws://127.0.0.1:8080/rooms/lobby?name=alice'``; or check it end to
end with ``python examples/aiohttp_rooms.py --self-test``.

* ``GET /rooms/{room}?name=NAME`` upgrades to a websocket. Each text message is
  broadcast to every member of the room, the sender included, as JSON
  ``{"type": "message", "room", "from", "text", "seq"}``. The first frame a member
  gets is ``{"type": "joined", "member", "members"}``.
* ``GET /rooms`` lists the rooms with their member counts and mailbox depths.

Memory stays bounded: a room's mailbox holds at most ``room_mailbox`` calls, and
a sender waits for room in it (``submit()``), which slows its socket down. Each
member has an outbox of at most ``outbox_limit`` frames. A member whose outbox is
full is too slow for the room: it is evicted, and its connection is closed with
code 1008 instead of buffering for it. An emptied room stops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web

import asyncactors
from asyncactors import ActorDiedError, ActorHandle, ActorState
from asyncactors.integrations.aiohttp import actor_system_ctx, get_actor_system

# -- a member's side of a connection ----------------------------------------------


class Member:
    """One websocket in a room: a bounded outbox and the task that sends it.

    The room actor calls :meth:`deliver` and :meth:`evict`; both run on the loop
    thread and never wait.
    """

    def __init__(
        self,
        name: str,
        ws: web.WebSocketResponse,
        abort: Callable[[], None],
        outbox_limit: int,
    ) -> None:
        self.name = name
        self.ws = ws
        self.evicted = False
        self.peak_backlog = 0
        self._abort = abort
        self._limit = outbox_limit
        self._outbox: deque[dict[str, Any]] = deque()
        self._ready = asyncio.Event()
        self._sender = asyncio.create_task(self._send_all(), name=f"send to {name}")

    def deliver(self, frame: dict[str, Any]) -> bool:
        """Queue ``frame`` for sending; ``False`` if the outbox is full (or evicted)."""
        if self.evicted or len(self._outbox) >= self._limit:
            return False
        self._outbox.append(frame)
        self.peak_backlog = max(self.peak_backlog, len(self._outbox))
        self._ready.set()
        return True

    def evict(self) -> None:
        """Drop what is queued and close the connection with code 1008."""
        if not self.evicted:
            self.evicted = True
            self._outbox.clear()
            self._sender.cancel()  # it may be stuck writing to the slow socket

    async def _send_all(self) -> None:
        try:
            while True:
                while not self._outbox:
                    self._ready.clear()
                    await self._ready.wait()
                await self.ws.send_json(self._outbox.popleft())
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self.evicted or task is None:
                raise
            task.uncancel()  # our own cancellation, from evict()
        except ConnectionResetError:
            return  # the peer went away; the reader sees it too
        try:
            async with asyncio.timeout(1.0):
                await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too slow: evicted")
        except TimeoutError:
            self._abort()  # the close frame is stuck behind unread data

    async def stop(self) -> None:
        """Stop sending (the connection is over) and wait for the sender task."""
        if not self.evicted:
            self._sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sender


# -- the room actor -----------------------------------------------------------------


@asyncactors.remote
class Room:
    """A chat room. Its calls run one at a time, so its member set needs no lock."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: dict[str, Member] = {}
        self.seq = 0
        self.evicted = 0

    def join(self, member_id: str, member: Member) -> int:
        """Add a member; it is sent a ``joined`` frame before any message."""
        self.members[member_id] = member
        member.deliver({"type": "joined", "member": member_id, "members": len(self.members)})
        return len(self.members)

    def publish(self, sender: str, text: str) -> int:
        """Send a message to every member; evict those whose outbox is full."""
        self.seq += 1
        frame: dict[str, Any] = {"type": "message", "room": self.name, "from": sender}
        frame.update(text=text, seq=self.seq)
        for member_id, member in list(self.members.items()):
            if not member.deliver(frame):
                del self.members[member_id]
                member.evict()
                self.evicted += 1
        return self.seq

    def leave(self, member_id: str) -> int:
        """Remove a member (if still there). An emptied room stops: the caller gets
        ``ActorDiedError``, and so does a join that raced with it, which retries."""
        self.members.pop(member_id, None)
        if not self.members:
            asyncactors.exit_actor()
        return len(self.members)

    def info(self) -> dict[str, Any]:
        return {
            "room": self.name,
            "members": sorted(m.name for m in self.members.values()),
            "messages": self.seq,
            "evicted": self.evicted,
            "peak_backlog": max((m.peak_backlog for m in self.members.values()), default=0),
        }


# -- the application ------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What ``create_app`` builds; the defaults are the server's.

    ``outbox_limit`` is how many frames a member may fall behind before it is
    evicted. A room runs a burst of queued messages in one go, before the
    members' sender tasks run, so keep it well above a burst (about
    ``room_mailbox``). Each member then holds at most ``outbox_limit *
    max_message`` bytes.
    """

    namespace: str = "rooms"
    room_mailbox: int = 256
    outbox_limit: int = 256
    max_message: int = 16 * 1024
    shutdown_timeout: float | None = 5.0


SETTINGS: Final = web.AppKey("settings", Settings)
SOCKETS: Final = web.AppKey("sockets", set[web.WebSocketResponse])
_member_ids = itertools.count(1)


async def join_room(request: web.Request, room_name: str, member_id: str, member: Member) -> Any:
    """Join the room named ``room_name``, creating it if needed; return its handle.

    Raises:
        ActorDiedError: the actor system is shutting down.
    """
    system = get_actor_system(request)
    settings = request.app[SETTINGS]
    room_class = Room.options(
        name=f"room:{room_name}", get_if_exists=True, mailbox_size=settings.room_mailbox
    )
    for _ in range(100):
        if system.closed:
            break
        room = room_class.remote(room_name)
        try:
            await room.join.remote(member_id, member)
            return room
        except ActorDiedError:
            # The room emptied and is stopping; its name is freed as it stops.
            await asyncio.sleep(0)
    raise ActorDiedError(f"cannot join room {room_name!r}: the server is shutting down")


async def chat(request: web.Request) -> web.StreamResponse:
    """A member's websocket: join, then publish every text message it sends."""
    settings = request.app[SETTINGS]
    room_name = request.match_info["room"]
    name = request.query.get("name", "anonymous")
    member_id = f"{name}#{next(_member_ids)}"
    ws = web.WebSocketResponse(max_msg_size=settings.max_message, timeout=1.0)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)

    def abort() -> None:
        if request.transport is not None:
            request.transport.abort()

    member = Member(name, ws, abort, settings.outbox_limit)
    room: ActorHandle[Room] | None = None
    try:
        room = await join_room(request, room_name, member_id, member)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT or member.evicted:
                continue
            # Waits while the room's mailbox is full: backpressure on this socket.
            await room.publish.submit(name, msg.data)
    except ActorDiedError:
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
    finally:
        request.app[SOCKETS].discard(ws)
        await member.stop()
        if room is not None:
            with contextlib.suppress(ActorDiedError):
                await room.leave.remote(member_id)
    return ws


async def list_rooms(request: web.Request) -> web.Response:
    """Every live room, with its members and mailbox depth."""
    system = get_actor_system(request)
    rooms = []
    for info in system.list_actors():
        if info.class_name != "Room" or info.state is not ActorState.ALIVE or info.name is None:
            continue
        try:
            details = await system.get_actor(info.name).info.remote()
        except (ValueError, ActorDiedError):
            continue  # stopped meanwhile
        rooms.append({**details, "mailbox_depth": info.mailbox_depth})
    return web.json_response(rooms)


async def close_sockets(app: web.Application) -> None:
    """``on_shutdown``: close every websocket so that its handler can finish."""
    sockets = app[SOCKETS]
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


def create_app(settings: Settings | None = None) -> web.Application:
    """Build the chat server; its actor system starts and stops with it."""
    app = web.Application()
    app[SETTINGS] = settings or Settings()
    app[SOCKETS] = set()
    app.cleanup_ctx.append(
        actor_system_ctx(
            namespace=app[SETTINGS].namespace, shutdown_timeout=app[SETTINGS].shutdown_timeout
        )
    )
    app.on_shutdown.append(close_sockets)
    app.router.add_get("/rooms", list_rooms)
    app.router.add_get("/rooms/{room}", chat)
    return app


# -- running it -----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 at a free port in this loop; yield its base URL."""
    runner = web.AppRunner(app, shutdown_timeout=5.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def self_test() -> None:
    """Three members chat in one room; each must get every message once, in order."""
    names = ["ann", "bob", "cyd"]
    per_sender = 5
    async with serving(create_app()) as url, aiohttp.ClientSession() as session:
        sockets = []
        for name in names:
            ws = await session.ws_connect(f"{url}/rooms/lobby?name={name}")
            joined = await ws.receive_json(timeout=10)
            assert joined["type"] == "joined", joined
            sockets.append(ws)
        for i in range(per_sender):
            for name, ws in zip(names, sockets, strict=True):
                await ws.send_str(f"{name} says {i}")
        for name, ws in zip(names, sockets, strict=True):
            frames = [await ws.receive_json(timeout=10) for _ in range(per_sender * len(names))]
            got = {n: [f["text"] for f in frames if f["from"] == n] for n in names}
            assert got == {n: [f"{n} says {i}" for i in range(per_sender)] for n in names}, got
            print(f"{name} got {len(frames)} messages, in order per sender")
        async with session.get(f"{url}/rooms") as reply:
            print("rooms:", json.dumps(await reply.json()))
        for ws in sockets:
            await ws.close()
    print("self-test ok")


def main() -> None:
    parser = argparse.ArgumentParser(description="A websocket chat server; rooms are actors.")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--self-test", action="store_true", help="run a short check and exit")
    args = parser.parse_args()
    if args.self_test:
        asyncio.run(self_test())
    else:
        web.run_app(create_app(), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
