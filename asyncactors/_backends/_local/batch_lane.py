"""The queues and calls of batched methods: ``BatchLane`` and ``BatchCall``.

Loaded by the first actor of a class with a batched method (see ``batch``), and
by deadlock detection; a program that batches nothing never loads it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Set
from typing import TYPE_CHECKING, Any, Final, cast

from ..._exceptions import TaskCancelledError
from ..._mailbox import Lane
from ..._ref import ACCELERATED, OK, WAITER, ObjectRef
from ..._specs import BatchSpec, MethodSpec
from ..._types import SYNC, ActorState
from .base import CoreBase
from .call import QUEUED, RUNNING, Call, Item

if TYPE_CHECKING:
    from .call import CallOwner

__all__ = ["BatchCall", "BatchLane"]

InvalidStateError = asyncio.InvalidStateError

_ALIVE: Final = ActorState.ALIVE

# What a batch lane's ``head`` reads as: never None (see BatchLane).
_NOT_EMPTY: Final = object()


class BatchLane(Lane):
    """One batched method's items on one actor, waiting for their batch.

    A lane of the mailbox from which nothing runs: its ``limit`` of 0 keeps the
    engine from draining it, and its items wait in ``items``. Its ``head`` reads
    as a marker, never ``None``, so that ``Mailbox.put`` hands every item to
    ``push()`` instead of storing it as the lane's head.
    """

    __slots__ = (
        "core",
        "flushed",
        "items",
        "max_size",
        "plain",
        "set_in",
        "spec",
        "target",
        "timer",
        "values",
        "wait_s",
    )

    head = _NOT_EMPTY

    def __init__(self, core: CoreBase, spec: BatchSpec, target: Lane) -> None:
        # Not Lane.__init__, which would store a head.
        self.limit = 0
        self.running = 0
        self.idle = 0
        self.rest = None
        self.retries = None
        self.core = core
        self.spec = spec
        # The lane of the method's concurrency group, where flushed batches run.
        self.target = target
        # The items waiting, oldest first, and their arguments: the list the method
        # gets. Lists, not deques: a batch that takes every item takes both lists as
        # they are, without touching (counting references to, reading) each item.
        self.items: list[Call] = []
        self.values: list[Any] = []
        # Expires when the oldest item has waited long enough. A batch that fills
        # cancels it: left to fire for nothing, it would wake the loop, and a loop that
        # sleeps again at that odd moment sleeps past the next timer due (epoll rounds
        # its wait up to whole milliseconds; measured, about 2% of batch_io's
        # throughput).
        self.timer: asyncio.Handle | None = None
        # Batches flushed and maybe not started, oldest first, so that a cancelled item
        # leaves its batch.
        self.flushed: deque[BatchCall] = deque()
        # The limits, and the incarnation that set them at run time (-1: the declared ones).
        self.max_size = spec.max_batch_size
        self.wait_s = spec.batch_wait_timeout_s
        self.set_in = -1
        # The type of the last item sent that is no ObjectRef: items are mostly of one
        # type, and comparing it costs less than isinstance() for each.
        self.plain: type | None = None

    def _refresh(self) -> None:
        """Go back to the declared limits if those in force were set by an earlier instance."""
        if self.set_in >= 0 and self.set_in != self.core.incarnation:
            spec = self.spec
            self.max_size = spec.max_batch_size
            self.wait_s = spec.batch_wait_timeout_s
            self.set_in = -1

    def configure(self, max_batch_size: int | None, batch_wait_timeout_s: float | None) -> None:
        """Change the limits for this incarnation; a batch made full by it is flushed.

        A new wait applies from the next batch on.
        """
        self._refresh()
        if max_batch_size is not None:
            self.max_size = max_batch_size
        if batch_wait_timeout_s is not None:
            self.wait_s = batch_wait_timeout_s
        self.set_in = self.core.incarnation
        self.flush(partial=0)

    # -- Lane ---------------------------------------------------------------------

    def push(self, msg: Any) -> None:
        """An item arrives; Mailbox.put or Mailbox._admit counts its place once this returns.

        ``batch.ItemSender.send`` inlines this for an item that finds room.
        """
        items = self.items
        items.append(msg)
        self.values.append(_item_of(msg))
        if len(items) == 1:
            self._first()
        elif len(items) >= self.max_size:
            # Inside the mailbox's own bookkeeping: it admits waiters itself after this.
            self.flush(partial=0, admit=False)

    def _first(self) -> None:
        """The first item of a batch has arrived: start its wait (or flush a batch of one)."""
        self._refresh()
        if self.max_size <= 1:
            self.flush(partial=0, admit=False)
        else:
            self._start_timer()

    def pop(self) -> Any:  # pragma: no cover - the engine never drains a batch lane
        raise RuntimeError("a batch lane is not drained: its batches run from their own lane")

    def discard(self, msg: Any) -> bool:
        """Remove a cancelled item: from the queue (``True``), or from a batch not yet started.

        An item in a flushed batch has no place of its own in the mailbox any
        more, so that case returns ``False``: the mailbox has nothing to free.
        """
        items = self.items
        try:
            i = items.index(msg)
        except ValueError:
            pass
        else:
            del items[i]
            del self.values[i]
            if not items:
                self._stop_timers()
            return True
        for batch in self.flushed:
            if batch._pos != RUNNING and not batch._state and batch._drop(msg):
                break
        return False

    def __len__(self) -> int:
        return len(self.items)

    # -- flushing -----------------------------------------------------------------

    def _start_timer(self) -> None:
        core = self.core
        wait = self.wait_s
        if wait <= 0 or core.stopping is not None:
            self.timer = core.loop.call_soon(self._expired, context=core.ctx)
        else:
            self.timer = core.loop.call_later(wait, self._expired, context=core.ctx)

    def _stop_timers(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expired(self) -> None:
        self.timer = None
        self.flush(partial=1)

    def flush(self, partial: int, *, admit: bool = True) -> None:
        """Flush the full batches, and up to ``partial`` batches that are not full, oldest first.

        Each batch is queued at the back of its concurrency group's lane and
        takes the place of one of its items; ``admit``: admit calls waiting for
        the places freed. The items left start a new wait.
        """
        self._refresh()
        items = self.items
        values = self.values
        size = self.max_size
        batches: list[tuple[list[Call], list[Any]]] = []
        while items and (partial > 0 or len(items) >= size):
            partial -= 1
            if len(items) <= size:
                batches.append((items, values))
                items = self.items = []
                values = self.values = []
            else:
                batches.append((items[:size], values[:size]))
                del items[:size]
                del values[:size]
        if not batches:
            return
        self._stop_timers()
        if items:
            self._start_timer()
        core = self.core
        mb = core.mailbox
        assert mb is not None
        target = self.target
        flushed = self.flushed
        # They start in the order they were flushed, give or take a retry.
        while flushed and (flushed[0]._pos == RUNNING or flushed[0]._state):
            flushed.popleft()
        run = self.spec.run
        # A batch of an async (or threaded) method with a free slot and nothing ahead
        # of it starts in a worker task now, as Dispatch.call starts such a call:
        # not a drain in the next loop iteration that would start it in the one after.
        spawn = run.kind is not SYNC and core.state is _ALIVE and core.stopping is None
        freed = 0
        queued = False
        for batch_items, batch_values in batches:
            batch = BatchCall(core, run, batch_items, batch_values)
            batch._lane = target
            batch._pos = QUEUED
            flushed.append(batch)
            freed += len(batch_items)
            if (
                spawn
                and target.head is None
                and not target.retries
                and not target.idle
                and target.running < target.limit
            ):
                core._spawn(target, batch)  # it holds no place in the mailbox
            else:
                target.push(batch)
                freed -= 1  # it takes the place of one of its items
                queued = True
        if admit:
            mb.release(freed)
        else:
            mb.depth -= freed
        if queued and core.state is _ALIVE and not target.idle and target.running < target.limit:
            core._schedule_drain()

    def fail(self, error: Callable[[], BaseException]) -> None:
        """Fail every item still waiting (the actor stops or dies) and stop the timers."""
        self._stop_timers()
        self.flushed.clear()  # those not started are queued in their lane, and fail there
        items, self.items = self.items, []
        self.values = []
        mb = self.core.mailbox
        assert mb is not None
        mb.release(len(items))
        for item in items:
            item._set_exception(error())


class BatchCall(Call):
    """A flushed batch: one call of the batched method with the list of its items' arguments.

    The engine runs it as any call; its result (or exception) settles its items.
    """

    __slots__ = ("_items",)

    _items: list[Call] | None

    def __init__(
        self, core: CallOwner, spec: MethodSpec, items: list[Call], values: list[Any]
    ) -> None:
        """A batch of ``items``, whose arguments are ``values`` (as the lane keeps them)."""
        Call.__init__(self, core, spec, (values,), {})
        self._items = items

    def _describe(self) -> str:
        n = len(self._items) if self._items is not None else 0
        return f"batch of {n} calls {self._spec.name}() on {self._core.describe()}"

    def _drop(self, item: Call) -> bool:
        """Take a cancelled ``item`` out of this batch, not yet started; whether it was in it."""
        items = self._items
        assert items is not None
        try:
            i = items.index(item)
        except ValueError:
            return False
        del items[i]
        del self._args[0][i]
        if not items:
            mb = self._core.mailbox
            assert mb is not None
            mb.remove(self)
            ObjectRef._set_exception(
                self, TaskCancelledError(f"{self._describe()} was cancelled"), log=False
            )
        return True

    def _set_result(self, value: Any) -> None:
        items = self._items
        if self._state or items is None:
            return
        self._items = None
        # Nobody awaits the batch itself, and its value is its items'.
        ObjectRef._set_result(self, None)
        core = cast(CoreBase, self._core)
        core.processed += len(items) - 1
        results = _split(self._spec, value, len(items))
        if isinstance(results, BaseException):
            core.failed += len(items)
            for item in items:
                item._set_exception(results)
            return
        # settle() resolves the plain items awaited once, as most are; it stops at
        # any other, settled here.
        n = len(items)
        i = _settle(items, results, 0, Item)
        while i < n:
            result = results[i]
            if isinstance(result, BaseException):
                core.failed += 1
                items[i]._set_exception(result)
            else:
                items[i]._set_result(result)
            i = _settle(items, results, i + 1, Item)

    def _set_exception(self, exc: BaseException, *, log: bool = True) -> None:
        items = self._items
        if self._state or items is None:
            return
        self._items = None
        ObjectRef._set_exception(self, exc, log=False)
        if self._pos == RUNNING:
            # The engine counted the batch as one call.
            core = cast(CoreBase, self._core)
            core.processed += len(items) - 1
            core.failed += len(items) - 1
        for item in items:
            item._set_exception(exc)


BatchCall.__name__ = BatchCall.__qualname__ = "ObjectRef"


def _item_of(call: Call) -> Any:
    """The item of a call of a batched method: its one argument, positional or named."""
    if call._args:
        return call._args[0]
    (value,) = call._kwargs.values()
    return value


def _py_settle(items: list[Call], results: list[Any], start: int, item_type: type[Call]) -> int:
    """``_speedups.settle`` in Python: from ``items[start]`` on, while an item is of
    ``item_type`` exactly (whose ``_set_result`` is ``ObjectRef``'s), is awaited once
    outside an actor (its waiter a ``WAITER``) and its result is no exception, resolve
    it and its waiter as ``ObjectRef._set_result`` would. Return the index of the first
    item that is not such: ``len(items)`` once all are."""
    for i in range(start, len(items)):
        item = items[i]
        result = results[i]
        waiter = item._waiters
        if (
            type(item) is not item_type
            or type(waiter) is not WAITER
            or isinstance(result, BaseException)
        ):
            return i
        # A pending item (resolving a ref drops its waiters).
        item._waiters = None
        item._state = OK
        item._value = result
        # Not done() first, nor contextlib.suppress: a try costs nothing.
        try:  # noqa: SIM105
            waiter.set_result(result)
        except InvalidStateError:
            pass  # its awaiter was cancelled
    return len(items)


if ACCELERATED:
    from ... import _speedups

    _settle: Callable[[list[Call], list[Any], int, type[Call]], int] = _speedups.settle
else:
    _settle = _py_settle


def _split(spec: MethodSpec, value: Any, n: int) -> list[Any] | BaseException:
    """The batch's ``n`` results in order, or the error that fails every item of it."""
    if type(value) is list and len(value) == n:
        return value
    label = f"{spec.class_name}.{spec.name}()"
    if isinstance(value, list):
        results: list[Any] = list(value)  # a plain list, as settle() takes
    elif isinstance(value, str | bytes | bytearray | Mapping | Set) or not (
        isinstance(value, Iterable) and hasattr(value, "__len__")
    ):
        return TypeError(
            f"{label} is a batched method: it must return a list with one result per "
            f"item ({n}), in order; it returned {type(value).__name__}"
        )
    else:
        results = list(value)
    if len(results) != n:
        return ValueError(
            f"{label} is a batched method: it returned {len(results)} results for a batch "
            f"of {n} items; it must return one result (or exception) per item, in order"
        )
    return results
