"""``ActorPool``: Ray's ``ray.util.ActorPool`` with async retrieval.

The pool hands each submitted value to a free actor through ``fn(actor, value)``,
which returns the call's ``ObjectRef``. An actor runs at most
``max_in_flight_per_actor`` pool tasks at once (1, as in Ray); values submitted
while every actor is busy wait in the pool, first in first out, and start as
actors free up. Every submission yields exactly one result, retrieved once by
``get_next()`` (submission order) or ``get_next_unordered()`` (finishing order).

Where Ray's pool loses work, this one keeps it: an actor is free again as soon
as its task finishes (not when its result is fetched), a dead actor leaves the
pool without taking queued values with it, and ``map()`` refuses to start while
earlier results are unretrieved instead of discarding them.
"""

from __future__ import annotations

import asyncio
import contextlib
import reprlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

from ._exceptions import GetTimeoutError
from ._handle import ActorHandle
from ._options import check_timeout
from ._ref import ObjectRef, describe_failure
from ._types import ActorState

__all__ = ["ActorPool"]

if TYPE_CHECKING:
    # A default lets ``ActorPool(actors)`` stand unannotated as ActorPool[Any];
    # ``pool: ActorPool[int]`` types the results.
    from typing_extensions import TypeVar as _DefaultTypeVar

    _R = _DefaultTypeVar("_R", default=Any)
else:
    _R = TypeVar("_R")
_V = TypeVar("_V")

_DEAD = ActorState.DEAD
_TIMEOUT_MESSAGE = "Timed out waiting for result"


class _Member:
    """An actor in the pool and how many pool tasks it is running."""

    __slots__ = ("handle", "in_flight", "removed")

    def __init__(self, handle: ActorHandle[Any]) -> None:
        self.handle = handle
        self.in_flight = 0
        # Set when the actor leaves the pool; its entries in ActorPool._free go stale.
        self.removed = False


class _Task:
    """One submission: queued (``ref`` is None), running, or done."""

    __slots__ = ("done", "fn", "index", "member", "origin", "ref", "returned", "value")

    def __init__(
        self,
        index: int,
        fn: Callable[[ActorHandle[Any], Any], Any],
        value: Any,
        origin: tuple[str, int],
    ) -> None:
        self.index = index
        # The pool method it came from and its position there, to name it in a log.
        self.origin = origin
        self.fn: Callable[[ActorHandle[Any], Any], Any] | None = fn
        self.value = value
        self.member: _Member | None = None
        self.ref: ObjectRef[Any] | None = None
        self.done = False
        # Set once get_next*() has returned the result, or ignored it on timeout.
        self.returned = False


