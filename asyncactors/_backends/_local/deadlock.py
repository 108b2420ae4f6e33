"""Deadlock detection: a wait inside an actor's method that could never end.

Only a wait that blocks is looked at: ``await ref`` on a ref that is not done,
``asyncactors.get()`` and ``asyncactors.wait()`` without a timeout. When it
blocks the worker task of an actor's call W, the wait-for graph is built from
what W waits for:

* a running call waits for what it recorded when it blocked (``Call._blocked``)
  while the future it awaits is pending; any other running call can finish on
  its own;
* a queued call (or one in the overflow of a full mailbox) waits for a slot of
  its lane, so it can start only when one of the calls holding the lane's slots
  finishes; a lane with a free or lingering slot, or a slot held by anything
  but a running call, lets it start;
* a call whose arguments are refs waits for all of them.

A node can finish when enough of what it waits for can (one for a queued call,
all for arguments, ``num_returns`` for ``wait()``); the nodes this least fixpoint
does not reach can never finish. If W is among them, the wait raises
``DeadlockError`` instead of blocking, and each call W waits for that can never
finish is cancelled, so it does not run behind W's back. Each blocking wait
checks the cycle it would close, so whichever wait closes a cycle raises.

A wait with a timeout is neither checked nor recorded: it ends by itself. Waits
in tasks a method starts (``asyncio.gather``, ``create_task``) and on
``ref.future()`` are not seen, nor are ``__post_create__``'s.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

from ..._context import current_actor
from ..._exceptions import DeadlockError
from ..._mailbox import Lane
from ..._ref import ObjectRef
from ..._types import ActorState
from .base import CoreBase
from .call import DEPS, OVERFLOW, QUEUED, RUNNING, Call

if TYPE_CHECKING:
    from .call import CallOwner

__all__ = ["blocked", "check", "done_waiting"]


_current_task = asyncio.current_task

if TYPE_CHECKING:
    # A node of the wait-for graph: a call (or another ref), or the slots of a lane.
    _Node = ObjectRef[Any] | tuple[CallOwner, Lane]
    # What a node waits for: nodes, and how many of them must finish for it to finish.
    _Needs = tuple[Sequence[_Node], int]


def _running_call() -> Call | None:
    """The actor call whose worker task is running here, if any."""
    core = current_actor.get()
    if not isinstance(core, CoreBase):
        return None
    workers = core.workers
    if not workers:
        return None
    # Passing the loop spares current_task() looking it up (Python code in 3.11).
    task = _current_task(core.loop)
    call = workers.get(task) if task is not None else None
    if call is None or call._pos != RUNNING:
        return None  # a hook, or a task the method started: not a slot holder
    return call


def check(
    refs: Sequence[ObjectRef[Any]],
    needed: int,
    fut: asyncio.Future[Any] | None = None,
    *,
    record: bool = False,
) -> None:
    """Check a wait for ``needed`` of ``refs`` that is about to block this task.

    Does nothing outside an actor's call. With ``record``, notes on the waiting
    call what it waits for, for the checks of other waits, until
    ``done_waiting()`` or until ``fut`` (the future the task is about to await)
    is done.

    Raises:
        DeadlockError: the wait could never end. ``fut`` is cancelled first;
            then each call waited for that can never finish is cancelled.
    """
    waiter = _running_call()
    if waiter is None:
        return
    needs = _pending(refs, needed)
    if needs is not None:
        _check(waiter, needs, fut)
        if record:
            assert fut is not None
            waiter._blocked = (refs, needed, fut)


def done_waiting() -> None:
    """The wait ``check(..., record=True)`` recorded here has ended."""
    waiter = _running_call()
    if waiter is not None:
        waiter._blocked = None


def _check(waiter: Call, needs: _Needs, fut: asyncio.Future[Any] | None) -> None:
    stuck = _stuck(waiter, needs)
    if stuck is None:
        return
    graph, finishing = stuck
    err = _error(waiter, graph, finishing)
    if fut is not None:
        fut.cancel()  # before the calls: it must not hold their exception
    for ref in needs[0]:
        if ref not in finishing and ref is not waiter:
            assert isinstance(ref, Call)
            ref._cancel()
    raise err


def blocked(ref: ObjectRef[Any], fut: asyncio.Future[Any]) -> Generator[Any, None, Any]:
    """``ObjectRef.__await__`` inside an actor, for a ref not done: checked, recorded.

    Raises:
        DeadlockError: as ``check()``.
    """
    waiter = _running_call()
    if waiter is None:
        return iter(fut)  # not fut.__await__() (see Call.__await__)
    # Most waits are for a call that can finish on its own: no graph for them.
    if ref is waiter or _needs(ref, waiter) is not None:
        _check(waiter, ((ref,), 1), fut)
    record = waiter._blocked = ((ref,), 1, fut)
    return _recorded(fut, waiter, record)


def _recorded(fut: asyncio.Future[Any], waiter: Call, record: Any) -> Generator[Any, None, Any]:
    try:
        return (yield from fut.__await__())
    finally:
        # The record would keep the ref, and its value, as long as the call.
        if waiter._blocked is record:
            waiter._blocked = None


# -- the wait-for graph ---------------------------------------------------------


def _pending(refs: Sequence[ObjectRef[Any]], needed: int) -> _Needs | None:
    """The refs not done yet and how many of them are still needed; ``None``: none."""
    pending = [r for r in refs if not r._state]
    needed -= len(refs) - len(pending)
    return (pending, needed) if needed > 0 and pending else None


def _needs(node: _Node, waiter: Call) -> _Needs | None:
    """What ``node`` waits for; ``None`` if it can finish without any of it."""
    if isinstance(node, tuple):
        # The slots of a lane, all taken: one frees when one of their calls finishes.
        owner, full = node
        assert owner.workers is not None
        holders: list[_Node] = [
            c
            for c in owner.workers.values()
            if c is not None and c._lane is full and c._pos == RUNNING
        ]
        # A slot held by a worker between calls frees by itself.
        return (holders, 1) if len(holders) >= full.running else None
    if not isinstance(node, Call) or node._state or node._loop is not waiter._loop:
        return None
    pos = node._pos
    core = node._core
    if pos == RUNNING:
        record = getattr(node, "_blocked", None)  # set only on calls that blocked
        if record is None or record[2].done():
            return None
        return _pending(record[0], record[1])
    if pos in (QUEUED, OVERFLOW):
        lane = node._lane
        slots = None if lane is None else _full(core, _runs_in(lane))
        return None if slots is None else ([slots], 1)
    if pos == DEPS:
        # Its arguments first, then a slot of its lane.
        deps = [a for a in (*node._args, *node._kwargs.values()) if isinstance(a, ObjectRef)]
        needs: list[_Node] = [d for d in deps if not d._state]
        mb = core.mailbox
        slots = None if mb is None else _full(core, _runs_in(mb.lane(node._spec.group)))
        if slots is not None:
            needs.append(slots)
        return (needs, len(needs)) if needs else None
    return None


def _runs_in(lane: Lane) -> Lane:
    """The lane whose slots a call queued in ``lane`` needs: a batched item's batch runs
    in its method's concurrency group, once its timer has flushed it."""
    # Only a batch lane has a target (the lane of its group): no need to load its
    # module, which only classes that batch do, to ask.
    target: Lane = getattr(lane, "target", lane)
    return target


