"""Ray's test helpers (``ray._common.test_utils``) in-process, as Ray 2.60 has them."""

from __future__ import annotations

import asyncio
import itertools
from types import ModuleType

import pytest

from asyncactors.compat.ray._common.test_utils import (
    Semaphore,
    SignalActor,
    async_wait_for_condition,
    wait_for_condition,
)


def test_wait_for_condition_returns_once_the_predicate_holds() -> None:
    """The predicate is called, with the keyword arguments, until it returns true."""
    calls = itertools.count(1)
    wait_for_condition(lambda at: next(calls) >= at, retry_interval_ms=1, at=3)
    assert next(calls) == 4


def test_wait_for_condition_times_out_naming_the_last_exception() -> None:
    """Still false after the timeout: RuntimeError, ending with the predicate's last error."""

    def broken() -> bool:
        raise ValueError("no such row")

    with pytest.raises(RuntimeError, match="wasn't met before the timeout") as info:
        wait_for_condition(broken, timeout=0.02, retry_interval_ms=1)
    assert "ValueError: no such row" in str(info.value)
    with pytest.raises(RuntimeError, match=r"expired\.$"):
        wait_for_condition(lambda: False, timeout=0.02, retry_interval_ms=1)


def test_wait_for_condition_raises_the_predicates_error_when_asked() -> None:
    """With raise_exceptions=True the predicate's exception propagates at once."""

    def broken() -> bool:
        raise KeyError("gone")

    with pytest.raises(KeyError, match="gone"):
        wait_for_condition(broken, timeout=5, raise_exceptions=True)


def test_async_wait_for_condition_awaits_coroutine_and_plain_predicates() -> None:
    """A coroutine function's result is awaited, a plain function's used as it is;
    a timeout raises RuntimeError with the last exception's message."""
    calls = itertools.count(1)

    async def ready() -> bool:
        return next(calls) >= 2

    async def check() -> None:
        await async_wait_for_condition(ready, retry_interval_ms=1)
        await async_wait_for_condition(lambda: True)

        def broken() -> bool:
            raise ValueError("not yet")

        with pytest.raises(RuntimeError, match="Last exception: not yet"):
            await async_wait_for_condition(broken, timeout=0.02, retry_interval_ms=1)

    asyncio.run(check())
    assert next(calls) == 3


def test_signal_actor_holds_waits_until_sent(ray: ModuleType) -> None:
    """wait() calls are held (and counted) until send(); send(clear=True) holds later ones."""
    signal = SignalActor.remote()
    held = [signal.wait.remote() for _ in range(2)]
    wait_for_condition(lambda: ray.get(signal.cur_num_waiters.remote()) == 2, retry_interval_ms=1)
    assert ray.wait(held, num_returns=2, timeout=0.05)[0] == []
    ray.get(signal.send.remote(clear=True))
    assert ray.get(held, timeout=5) == [None, None]
    assert ray.get(signal.cur_num_waiters.remote()) == 0
    later = signal.wait.remote()
    assert ray.wait([later], timeout=0.05)[0] == []
    assert ray.get(signal.wait.remote(should_wait=False), timeout=5) is None
    ray.get(signal.send.remote())
    assert ray.get(later, timeout=5) is None


def test_semaphore_actor_counts_permits(ray: ModuleType) -> None:
    """acquire() takes a permit (waiting while none is free), release() gives it back."""
    semaphore = Semaphore.remote(1)
    ray.get(semaphore.acquire.remote())
    assert ray.get(semaphore.locked.remote()) is True
    second = semaphore.acquire.remote()
    assert ray.wait([second], timeout=0.05)[0] == []
    ray.get(semaphore.release.remote())
    ray.get(second, timeout=5)
    ray.get(semaphore.release.remote())
    assert ray.get(semaphore.locked.remote()) is False