class ActorPool(Generic[_R]):
    """Spreads values over a fixed set of actors, as Ray's ``ray.util.ActorPool``.

    ``fn(actor, value)`` starts one task and returns its ``ObjectRef``, for
    example ``lambda a, v: a.double.remote(v)``. Each actor runs at most
    ``max_in_flight_per_actor`` pool tasks at once (1, as in Ray; raise it for
    actors with ``max_concurrency > 1``). Values submitted while every actor is
    busy wait in the pool and start, in order, as soon as an actor's task
    finishes. An actor found dead leaves the pool; the values it had not
    started go to the others.

    The pool belongs to the event loop it is first used on; like Ray's, it is
    not thread-safe.

    Raises:
        TypeError: ``actors`` is not an iterable of ``ActorHandle``s, or
            ``max_in_flight_per_actor`` is not an int.
        ValueError: an actor appears twice, or ``max_in_flight_per_actor < 1``.
    """

    def __init__(
        self, actors: Iterable[ActorHandle[Any]], *, max_in_flight_per_actor: int = 1
    ) -> None:
        if isinstance(max_in_flight_per_actor, bool) or not isinstance(
            max_in_flight_per_actor, int
        ):
            raise TypeError(
                "max_in_flight_per_actor must be an int, got "
                f"{type(max_in_flight_per_actor).__name__}"
            )
        if max_in_flight_per_actor < 1:
            raise ValueError(f"max_in_flight_per_actor must be >= 1, got {max_in_flight_per_actor}")
        if isinstance(actors, ActorHandle):
            raise TypeError("ActorPool() takes a list of ActorHandles, got one ActorHandle")
        self._limit = max_in_flight_per_actor
        self._loop: asyncio.AbstractEventLoop | None = None
        # The actors in the pool, by handle (handles to one actor are equal).
        self._members: dict[ActorHandle[Any], _Member] = {}
        # One entry per free task slot, oldest first, so that work spreads over
        # the actors; entries of removed members are stale and skipped.
        self._free: deque[_Member] = deque()
        self._free_count = 0
        # Submissions waiting for a free actor, in order; ignored ones are skipped.
        self._queue: deque[_Task] = deque()
        self._queued = 0
        # Unreturned submissions in submission order, and those done in finishing
        # order; both may hold already-returned tasks, dropped when reached.
        self._order: deque[_Task] = deque()
        self._completed: deque[_Task] = deque()
        self._unreturned = 0
        self._next_index = 0
        # The highest index returned so far: get_next() below it would break order.
        self._max_returned = -1
        self._waiters: list[asyncio.Future[None]] = []
        self._pump_scheduled = False
        members = [self._add(actor, "ActorPool()") for actor in actors]
        # Slot by slot across the actors, so that the first tasks go to different actors.
        self._free.extend(members * self._limit)
        self._free_count = len(self._free)

    # -- Ray's API ----------------------------------------------------------------

    def map(
        self, fn: Callable[[ActorHandle[Any], _V], ObjectRef[_R]], values: Iterable[_V]
    ) -> AsyncIterator[_R]:
        """Submit ``fn`` over ``values`` now and iterate over the results in order.

        ``async for result in pool.map(lambda a, v: a.double.remote(v), values)``.
        Every value is submitted before this returns, as in Ray. The iterator
        yields ``get_next()`` until ``has_next()`` is False; a failed task raises
        its exception from the iteration, and the results after it stay in the
        pool.

        Raises:
            ValueError: results of earlier submissions are not retrieved yet
                (Ray discards them; here they are kept, so retrieve them first).
            TypeError: ``fn`` is not callable.
        """
        self._check_no_results("map")
        for i, v in enumerate(values):
            self._submit(fn, v, ("map", i))
        return _Results(self, ordered=True)

    def map_unordered(
        self, fn: Callable[[ActorHandle[Any], _V], ObjectRef[_R]], values: Iterable[_V]
    ) -> AsyncIterator[_R]:
        """As ``map()``, but yield each result as soon as its task finishes.

        Raises:
            ValueError: results of earlier submissions are not retrieved yet.
            TypeError: ``fn`` is not callable.
        """
        self._check_no_results("map_unordered")
        for i, v in enumerate(values):
            self._submit(fn, v, ("map_unordered", i))
        return _Results(self, ordered=False)

    def submit(self, fn: Callable[[ActorHandle[Any], _V], ObjectRef[_R]], value: _V) -> None:
        """Run ``fn(actor, value)`` on a free actor now, or as soon as one is free.

        Retrieve the result with ``get_next()`` or ``get_next_unordered()``. If
        ``fn`` raises or returns something other than an ``ObjectRef``, that
        error is this submission's result.

        Raises:
            TypeError: ``fn`` is not callable.
            RuntimeError: no event loop is running here, or it is not the loop
                the pool was first used on.
        """
        self._submit(fn, value, ("submit", self._next_index))

    def _submit(
        self,
        fn: Callable[[ActorHandle[Any], _V], ObjectRef[_R]],
        value: _V,
        origin: tuple[str, int],
    ) -> None:
        if not callable(fn):
            raise TypeError(
                f"submit() takes fn(actor, value) returning an ObjectRef, such as "
                f"'lambda a, v: a.method.remote(v)'; got {type(fn).__name__}"
            )
        self._bind_loop("submit")
        task = _Task(self._next_index, fn, value, origin)
        # Account for the task before fn runs: fn may itself submit.
        self._next_index += 1
        self._order.append(task)
        self._unreturned += 1
        member = None if self._queued else self._take_slot()
        if member is None:
            self._queue.append(task)
            self._queued += 1
        else:
            self._start(task, member)

    def has_next(self) -> bool:
        """Whether any submission's result is not retrieved yet (queued ones included)."""
        return self._unreturned > 0

    def has_free(self) -> bool:
        """Whether an actor could take a task now: one has room and none is queued."""
        return self._free_count > 0 and not self._queued

    async def get_next(self, timeout: float | None = None, ignore_if_timedout: bool = False) -> _R:
        """The next result in submission order, waiting up to ``timeout`` seconds.

        A failed task raises its exception here (its actor is already free
        again). With ``ignore_if_timedout=True`` a timeout also gives up that
        result: it is never returned, a queued value never runs, and a running
        task keeps its actor busy until it finishes.

        Raises:
            StopAsyncIteration: no result is left (Ray raises ``StopIteration``,
                which a coroutine cannot raise).
            ValueError: ``get_next_unordered()`` has already returned a later
                result, so submission order is lost.
            GetTimeoutError: "Timed out waiting for result"; a ``TimeoutError``,
                as Ray raises. The task goes on unless ignored.
            RuntimeError: the next result waits for an actor and the pool has
                none (they died or were popped): ``push()`` one first.
            Exception: whatever the task raised, including ``ActorDiedError``.
        """

        def pick() -> _Task | None:
            head = self._head()
            if head is None:
                raise StopAsyncIteration("No more results to get")
            if head.index < self._max_returned:
                raise ValueError(
                    "It is not allowed to call get_next() after get_next_unordered() "
                    "returned a later result: submission order is lost; use "
                    "get_next_unordered() until has_next() is False"
                )
            return head if head.done else None

        return await self._next("get_next", pick, timeout, ignore_if_timedout)

    async def get_next_unordered(
        self, timeout: float | None = None, ignore_if_timedout: bool = False
    ) -> _R:
        """Whichever result is ready first, waiting up to ``timeout`` seconds.

        Raises what ``get_next()`` raises, but never ``ValueError``; on a timeout
        with ``ignore_if_timedout=True`` the oldest unretrieved result is ignored.
        """

        def pick() -> _Task | None:
            if not self._unreturned:
                raise StopAsyncIteration("No more results to get")
            completed = self._completed
            while completed:
                task = completed.popleft()
                if not task.returned:
                    return task
            return None

        return await self._next("get_next_unordered", pick, timeout, ignore_if_timedout)

    def push(self, actor: ActorHandle[Any]) -> None:
        """Add an idle actor to the pool; it starts queued submissions at once.

        Raises:
            TypeError: ``actor`` is not an ActorHandle.
            ValueError: the actor already belongs to the pool.
        """
        if self._queued:
            self._bind_loop("push")
        member = self._add(actor, "push()")
        self._free.extend([member] * self._limit)
        self._free_count += self._limit
        if self._queued:
            self._pump()

    def pop_idle(self) -> ActorHandle[Any] | None:
        """Remove an actor running no pool task and return it; ``None`` if there is none.

        As in Ray, nothing is popped while submissions are queued (``has_free()`` is
        False then).
        """
        if not self.has_free():
            return None
        for member in reversed(self._members.values()):
            if member.in_flight == 0 and member.handle._core.state is not _DEAD:
                self._remove(member)
                return member.handle
        return None

    def __repr__(self) -> str:
        return (
            f"<ActorPool actors={len(self._members)} free_slots={self._free_count} "
            f"queued={self._queued} unretrieved={self._unreturned}>"
        )

    # -- membership -----------------------------------------------------------------

    def _add(self, actor: ActorHandle[Any], where: str) -> _Member:
        """Make ``actor`` a member, without free slots yet."""
        if not isinstance(actor, ActorHandle):
            raise TypeError(f"{where} takes ActorHandles, got {type(actor).__name__}")
        if actor in self._members:
            raise ValueError(f"Actor already belongs to current ActorPool: {actor!r}")
        member = self._members[actor] = _Member(actor)
        return member

    def _remove(self, member: _Member) -> None:
        """Take ``member`` out of the pool; its free slots go with it."""
        member.removed = True
        del self._members[member.handle]
        self._free_count -= self._limit - member.in_flight
        # A waiter may now be waiting for an actor that will never come.
        self._wake()

    def _take_slot(self) -> _Member | None:
        free = self._free
        while free:
            member = free[0]
            if member.removed:
                free.popleft()
            elif member.handle._core.state is _DEAD:
                # Dead while idle: giving it the value would only fail it.
                self._remove(member)
            else:
                free.popleft()
                self._free_count -= 1
                return member
        return None

    # -- running --------------------------------------------------------------------

    def _start(self, task: _Task, member: _Member) -> None:
        """Call ``fn`` for ``task`` on ``member`` and watch the ref it returns.

        Re-raises what is not an ``Exception`` (KeyboardInterrupt...) once it is
        also the task's result.
        """
        fn = task.fn
        assert fn is not None
        member.in_flight += 1
        task.member = member
        task.fn = None
        interrupt: BaseException | None = None
        try:
            ref = fn(member.handle, task.value)
            if not isinstance(ref, ObjectRef):
                raise TypeError(
                    f"ActorPool fn must return an ObjectRef (e.g. 'lambda a, v: "
                    f"a.method.remote(v)'), got {type(ref).__name__}"
                )
        except BaseException as exc:
            # The submission's result is this error, delivered by get_next*()
            # (or logged if nobody retrieves it), like a method's exception.
            ref = ObjectRef(self._loop)
            method, position = task.origin
            what = "submission" if method == "submit" else "value"
            describe_failure(
                ref,
                f"ActorPool.{method}()'s fn for its {what} #{position} "
                f"({reprlib.repr(task.value)})",
            )
            ref._set_exception(exc)
            if not isinstance(exc, Exception):
                interrupt = exc
        task.ref = ref
        self._watch(task, ref)
        if interrupt is not None:
            raise interrupt

    def _watch(self, task: _Task, ref: ObjectRef[Any]) -> None:
        loop = self._loop
        assert loop is not None
        finished = partial(self._finished, task)
        if ref._loop is loop or ref._loop is None:
            ref._add_callback(finished)
        else:
            # A ref of another loop reports its outcome to this one.
            def relay(ref: ObjectRef[Any]) -> None:
                loop.call_soon_threadsafe(finished, ref)

            ref._loop.call_soon_threadsafe(ref._add_callback, relay)

    def _finished(self, task: _Task, _ref: ObjectRef[Any]) -> None:
        task.done = True
        member = task.member
        assert member is not None
        if not member.removed and member.handle._core.state is _DEAD:
            self._remove(member)
        member.in_flight -= 1
        if not member.removed:
            self._free.append(member)
            self._free_count += 1
            if self._queued and not self._pump_scheduled:
                # Start the next values from the loop, not from inside the
                # resolution of another actor's call.
                self._pump_scheduled = True
                assert self._loop is not None
                self._loop.call_soon(self._pump)
        if not task.returned:
            self._completed.append(task)
        self._wake()

    def _pump(self) -> None:
        """Start queued submissions while actors have room."""
        self._pump_scheduled = False
        queue = self._queue
        while queue:
            task = queue[0]
            if task.returned:  # ignored on a timeout before it started
                queue.popleft()
                continue
            member = self._take_slot()
            if member is None:
                return
            queue.popleft()
            self._queued -= 1
            self._start(task, member)

    # -- retrieval ------------------------------------------------------------------

    def _head(self) -> _Task | None:
        order = self._order
        while order and order[0].returned:
            order.popleft()
        return order[0] if order else None

    async def _next(
        self,
        where: str,
        pick: Callable[[], _Task | None],
        timeout: float | None,
        ignore_if_timedout: bool,
    ) -> _R:
        check_timeout(timeout)
        if not isinstance(ignore_if_timedout, bool):
            raise TypeError(
                f"ignore_if_timedout must be a bool, got {type(ignore_if_timedout).__name__}"
            )
        try:
            async with asyncio.timeout(timeout) as scope:
                while True:
                    task = pick()
                    if task is not None:
                        return self._take(task)
                    if not self._members and self._queued == self._unreturned:
                        raise RuntimeError(
                            f"ActorPool has no actors to run its {self._queued} queued "
                            "submission(s): they died or were popped; push() an actor first"
                        )
                    await self._changed(where)
        except TimeoutError:
            if not scope.expired():
                raise
            self._timed_out(timeout, ignore_if_timedout)

    def _take(self, task: _Task) -> _R:
        task.returned = True
        self._unreturned -= 1
        if task.index > self._max_returned:
            self._max_returned = task.index
        # Returned tasks leave the deques when they reach the front, so that a
        # long run of get_next() does not pile them up in _completed.
        completed = self._completed
        while completed and completed[0].returned:
            completed.popleft()
        self._head()
        ref = task.ref
        assert ref is not None
        task.ref = task.value = task.member = None
        return ref._outcome()  # type: ignore[no-any-return]

    def _timed_out(self, timeout: float | None, ignore: bool) -> NoReturn:
        task = self._head() if ignore else None
        if task is None:
            raise GetTimeoutError(f"{_TIMEOUT_MESSAGE} ({timeout} s)") from None
        # The task's ref, if any, stays unretrieved: a failure of it is logged.
        task.returned = True
        self._unreturned -= 1
        if task.index > self._max_returned:
            self._max_returned = task.index
        if task.ref is None:
            self._queued -= 1
            fate = "will not run"
        else:
            fate = "keeps its actor busy until it finishes"
        # Let the ref go as soon as its call does, so that a failure is logged then.
        value, task.value, task.ref = task.value, None, None
        self._wake()
        raise GetTimeoutError(
            f"{_TIMEOUT_MESSAGE} ({timeout} s). The task for value "
            f"{reprlib.repr(value)} has been ignored; it {fate}"
        ) from None

    def _check_no_results(self, where: str) -> None:
        if self._unreturned:
            raise ValueError(
                f"{where}() would mix its results with {self._unreturned} earlier "
                "submission(s) not retrieved yet; retrieve them with get_next() or "
                "get_next_unordered() first"
            )

    def _bind_loop(self, where: str) -> asyncio.AbstractEventLoop:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                f"ActorPool.{where}() must be called inside a running event loop"
            ) from None
        if self._loop is None:
            self._loop = running
        elif running is not self._loop:
            raise RuntimeError(
                f"ActorPool.{where}() was called on another event loop than the one "
                "the pool was first used on"
            )
        return running

    async def _changed(self, where: str) -> None:
        """Wait until a task finishes or the pool's membership changes."""
        fut = self._bind_loop(where).create_future()
        self._waiters.append(fut)
        try:
            await fut
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(fut)

    def _wake(self) -> None:
        waiters = self._waiters
        if waiters:
            self._waiters = []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)


class _Results(AsyncIterator[_R]):
    """What ``map()`` and ``map_unordered()`` return: the pool's results until none is left."""

    __slots__ = ("_ordered", "_pool")

    def __init__(self, pool: ActorPool[_R], *, ordered: bool) -> None:
        self._pool = pool
        self._ordered = ordered

    async def __anext__(self) -> _R:
        pool = self._pool
        if not pool.has_next():
            raise StopAsyncIteration
        if self._ordered:
            return await pool.get_next()
        return await pool.get_next_unordered()
