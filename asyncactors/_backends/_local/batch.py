"""Batched methods (``@asyncactors.batch``): items queue per actor and method, and run as one call.

Every batched method has a ``BatchLane`` in each actor's mailbox. Items reach it
as any call reaches its lane (``Mailbox.put``, or from the overflow of a full
mailbox), in submission order, and keep their place in the mailbox while they
wait, without holding a concurrency slot. The lane is flushed when it holds
``max_batch_size`` items, or once its oldest item has waited
``batch_wait_timeout_s``: the items become one ``BatchCall``, queued at the back
of the lane of the method's concurrency group, where it takes the place of one
item in the mailbox and, when it runs, one slot. From there on the batch is an
ordinary call: it runs inline, in a worker task or in a thread, is retried,
requeued by a restart or failed by a death as any call is, and its outcome is
split among its items.

Nothing here is on the path of other calls: the engine's lanes and its hot path
know nothing of batches. This module is the actor's side (``Batches``, a mixin
of ``ActorCore``); the lanes and calls are in ``batch_lane``, loaded by the first
actor of a class that batches.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..._mailbox import Lane, Mailbox
from ..._ref import ObjectRef
from ..._specs import MethodSpec
from .base import CoreBase
from .call import OVERFLOW, QUEUED, Call, Item
from .common import NO_KWARGS

if TYPE_CHECKING:
    from .batch_lane import BatchLane

__all__ = ["Batches", "ItemSender"]

_get_running_loop = asyncio._get_running_loop
_new = object.__new__
_get_ident = threading.get_ident


class Batches(CoreBase):
    """The actor's side of batched methods: their queues in the mailbox, limits, stops."""

    __slots__ = ()

    def _new_mailbox(self) -> Mailbox:
        """Make the actor's mailbox (once, on first use), with a queue per batched method."""
        config = self.config
        batched = self.spec.batched
        if not config.groups and not batched:
            # Most actors: Mailbox(...) and its default Lane, made without their
            # __init__ frames (test_hot_path checks that the fields match), as an
            # actor's first call makes its mailbox.
            lane = _new(Lane)
            lane.limit = config.max_concurrency
            lane.running = lane.idle = 0
            lane.caught = False
            lane.head = lane.rest = lane.retries = None
            mb = self.mailbox = _new(Mailbox)
            mb.capacity = config.mailbox_size
            mb.depth = mb.peak = 0
            mb.default = lane
            mb.groups = mb.overflow = None
            mb.lanes = (lane,)
            return mb
        mb = self.mailbox = Mailbox(config.mailbox_size, config.max_concurrency, config.groups)
        if not batched:
            return mb
        from .batch_lane import BatchLane  # here: loaded by the first actor that batches

        for method in batched:
            batch = method.batch
            assert batch is not None
            mb.attach(batch, BatchLane(self, batch, mb.lane(batch.run.group)))
        return mb

    def item_sender(self, spec: MethodSpec) -> Callable[..., ObjectRef[Any]]:
        """What ``handle.method.remote`` is for batched method ``spec``: it sends one item."""
        return ItemSender(self, spec).send

    def _batch_lanes(self) -> Iterator[BatchLane]:
        mb = self.mailbox
        batched = self.spec.batched
        if mb is None or not batched:
            return
        from .batch_lane import BatchLane  # loaded by _new_mailbox() already

        for method in batched:
            lane = mb.lane(method.batch)
            assert isinstance(lane, BatchLane)
            yield lane

    def set_batch_limits(
        self, method: str, max_batch_size: int | None, batch_wait_timeout_s: float | None
    ) -> None:
        """Change a batched method's limits for this incarnation (any thread).

        From another thread than the loop's the change is made soon after.
        """
        if _get_running_loop() is not self.loop:
            self.loop.call_soon_threadsafe(
                functools.partial(
                    self.set_batch_limits, method, max_batch_size, batch_wait_timeout_s
                ),
                context=self.ctx,
            )
            return
        mb = self.mailbox
        if mb is None:
            mb = self._new_mailbox()
        from .batch_lane import BatchLane  # loaded by _new_mailbox() already

        lane = mb.lane(self.spec.methods[method].batch)
        assert isinstance(lane, BatchLane)
        lane.configure(max_batch_size, batch_wait_timeout_s)

    def _flush_batches(self) -> None:
        """Flush every item waiting for a batch now: the actor is stopping behind them."""
        for lane in self._batch_lanes():
            lane.flush(partial=len(lane.items))

    def _fail_batches(self, reason: str) -> None:
        """Fail every item waiting for a batch with ``ActorDiedError`` for ``reason``."""
        for lane in self._batch_lanes():
            lane.fail(lambda: self._error(reason))

    def _batch_items(self) -> Iterator[Call]:
        """The items waiting for a batch, for leak reports."""
        for lane in self._batch_lanes():
            yield from lane.items


