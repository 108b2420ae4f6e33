"""A model server stand-in, in a process of its own: UDP on 127.0.0.1, a fixed latency.

The ``batch_net`` scenarios send their requests here, so that their IO is real
network IO: the client's loop wakes when a reply arrives on its socket, not
when a timer of its own expires. (A loop's timers can be late: asyncio's
epoll selector rounds its idle timeout up to whole milliseconds.)

A request is one datagram: a :data:`HEADER` (the request id), then the items as
native 64-bit integers. The reply, sent ``latency_s`` after the request
arrived, carries the same id and each item plus one. Due replies wait in a heap;
``select.select`` with a float timeout (microsecond resolution; the server sets
its timer slack to 1 ns on Linux) sleeps until the next is due, so the server
adds no millisecond rounding of its own (a reply leaves some 50 µs late, the
wake-up's own latency), and any number of requests can be in flight at once.

Run as a script (``python _modelserver.py LATENCY_S``; it imports nothing but
the standard library, so it needs no ``sys.path``), it binds a free port,
prints it on a line of its own, and serves until its stdin closes: the parent
closing the pipe, or exiting however it exits, stops it.
:func:`model_server` starts and stops it around a block.
"""

from __future__ import annotations

import heapq
import os
import select
import socket
import struct
import subprocess
import sys
import time
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["HEADER", "ITEM", "model_server", "serve"]

HEADER = struct.Struct("=I")
"""A datagram's header: the request id, echoed in the reply."""
ITEM = "q"
"""The :mod:`array` type code of the items, and of their results."""
HOST = "127.0.0.1"
_MAX_DATAGRAM = 65_507
_STOP_TIMEOUT_S = 5.0


def _reply(request: bytes) -> bytes:
    """The reply to ``request``: its header, then each item plus one."""
    items = array(ITEM, request[HEADER.size :])
    return request[: HEADER.size] + array(ITEM, [i + 1 for i in items]).tobytes()


def serve(sock: socket.socket, latency_s: float, control: int) -> None:
    """Answer each datagram on ``sock`` ``latency_s`` after it arrived, until the file
    descriptor ``control`` reaches end of file (or has an error)."""
    sock.setblocking(False)
    due: list[tuple[float, int, bytes, Any]] = []
    seq = 0  # breaks ties between equal due times, so the heap never compares addresses
    fd = sock.fileno()
    watched = [fd, control]
    clock = time.monotonic
    while True:
        timeout = max(0.0, due[0][0] - clock()) if due else None
        readable, _, _ = select.select(watched, (), (), timeout)
        if control in readable and not os.read(control, 4096):
            return
        if fd in readable:
            while True:
                try:
                    request, addr = sock.recvfrom(_MAX_DATAGRAM)
                except BlockingIOError:
                    break
                heapq.heappush(due, (clock() + latency_s, seq, _reply(request), addr))
                seq += 1
        now = clock()
        while due and due[0][0] <= now:
            _, _, reply, addr = heapq.heappop(due)
            sock.sendto(reply, addr)


def _tighten_timer_slack() -> None:
    """On Linux, ask the kernel to wake this process at its timeouts to the nanosecond:
    by default a sleep may end up to 50 µs late, to batch wake-ups."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_timerslack = 29
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_timerslack, 1, 0, 0, 0)


def _main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: _modelserver.py LATENCY_S", file=sys.stderr)
        return 2
    latency_s = float(argv[0])
    _tighten_timer_slack()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        print(sock.getsockname()[1], flush=True)
        serve(sock, latency_s, sys.stdin.fileno())
    return 0


@contextmanager
def model_server(latency_s: float) -> Iterator[tuple[str, int]]:
    """Start the server in a child process, answering after ``latency_s``; yield its
    ``(host, port)``; stop it and reap the process on leaving, error or not.

    Raises:
        ValueError: ``latency_s`` is negative.
        RuntimeError: the server exited before it told its port.
    """
    if latency_s < 0:
        raise ValueError(f"latency_s must be >= 0, got {latency_s}")
    proc = subprocess.Popen(
        [sys.executable, "-I", __file__, repr(latency_s)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(
                f"the model server exited (code {proc.wait()}) before telling its port"
            )
        yield HOST, int(line)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[str]) -> None:
    """Close the server's stdin, its signal to stop, and reap it; kill it if it lingers."""
    try:
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
        proc.wait(_STOP_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
