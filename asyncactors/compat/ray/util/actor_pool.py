"""``ray.util.ActorPool``: a fixed set of actors taking one value each, for sync code."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .. import _api
from .._refs import ObjectRef

__all__ = ["ActorPool"]

_TIMEOUT = "Timed out waiting for result"


class ActorPool:
    """Spread values over ``actors``, one call per idle actor; results in order or as they come.

    ``fn(actor, value)`` must return the ref of a call to ``actor``. An actor
    goes back to the idle set when its result is taken (``get_next*``), and
    values submitted meanwhile wait for it, in order.
    """

    def __init__(self, actors: list[Any]) -> None:
        self._idle = list(actors)
        # Submission index -> ref, and ref -> (index, actor), for the calls in flight.
        self._by_index: dict[int, ObjectRef] = {}
        self._by_ref: dict[ObjectRef, tuple[int, Any]] = {}
        self._submitted = 0
        self._returned = 0
        self._queued: list[tuple[Callable[[Any, Any], ObjectRef], Any]] = []

    def map(self, fn: Callable[[Any, Any], ObjectRef], values: Iterable[Any]) -> Iterator[Any]:
        """Submit every value; yield the results in submission order.

        Results of earlier submissions not yet taken are dropped first, as in Ray.
        """
        self._drop_pending()
        for v in values:
            self.submit(fn, v)

        def results() -> Iterator[Any]:
            while self.has_next():
                yield self.get_next()

        return results()

    def map_unordered(
        self, fn: Callable[[Any, Any], ObjectRef], values: Iterable[Any]
    ) -> Iterator[Any]:
        """Submit every value; yield the results as they finish."""
        self._drop_pending()
        for v in values:
            self.submit(fn, v)

        def results() -> Iterator[Any]:
            while self.has_next():
                yield self.get_next_unordered()

        return results()

    def _drop_pending(self) -> None:
        while self.has_next():
            with contextlib.suppress(TimeoutError):
                self.get_next_unordered(timeout=0, ignore_if_timedout=True)

    def submit(self, fn: Callable[[Any, Any], ObjectRef], value: Any) -> None:
        """Call ``fn(actor, value)`` on an idle actor, or queue it until one is free."""
        if not self._idle:
            self._queued.append((fn, value))
            return
        actor = self._idle.pop()
        ref = fn(actor, value)
        key = self._submitted
        self._submitted += 1
        self._by_index[key] = ref
        self._by_ref[ref] = (key, actor)

    def has_next(self) -> bool:
        """Whether a submitted value has a result still to take."""
        return bool(self._by_ref)

    def get_next(self, timeout: float | None = None, ignore_if_timedout: bool = False) -> Any:
        """The next result in submission order.

        Raises:
            StopIteration: no result is pending.
            ValueError: called after ``get_next_unordered()`` took a later result.
            TimeoutError: not ready within ``timeout``; with
                ``ignore_if_timedout`` the result is dropped and its actor freed.
            Exception: what the call raised.
        """
        if not self.has_next():
            raise StopIteration("No more results to get")
        if self._returned >= self._submitted or self._returned not in self._by_index:
            raise ValueError("It is not allowed to call get_next() after get_next_unordered().")
        ref = self._by_index[self._returned]
        timed_out = False
        if timeout is not None:
            ready, _ = _api.wait([ref], timeout=timeout)
            if not ready:
                if not ignore_if_timedout:
                    raise TimeoutError(_TIMEOUT)
                timed_out = True
        del self._by_index[self._returned]
        self._returned += 1
        _, actor = self._by_ref.pop(ref)
        self._free(actor)
        if timed_out:
            raise TimeoutError(f"{_TIMEOUT}. The task {ref} has been ignored.")
        return _api.get(ref)

    def get_next_unordered(
        self, timeout: float | None = None, ignore_if_timedout: bool = False
    ) -> Any:
        """Whichever result is ready first.

        Raises:
            StopIteration: no result is pending.
            TimeoutError: none ready within ``timeout`` (with ``ignore_if_timedout``
                the first pending one is dropped and its actor freed).
            Exception: what the call raised.
        """
        if not self.has_next():
            raise StopIteration("No more results to get")
        ready, _ = _api.wait(list(self._by_ref), num_returns=1, timeout=timeout)
        timed_out = False
        if ready:
            ref = ready[0]
        elif ignore_if_timedout:
            ref = next(iter(self._by_ref))
            timed_out = True
        else:
            raise TimeoutError(_TIMEOUT)
        index, actor = self._by_ref.pop(ref)
        del self._by_index[index]
        self._returned = max(self._returned, index + 1)
        self._free(actor)
        if timed_out:
            raise TimeoutError(f"{_TIMEOUT}. The task {ref} has been ignored.")
        return _api.get(ref)

    def _free(self, actor: Any) -> None:
        self._idle.append(actor)
        if self._queued:
            fn, value = self._queued.pop(0)
            self.submit(fn, value)

    def has_free(self) -> bool:
        """Whether an actor is idle and no value is waiting for one."""
        return bool(self._idle) and not self._queued

    def pop_idle(self) -> Any | None:
        """Take an idle actor out of the pool, or ``None`` if none is idle."""
        return self._idle.pop() if self.has_free() else None

    def push(self, actor: Any) -> None:
        """Add an actor to the pool; it takes a waiting value at once.

        Raises:
            ValueError: the actor is in the pool already.
        """
        busy = [a for _, a in self._by_ref.values()]
        if actor in self._idle or actor in busy:
            raise ValueError("Actor already belongs to current ActorPool")
        self._free(actor)
