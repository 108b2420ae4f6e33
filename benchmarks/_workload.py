"""The user classes every system runs: plain Python, no actor library imported.

Each system wraps the very same class (peers that need a base class get a thin
subclass), so differences in the figures come from the actor machinery, not
from the work done per call. Every class counts the calls it served, so a run
can check that each call ran exactly once.
"""

from __future__ import annotations

import asyncio
from array import array
from typing import cast

from ._modelserver import HEADER, ITEM

__all__ = [
    "BATCH_CONCURRENCY",
    "BATCH_SIZE",
    "BATCH_WAIT_S",
    "IO_SECONDS",
    "AsyncCounter",
    "BatchIOService",
    "Crash",
    "Crashy",
    "IOService",
    "Idle",
    "ModelClient",
    "NetBatchService",
    "SyncCounter",
    "Workload",
    "YieldingCounter",
]

IO_SECONDS = 0.001
"""The simulated IO of :meth:`IOService.fetch`: 1 ms."""


class SyncCounter:
    """A counter whose methods are plain functions."""

    def __init__(self) -> None:
        self.n = 0

    def incr(self, arg: object = None) -> int:
        """Count one call (``arg`` is ignored: it is there to be carried) and return the count."""
        self.n += 1
        return self.n

    def value(self) -> int:
        """Return the count."""
        return self.n


class AsyncCounter:
    """A counter whose methods are coroutines that never suspend."""

    def __init__(self) -> None:
        self.n = 0

    async def incr(self, arg: object = None) -> int:
        """Count one call and return the count."""
        self.n += 1
        return self.n

    async def value(self) -> int:
        """Return the count."""
        return self.n


class YieldingCounter:
    """A counter whose ``incr`` yields to the event loop once, so calls can overlap."""

    def __init__(self) -> None:
        self.n = 0

    async def incr(self, arg: object = None) -> int:
        """Let other tasks run once, then count the call."""
        await asyncio.sleep(0)
        self.n += 1
        return self.n

    async def value(self) -> int:
        """Return the count."""
        return self.n


class IOService:
    """A service whose one method awaits a simulated 1 ms IO."""

    def __init__(self) -> None:
        self.n = 0

    async def incr(self, arg: object = None) -> int:
        """Await :data:`IO_SECONDS` of simulated IO, then count the call."""
        await asyncio.sleep(IO_SECONDS)
        self.n += 1
        return self.n

    async def value(self) -> int:
        """Return the count."""
        return self.n


BATCH_SIZE = 64
"""The most items :class:`BatchIOService` takes in one request."""
BATCH_WAIT_S = 0.001
"""How long a batcher waits for a batch to fill."""
BATCH_CONCURRENCY = 4
"""Requests :class:`BatchIOService` serves at once (a model server's, a database's limit)."""


class BatchIOService:
    """A model server or database stand-in: every request, of one item or of a batch
    of up to :data:`BATCH_SIZE`, takes ``latency_s`` of simulated IO."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.n = 0

    async def infer_batch(self, items: list[int]) -> list[int]:
        """Serve a batch in one request: each item's result, in order."""
        await asyncio.sleep(self.latency_s)
        self.n += len(items)
        return [i + 1 for i in items]

    async def infer(self, item: int) -> int:
        """Serve one item in a request of its own."""
        await asyncio.sleep(self.latency_s)
        self.n += 1
        return item + 1

    async def value(self) -> int:
        """Return how many items were served."""
        return self.n


# How long a request may wait for its reply: far above any latency the rows use.
REQUEST_TIMEOUT_S = 30.0


class ModelClient(asyncio.DatagramProtocol):
    """The asyncio client of the model server (:mod:`benchmarks._modelserver`): one UDP
    socket, any number of requests in flight, each reply matched to its request by id.

    Open it with :meth:`connect` on the running loop; :meth:`close` it when done.
    """

    def __init__(self) -> None:
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[int, asyncio.Future[list[int]]] = {}
        self._next_id = 0

    @classmethod
    async def connect(cls, addr: tuple[str, int]) -> ModelClient:
        """Return a client connected to the server at ``addr``."""
        loop = asyncio.get_running_loop()
        _, client = await loop.create_datagram_endpoint(cls, remote_addr=addr)
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: asyncio's own datagram transports fail it.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        (request_id,) = HEADER.unpack_from(data)
        fut = self._pending.pop(request_id, None)
        if fut is not None and not fut.done():
            fut.set_result(array(ITEM, data[HEADER.size :]).tolist())

    def error_received(self, exc: Exception) -> None:
        # On a connected UDP socket: the server is gone (ICMP port unreachable).
        self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("the model client was closed"))

    def _fail(self, exc: Exception) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)

    async def request(self, items: list[int]) -> list[int]:
        """Send ``items`` in one request; return the server's results (each item plus one).

        Raises:
            ConnectionError: the client is not connected, or was closed meanwhile.
            OSError: the server is unreachable.
            TimeoutError: no reply within ``REQUEST_TIMEOUT_S`` seconds.
        """
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("the model client is not connected")
        request_id = self._next_id
        self._next_id = (request_id + 1) & 0xFFFF_FFFF
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[list[int]] = loop.create_future()
        self._pending[request_id] = fut
        self._transport.sendto(HEADER.pack(request_id) + array(ITEM, items).tobytes())
        # A lost datagram must fail the run, not hang it.
        timer = loop.call_later(REQUEST_TIMEOUT_S, self._expire, request_id)
        try:
            return await fut
        finally:
            timer.cancel()
            # Only left behind when the caller was cancelled before the reply.
            self._pending.pop(request_id, None)

    def _expire(self, request_id: int) -> None:
        fut = self._pending.pop(request_id, None)
        if fut is not None and not fut.done():
            fut.set_exception(
                TimeoutError(
                    f"the model server sent no reply to request {request_id} within "
                    f"{REQUEST_TIMEOUT_S:g} s (a lost datagram, or the server is stuck)"
                )
            )

    def close(self) -> None:
        """Close the socket; requests still waiting fail with ``ConnectionError``."""
        if self._transport is not None:
            self._transport.close()


class NetBatchService:
    """:class:`BatchIOService` with real network IO: every request, of one item or of a
    batch, goes to the model server behind ``client``, which answers after its latency."""

    def __init__(self, client: ModelClient) -> None:
        self.client = client
        self.n = 0

    async def infer_batch(self, items: list[int]) -> list[int]:
        """Serve a batch in one request: each item's result, in order."""
        results = await self.client.request(items)
        self.n += len(items)
        return results

    async def infer(self, item: int) -> int:
        """Serve one item in a request of its own."""
        (result,) = await self.client.request([item])
        self.n += 1
        return result

    async def value(self) -> int:
        """Return how many items were served."""
        return self.n


class Idle:
    """The trivial user class of the creation and memory scenarios: no state at all."""

    def ping(self) -> int:
        """Reply 1 (a first reply proves the actor runs)."""
        return 1


class Crash(Exception):
    """What :meth:`Crashy.work` raises to crash its actor."""


class Crashy:
    """The user class of the restart scenario: a fresh instance after each crash."""

    def __init__(self) -> None:
        self.n = 0

    def work(self, crash: bool) -> int:
        """Raise :class:`Crash` if asked; else count the call on this incarnation."""
        if crash:
            raise Crash
        self.n += 1
        return self.n


Workload = type[SyncCounter] | type[AsyncCounter] | type[YieldingCounter] | type[IOService]