def _full(core: CallOwner, lane: Lane) -> tuple[CallOwner, Lane] | None:
    """The node of ``lane``'s slots if none is free now, else ``None``."""
    if (
        core.state is not ActorState.ALIVE
        or lane.idle
        or lane.running < lane.limit
        or not core.workers
    ):
        return None
    return core, lane


if TYPE_CHECKING:
    _Graph = dict[_Node, _Needs]


def _stuck(waiter: Call, needs: _Needs) -> tuple[_Graph, set[_Node]] | None:
    """The graph from ``waiter`` and the nodes that can finish, if ``waiter`` cannot."""
    refs, needed = needs
    if sum(r is not waiter and _needs(r, waiter) is None for r in refs) >= needed:
        return None
    graph: _Graph = {waiter: needs}
    finishing: set[_Node] = set()
    todo: list[_Node] = [waiter]
    while todo:
        for ref in graph[todo.pop()][0]:
            if ref in graph or ref in finishing:
                continue
            ref_needs = _needs(ref, waiter)
            if ref_needs is None:
                finishing.add(ref)
            else:
                graph[ref] = ref_needs
                todo.append(ref)
    waiting_on: dict[_Node, list[_Node]] = {}
    missing: dict[_Node, int] = {}
    for node, (node_refs, node_needed) in graph.items():
        missing[node] = node_needed
        for ref in node_refs:
            waiting_on.setdefault(ref, []).append(node)
    ready = list(finishing)
    while ready:
        for node in waiting_on.get(ready.pop(), ()):
            if node not in finishing:
                missing[node] -= 1
                if missing[node] <= 0:
                    finishing.add(node)
                    ready.append(node)
    return None if waiter in finishing else (graph, finishing)


