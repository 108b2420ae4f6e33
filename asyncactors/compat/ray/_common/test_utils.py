"""Ray's test helpers (``ray._common.test_utils``), so that Ray test suites run in-process.

``wait_for_condition`` and ``async_wait_for_condition`` poll a predicate until it
holds; ``SignalActor`` holds calls back until a test lets them go, and
``Semaphore`` is a semaphore shared by actors and tasks. Same names, arguments and
errors as Ray 2.60's.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import traceback
from collections.abc import Callable
from typing import Any

from .._api import remote

__all__ = ["Semaphore", "SignalActor", "async_wait_for_condition", "wait_for_condition"]


def _not_met(last: str | None) -> RuntimeError:
    message = "The condition wasn't met before the timeout expired."
    if last is not None:
        message += f" Last exception: {last}"
    return RuntimeError(message)


def wait_for_condition(
    condition_predictor: Callable[..., Any],
    timeout: float = 10,
    retry_interval_ms: float = 100,
    raise_exceptions: bool = False,
    **kwargs: Any,
) -> None:
    """Call ``condition_predictor(**kwargs)`` every ``retry_interval_ms`` until it
    returns a true value, for at most ``timeout`` seconds.

    Raises:
        RuntimeError: it was not true in time; the message ends with the traceback
            of the last exception the predicate raised, if it raised one.
        Exception: what the predicate raised, at once, with ``raise_exceptions``.
    """
    deadline = time.monotonic() + timeout
    last: str | None = None
    while True:
        try:
            if condition_predictor(**kwargs):
                return
        except Exception:
            if raise_exceptions:
                raise
            last = traceback.format_exc()
        if time.monotonic() >= deadline:
            raise _not_met(last)
        time.sleep(retry_interval_ms / 1000)


async def async_wait_for_condition(
    condition_predictor: Callable[..., Any],
    timeout: float = 10,
    retry_interval_ms: float = 100,
    **kwargs: Any,
) -> None:
    """``wait_for_condition`` in a coroutine: what the predicate returns is awaited
    if it is awaitable (Ray awaits only a coroutine function's: a plain function
    returning a coroutine would count as true at once there), and the waits between
    tries are ``asyncio.sleep``.

    Raises:
        RuntimeError: it was not true in time; the message ends with the last
            exception the predicate raised, if it raised one.
    """
    deadline = time.monotonic() + timeout
    last: str | None = None
    while True:
        try:
            result = condition_predictor(**kwargs)
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
        except Exception as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            raise _not_met(last)
        await asyncio.sleep(retry_interval_ms / 1000)


@remote(num_cpus=0)
class SignalActor:
    """Holds ``wait()`` calls until ``send()``: a test decides when they go on.

    ``send(clear=True)`` lets the waiting calls go and holds later ones again;
    ``wait(should_wait=False)`` returns at once; ``cur_num_waiters()`` counts the
    calls held now (a cancelled one no longer counts, where Ray's goes on counting it).
    """

    def __init__(self) -> None:
        self._sent = asyncio.Event()
        self._waiters = 0

    def send(self, clear: bool = False) -> None:
        """Let the held ``wait()`` calls go (and hold later ones again, with ``clear``)."""
        self._sent.set()
        if clear:
            self._sent.clear()

    async def wait(self, should_wait: bool = True) -> None:
        """Return once ``send()`` is called (at once if it was and nothing cleared it)."""
        if should_wait:
            self._waiters += 1
            try:
                await self._sent.wait()
            finally:
                self._waiters -= 1

    async def cur_num_waiters(self) -> int:
        """How many ``wait()`` calls are held now."""
        return self._waiters


@remote(num_cpus=0)
class Semaphore:
    """A semaphore that actors and tasks share through its handle (``value`` permits)."""

    def __init__(self, value: int = 1) -> None:
        self._semaphore = asyncio.Semaphore(value)

    async def acquire(self) -> None:
        """Take a permit, once one is free."""
        await self._semaphore.acquire()

    async def release(self) -> None:
        """Give a permit back."""
        self._semaphore.release()

    async def locked(self) -> bool:
        """Whether no permit is free."""
        return self._semaphore.locked()