class ItemSender:
    """Sends items of one batched method to one actor: ``handle.method.remote`` is its
    bound ``send``, called without a frame of the handle's in between.

    It keeps its actor alive as a handle does: ``send`` may outlive the handle and
    method it came from (``f = handle.method.remote``).
    """

    __slots__ = ("core", "spec")

    def __init__(self, core: Batches, spec: MethodSpec) -> None:
        core.handle_added()
        self.core = core
        self.spec = spec

    def __del__(self) -> None:
        core = getattr(self, "core", None)
        if core is not None:
            core.handle_released()

    def __repr__(self) -> str:
        spec = self.spec
        return f"<sender of items to {spec.class_name}.{spec.name}() on {self.core.describe()}>"

    def send(self, *args: Any, **kwargs: Any) -> ObjectRef[Any]:
        """Send one item to the batched method; return the ``ObjectRef`` of its result at once.

        Callable from any thread. The item waits for its batch: the method runs once
        ``max_batch_size`` items wait, or once the oldest has waited
        ``batch_wait_timeout_s``, with the list of their items. Awaiting the ref gives
        this item's entry of the list the method returns, or raises the exception
        found there (or the batch's own error). The item runs even if nobody awaits
        the ref; when the mailbox is full it waits for room, in order.

        Raises:
            TypeError: not exactly one item (the method's one argument).
            PendingCallsLimitExceeded: the actor has ``max_pending_calls`` calls pending.
        """
        # call()'s path, shortened for an item given as is, on the loop's thread, to an
        # actor taking calls without max_pending_calls; anything else takes call()'s.
        core = self.core
        spec = self.spec
        if kwargs or len(args) != 1:  # the one item, named or missing: let check() say
            try:
                spec.check(args, kwargs)
            except TypeError as exc:
                # check() names the list parameter: say what .remote() takes instead.
                raise TypeError(
                    f"{spec.class_name}.{spec.name}() is a batched method: .remote() "
                    f"takes one item, which the method receives in a list ({exc})"
                ) from None
            return core.call(spec, args, kwargs)
        mb = core.mailbox
        cold = core.cold
        loop = core.loop
        host = core.host
        marked = host.thread_loop
        if (
            mb is None
            or (cold is not None and cold.pending is not None)
            or core.refusing
            # not core.on_loop(), inlined (see Dispatch.call): no getpid() on the loop's thread
            or (
                (
                    marked._thread_id != _get_ident()
                    if marked is not None
                    else host.thread_id != _get_ident() or not loop.is_running()
                )
                and _get_running_loop() is not loop
            )
        ):
            return core.call(spec, args, kwargs)
        lane: BatchLane = mb.groups[spec.group]  # type: ignore[index,assignment]
        item = args[0]
        kind = type(item)
        if kind is not lane.plain:
            if issubclass(kind, ObjectRef):
                return core.call(spec, args, kwargs)  # resolved first, as a call's ref argument
            lane.plain = kind
        # Call(core, spec, args, kwargs) without Call.__init__ (see Dispatch.call),
        # nor object.__new__(Call) (a slot wrapper, which slices its arguments).
        call: Item = Item()
        call._loop = loop
        call._state = 0
        call._waiters = None
        call._log = None
        call._core = core
        call._spec = spec
        call._args = ()  # its lane keeps its argument (see Item)
        call._kwargs = NO_KWARGS
        call._admit = None
        call._lane = lane
        if mb.depth < mb.capacity and not mb.overflow:
            # Mailbox.put and BatchLane.push, inlined.
            call._pos = QUEUED
            items = lane.items
            items.append(call)
            lane.values.append(item)
            if len(items) > 1:
                if len(items) >= lane.max_size:
                    lane.flush(partial=0, admit=False)
            else:
                lane._first()
            depth = mb.depth = mb.depth + 1
            if depth > mb.peak:
                mb.peak = depth
        else:
            call._args = args  # until BatchLane.push gives it to its lane
            mb.wait_for_room(call)
            call._pos = OVERFLOW
        return call