# -- the message ----------------------------------------------------------------


def _label(call: Call) -> str:
    core = call._core
    named = f", name={core.name!r}" if core.name else ""
    return f"{core.spec.name}(id={core.actor_id}{named}).{call._spec.name}()"


def _chain(waiter: Call, graph: _Graph, finishing: set[_Node]) -> list[_Node]:
    """The shortest path of nodes that cannot finish from ``waiter`` back to itself."""
    first = next(r for r in graph[waiter][0] if r not in finishing)
    previous: dict[_Node, _Node | None] = {first: None}
    todo = deque([first])
    while todo and waiter not in previous:
        node = todo.popleft()
        for ref in graph[node][0]:
            if ref not in finishing and ref not in previous:
                previous[ref] = node
                todo.append(ref)
    path: list[_Node] = []
    at: _Node | None = waiter if waiter in previous else first
    while at is not None:
        path.append(at)
        at = previous[at]
    path.append(waiter)
    path.reverse()
    return path


def _error(waiter: Call, graph: _Graph, finishing: set[_Node]) -> DeadlockError:
    path = _chain(waiter, graph, finishing)
    calls = [node for node in path if isinstance(node, Call)]
    labels = tuple(_label(c) for c in calls)
    if path[1] is waiter:
        return DeadlockError(f"deadlock: {labels[0]} waits for its own result", labels)
    parts = [f"deadlock: {labels[0]} waits for {labels[1]}"]
    for i in range(1, len(path) - 1):
        node, after = path[i], path[i + 1]
        if isinstance(node, Call):
            parts.append(_relation(node, after, path[i + 2] if i + 2 < len(path) else None, graph))
    if path[-1] is not waiter:  # pragma: no cover - defensive: each wait checks its own cycle
        parts.append(", which can never finish")
    return DeadlockError("".join(parts), labels)


def _relation(node: Call, after: _Node, holder: _Node | None, graph: _Graph) -> str:
    """How ``node`` waits for the next call of the chain, ``after`` or the ``holder`` of a slot."""
    if not isinstance(after, tuple):
        assert isinstance(after, Call)
        argument = "its argument " if node._pos == DEPS else ""
        return f", which waits for {argument}{_label(after)}"
    assert isinstance(holder, Call)
    group = node._spec.concurrency_group
    where = "" if group is None else f" in concurrency group {group!r}"
    others = len(graph[after][0]) - 1
    more = f" and {others} other waiting call{'s' * (others > 1)}" if others else ""
    queued = "will queue, once its arguments are ready," if node._pos == DEPS else "is queued"
    return f", which {queued}{where} behind {_label(holder)}{more}"
