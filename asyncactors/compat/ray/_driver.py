"""The event loop of ``asyncactors.compat.ray``, run by whichever thread blocks on it.

Ray's programs are sync: the driver calls ``.remote()`` and blocks in
``ray.get``. Running the actors' event loop in a background thread would cost
two thread hand-offs per blocking get (four for a threaded actor, whose
methods run off the loop), and each hand-off waits for the other thread to be
scheduled: on a busy machine that is most of a call's time. Here instead:

* The loop has one owner at a time (``_lock``). A thread that blocks in a get
  and finds the loop free owns it and runs it (``_drive``) until its refs are
  ready: no hand-off.
* Sync work (a threaded actor's method, a sync task, an actor's ``__init__``)
  is an ``_Item``, run off the loop. An item of a call that the driving
  thread itself waits for (without a timeout) goes to that thread, which
  runs it between turns of the loop, without owning the loop meanwhile: a
  sequential call to a threaded actor stays in the caller's thread. Every
  other item goes to a pool thread at once, so that nobody's wait is held
  up by work it does not wait for.
* A helper thread runs the loop once nobody has for ``GRACE``: actors'
  background work, timers and calls from threads that never block go on. A
  thread that then blocks asks it to hand the loop over. It also gives the
  pool the items a busy thread could not get to within ``GRACE``, so that
  several actors' blocking methods still run in parallel.

A thread running inside the loop (an async method) must not block on it:
``wait()`` raises there.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Generator, Sequence
from typing import Any, Final, TypeVarTuple

from ..._ref import FAILED, unwatch
from ..._ref import ObjectRef as NativeRef

__all__ = ["GRACE", "Driver", "LoopThreadError", "current_item", "note_ctrl_c", "outlived"]

# The helper's shortest look: how long the loop may go unrun before it steps in,
# once nothing has run it for a while.
GRACE: Final = 0.002
# Its longest, while other threads keep running the loop: how late it may step in
# once they stop, and how long an item may wait for a busy thread before the pool
# takes it.
_MAX_POLL: Final = 0.02
# How long turns of the loop run their callbacks without polling for I/O and
# timers first, in switch intervals of the interpreter (sys.getswitchinterval(),
# 5 ms unless changed). A poll lets go of the GIL and takes it straight back, and
# CPython asks the GIL's holder to hand it over only after a whole switch interval
# in which no thread took it: a thread polling more often than that kept every other
# thread from running, for seconds at a time (a timer thread, another thread's get,
# the pool's threads). A poll also costs as much as dozens of callbacks. Bounded by
# time, not by a count of callbacks or turns: while this thread runs items between
# turns, or a callback takes long, a turn takes long too, and a count would let
# timers and I/O wait for as many items.
_POLL_AFTER: Final = 2.0
# Pool threads running items (not blocked in a get) at most.
POOL_CAP: Final = 128
# Pool threads started as soon as items wait; more only when those are stuck.
_POOL_EAGER: Final = max(4, os.cpu_count() or 1)
# An idle pool thread exits after this long.
_POOL_IDLE: Final = 5.0

_get_running_loop = asyncio._get_running_loop
_set_running_loop = asyncio._set_running_loop
_get_ident = threading.get_ident
_switch_interval = sys.getswitchinterval
_copy_context = contextvars.copy_context
_new = object.__new__
_weak = weakref.ref

_Queue = collections.deque
# Not an actor: what _Wants.hit is before any actor is found wanted.
_NOBODY: Final[Any] = object()
_Ts = TypeVarTuple("_Ts")


class _Loop(asyncio.SelectorEventLoop):
    """The driver's event loop: ``call_soon`` in one step (asyncio's takes four calls),
    with the same checks; in debug mode, asyncio's own."""

    def call_soon(
        self,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        if self._debug or self._closed:  # type: ignore[attr-defined]
            return super().call_soon(callback, *args, context=context)
        # asyncio.Handle(callback, args, self, context), without its two calls.
        handle: Any = _new(_Handle)
        handle._context = contextvars.copy_context() if context is None else context
        handle._loop = self
        handle._callback = callback
        handle._args = args
        handle._cancelled = False
        handle._repr = None
        handle._source_traceback = None
        self._ready.append(handle)  # type: ignore[attr-defined]
        return handle  # type: ignore[no-any-return]


_Handle = asyncio.Handle


class LoopThreadError(RuntimeError):
    """A blocking wait was asked for on the event loop's own thread."""


class _ThreadState:
    """What one thread is doing for the drivers. Kept in a plain object that the
    thread-local holds, as each attribute of a ``threading.local`` costs a lookup of
    the thread's own dict, and running an item touches several."""

    __slots__ = ("depth", "driver", "driving", "interrupted", "item", "pool")

    def __init__(self) -> None:
        # Items this thread is running (nested through waits inside them).
        self.depth = 0
        # Whether this is a pool thread.
        self.pool = False
        self.item: _Item | None = None
        # The driver whose item this thread runs, if any.
        self.driver: Driver | None = None
        # Whether this thread runs the loop in a wait (Driver._drive()).
        self.driving = False
        # Ctrl-C failed user code that a ray.get in this thread ran (note_ctrl_c()).
        self.interrupted = False


class _Local(threading.local):
    def __init__(self) -> None:
        self.state = _ThreadState()


_tls = _Local()


def current_item() -> _Item | None:
    """The item this thread is running, if any."""
    return _tls.state.item


def note_ctrl_c(exc: KeyboardInterrupt) -> None:
    """If ``exc`` is Ctrl-C (SIGINT's handler, not a ``raise`` in user code: how Ray
    cancels a task) interrupting user code that the main thread runs while blocked
    in a ``ray.get`` (a sync call's item, or an async call on the loop it drives),
    have that get raise ``KeyboardInterrupt`` once the call has failed, as Ray's
    driver does, instead of carrying on."""
    if threading.current_thread() is not threading.main_thread():
        return  # no signal comes to another thread
    state = _tls.state
    if state.item is None and not state.driving:
        return
    tb = exc.__traceback__
    if tb is None:
        return
    while tb.tb_next is not None:
        tb = tb.tb_next
    import opcode  # here: few programs are interrupted

    # A signal's handler raises where the code was (a call, a loop's jump): never
    # at a raise statement.
    lasti = tb.tb_lasti
    if lasti < 0 or tb.tb_frame.f_code.co_code[lasti] != opcode.opmap["RAISE_VARARGS"]:
        state.interrupted = True


def _raise_if_interrupted(state: _ThreadState) -> None:
    """Raise ``KeyboardInterrupt`` once if ``note_ctrl_c`` found Ctrl-C in this thread."""
    if state.interrupted:
        state.interrupted = False
        raise KeyboardInterrupt


def outlived() -> bool:
    """Whether this thread runs an item of a driver that has been closed: user code that
    ``ray.shutdown()`` could not stop, and that must not start Ray again."""
    driver = _tls.state.driver
    return driver is not None and driver._closed


def _noop() -> None:
    pass


class _Item:
    """Sync work for a thread off the loop. Awaiting it (on the loop) gives the outcome.

    The awaiting task first gives the loop one turn without a future: a thread
    driving the loop that waits for this item runs it right after that turn,
    and the task finds it done. Only an item still pending then gets a future.
    """

    # __weakref__: get_runtime_context().get_task_id() keys by its item a call it cannot find.
    __slots__ = (
        "__weakref__",
        "call",
        "ctx",
        "dropped",
        "fut",
        "ok",
        "settled",
        "share",
        "value",
        "work",
    )

    # Made by Driver.submit() alone, which sets every slot.
    # The function and its arguments: ctx.run(*work) takes the tuple as it is.
    work: tuple[Any, ...]
    ctx: contextvars.Context
    # A weak reference to the engine's call it runs, if submit() was told (for
    # get_runtime_context().get_task_id()): weak, as a call cut off by a shutdown ends
    # (and reports that nobody awaited it) while its thread may still run the item.
    call: weakref.ref[Any] | None
    # Whether it goes to the pool at once when its waiter is busy with another.
    share: bool
    ok: bool
    value: Any
    settled: bool
    # The awaiting side gave up (a cancelled call): nobody runs it any more.
    dropped: bool
    fut: asyncio.Future[None] | None

    def cancelled(self) -> bool:
        """Whether the waiting side has given up on this item (a cancelled call)."""
        return self.dropped

    def settle(self) -> None:
        """The outcome is in: wake the awaiting task if it waits (loop owner only)."""
        self.settled = True
        fut = self.fut
        if fut is not None and not fut.done():
            fut.set_result(None)

    def __await__(self) -> Generator[Any, None, Any]:
        try:
            if not self.settled:
                yield  # one turn of the loop, as asyncio.sleep(0)
            if not self.settled:
                loop = _get_running_loop()
                assert loop is not None  # awaited by a task on the loop
                fut = self.fut = loop.create_future()
                yield from fut
        except BaseException:
            if not self.settled:
                self.dropped = True
            raise
        value, self.value = self.value, None
        if self.ok:
            return value
        raise value


class _Countdown:
    """The pending refs one blocked thread waits for, ``needed`` of them.

    Waiting for all of them, the thread checks them itself (``done()``: a
    cursor that moves past those done), and adds a callback to each only when it
    must wait for another thread's turn at the loop (``watch()``), so that the
    callbacks wake it: a thread driving the loop needs none. Waiting for some,
    the callbacks count them from the start.

    With ``fail_fast`` (``ray.get`` of a list), a failed ref ends the wait at
    once, as in Ray: the cursor sees those before the first pending ref, and
    the callbacks, added once the cursor stops with more than one ref pending,
    see the rest.
    """

    __slots__ = ("cursor", "driver", "fail_fast", "refs", "remaining", "watched")

    def __init__(
        self, driver: Driver, refs: list[NativeRef[Any]], needed: int, fail_fast: bool
    ) -> None:
        self.driver = driver
        self.refs = refs
        self.remaining = needed
        self.cursor = 0
        self.watched = False
        self.fail_fast = fail_fast
        if needed < len(refs):
            self.watch()

    def watch(self) -> None:
        """Count the refs by callbacks, which wake the waiting threads at zero."""
        if not self.watched:
            self.watched = True
            self.driver.call_on_loop(_watch, self.refs, self.hit)

    def unwatch(self) -> None:
        """Remove the callbacks from the refs still pending (done waiting)."""
        if self.watched and any(not r._state for r in self.refs):
            self.driver.call_on_loop(unwatch, self.refs, self.hit)

    def hit(self, ref: NativeRef[Any]) -> None:
        self.remaining -= 1
        if self.remaining == 0 or (self.fail_fast and ref._state == FAILED):
            self.remaining = 0
            self.driver._wake()

    def done(self) -> bool:
        if self.remaining <= 0:
            return True
        refs = self.refs
        i = self.cursor
        n = len(refs)
        while i < n and refs[i]._state:
            if self.fail_fast and refs[i]._state == FAILED:
                return True
            i += 1
        self.cursor = i
        if self.fail_fast and n - i > 1 and not self.watched:
            self.watch()
        return i == n


class _Wants:
    """The calls a blocked thread waits for, and the items of theirs it will run itself."""

    __slots__ = ("_calls", "_cores", "hit", "items", "refs", "shared")

    def __init__(self, refs: Sequence[Any]) -> None:
        # The calls (None for a ray.put value); each set below is made when first needed.
        self.refs = refs
        self._calls: set[int] | None = None
        self._cores: set[int] | None = None
        # The actor last found wanted by wants(core=...): its next items are too.
        self.hit: Any = _NOBODY
        self.items: collections.deque[_Item] = _Queue()
        # How many of those items may go to the pool when others wait behind them
        # (item.share): counted, as a list of many tasks' items is scanned once per
        # item otherwise. At least the true number: the helper hands items over
        # without counting them out, and a count too high only hands over early.
        self.shared = 0

    def wants(self, call: Any, core: Any) -> bool:
        if call is not None:
            calls = self._calls
            if calls is None:
                calls = self._calls = {id(r) for r in self.refs if r is not None}
            return id(call) in calls
        # An actor's __init__, or a call to an actor that runs one call at a time:
        # wanted by whoever waits for one of its calls, which cannot run before it.
        cores = self._cores
        if cores is None:
            cores = self._cores = {
                id(getattr(r, "_core", None)) for r in self.refs if r is not None
            }
        if id(core) in cores:
            self.hit = core
            return True
        return False


class Driver:
    """An asyncio event loop, run in turn by the threads that block on it; see the module."""

    # The job whose loop this is (hex), as the refs made on it tell (ObjectRef.job_id()).
    job_id: str = ""

    def __init__(self) -> None:
        self.loop = _Loop()
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._gen = 0
        self._handover = False
        self._closed = False
        # Threads waiting for refs or for the loop while another thread owns it.
        self._cond = threading.Condition(threading.Lock())
        self._waiters = 0
        # What the thread now driving waits for: its items go to it.
        self._wants: _Wants | None = None
        # When the loop is next due to poll for I/O and timers (see _POLL_AFTER): kept
        # across drives, as a thread making sequential calls drives it briefly for each.
        self._poll_at = 0.0
        # Every blocked thread's own items, for the helper to hand to the pool; keyed
        # by identity, as deques compare by their items (two empty ones are equal).
        self._mine: dict[int, collections.deque[_Item]] = {}
        self._work: collections.deque[_Item] = _Queue()
        self._taken = 0
        self._pool_cond = threading.Condition(threading.Lock())
        self._pool_threads = 0
        self._pool_idle = 0
        self._pool_blocked = 0
        self._entered_over: asyncio.AbstractEventLoop | None = None
        self._helper_stop = threading.Event()
        self._helper = threading.Thread(
            target=self._help, name="asyncactors-ray-loop-helper", daemon=True
        )
        self._helper_ident: int | None = None
        self._helper.start()

    # -- ownership ------------------------------------------------------------------

    def _acquire(self, blocking: bool = False, timeout: float = -1) -> bool:
        if not self._lock.acquire(blocking, timeout):
            return False
        me = _get_ident()
        self._owner = me
        self._gen += 1
        if me != self._helper_ident:
            self._handover = False
        return True

    def _release(self) -> None:
        self._owner = None
        self._lock.release()
        if self._waiters:
            with self._cond:
                self._cond.notify_all()

    def _wake(self) -> None:
        """Wake the threads waiting on the owner (a countdown reached zero)."""
        if self._waiters:
            with self._cond:
                self._cond.notify_all()

    def owns(self) -> bool:
        """Whether this thread may touch the loop's state: it runs it or owns it."""
        return self._owner == _get_ident() or _get_running_loop() is self.loop

    def enter(self) -> bool:
        """Own the loop, if it is free, so that work can go onto it directly.

        Returns whether ``leave()`` must follow. While entered, the loop counts
        as running in this thread, so the engine submits calls directly instead
        of through ``call_soon_threadsafe``.
        """
        # _acquire(), inlined: every .remote() from a thread off the loop enters.
        if self._closed:
            return False
        over = _get_running_loop()
        if not self._lock.acquire(False) and not self._take_from_helper():
            return False
        try:
            me = self._owner = _get_ident()
            self._gen += 1
            if me != self._helper_ident:
                self._handover = False
            self._entered_over = over
            _set_running_loop(self.loop)
        except BaseException:
            # Ctrl-C: SIGINT's handler raises after any call, and the caller's
            # leave() never comes. Not entered, then: else the loop stayed locked
            # (every later get waited forever) or this thread's running loop stayed
            # set (every later get raised that it would block the loop).
            _set_running_loop(over)
            self._owner = None
            self._lock.release()
            raise
        return True

    def _take_from_helper(self) -> bool:
        """Take the loop from the helper, if it runs it: ask it to let go and wait for
        that a little. Returns whether this thread has the loop's lock now.

        Else every call this thread sends would go through call_soon_threadsafe
        and wake the helper, and each wake-up costs more than the call.
        """
        owner = self._owner
        if owner is None or owner != self._helper_ident or owner == _get_ident():
            return False
        if self._handover:
            # Asked already, and not let go: a callback holds the loop. Waiting
            # again, every call would wait.
            return False
        self._handover = True
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(_noop)
        with self._cond:
            self._waiters += 1
            try:
                self._cond.wait_for(lambda: not self._lock.locked(), _MAX_POLL)
            finally:
                self._waiters -= 1
        return self._lock.acquire(False)

    def leave(self) -> None:
        """Undo ``enter()``."""
        try:
            _set_running_loop(self._entered_over)
        finally:
            # Let go even if Ctrl-C comes after that call (see enter()).
            self._entered_over = None
            # _release(), inlined.
            self._owner = None
            self._lock.release()
        if self._waiters:
            with self._cond:
                self._cond.notify_all()

    def call_on_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` as on the loop's thread: now if the loop is free, else soon.

        Raises:
            RuntimeError: the loop is closed.
        """
        if self.owns():
            fn(*args)
        elif self.enter():
            try:
                fn(*args)
            finally:
                self.leave()
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    # -- running the loop -----------------------------------------------------------

    def _drive(
        self, done: Callable[[], bool], deadline: float | None, wants: _Wants | None
    ) -> bool:
        """Run the loop here (its owner) until ``done()`` or the deadline; run the
        items that come into ``mine`` between its turns.

        Returns whether this thread still owns the loop: running an item, it
        lets go of it, and another thread may have taken it meanwhile.
        """
        loop = self.loop
        me = _get_ident()
        previous = _get_running_loop()
        hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(
            firstiter=loop._asyncgen_firstiter_hook,  # type: ignore[attr-defined]
            finalizer=loop._asyncgen_finalizer_hook,  # type: ignore[attr-defined]
        )
        _set_running_loop(loop)
        loop._thread_id = me  # type: ignore[attr-defined]
        timer = loop.call_at(deadline, _noop) if deadline is not None else None
        run_once = loop._run_once  # type: ignore[attr-defined]
        ready: collections.deque[Any] = loop._ready  # type: ignore[attr-defined]
        # The loop's clock (loop.time() without its call).
        clock = time.monotonic
        poll_at = self._poll_at
        mine = wants.items if wants is not None else None
        self._wants = wants
        lock = self._lock
        tls = _tls.state
        driving, tls.driving = tls.driving, True
        owned = True
        try:
            while not done():
                if mine:
                    try:
                        item = mine.popleft()
                    except IndexError:  # the helper handed it to the pool
                        continue
                    assert wants is not None
                    if item.share:
                        wants.shared -= 1
                    if item.dropped:  # cancelled
                        continue
                    if mine and wants.shared > 0:
                        # More than one actor call at a time (to several actors, or
                        # max_concurrency > 1): they run in parallel, as in Ray.
                        # Tasks stay: short ones run fastest here, one after another,
                        # and the helper gives the pool those that wait too long.
                        self._hand_over(mine)
                        wants.shared = 0
                    # User code runs off the loop, which is free meanwhile: another
                    # thread, or the helper, runs it if the item takes long.
                    _set_running_loop(previous)
                    loop._thread_id = None  # type: ignore[attr-defined]
                    self._wants = None
                    owned = False
                    # _release() and _acquire() around the item, inlined (the
                    # helper never gets here: it waits for no item).
                    self._owner = None
                    lock.release()
                    if self._waiters:
                        self._wake()
                    self._run_here(item, tls)
                    if not lock.acquire(False):
                        self._settle(item)
                        _raise_if_interrupted(tls)
                        return False
                    self._owner = me
                    self._gen += 1
                    self._handover = False
                    owned = True
                    self._wants = wants
                    # item.settle(), inlined: its task waits without a future yet,
                    # unless the item waited more than a turn.
                    item.settled = True
                    if item.fut is not None:
                        item.settle()
                    _set_running_loop(loop)
                    loop._thread_id = me  # type: ignore[attr-defined]
                    _raise_if_interrupted(tls)
                    # On to the turn that resumes its task: the item itself made
                    # no ref done, and done() is checked after that turn.
                if deadline is not None and loop.time() >= deadline:
                    break
                if ready and clock() < poll_at:
                    # What a turn of the loop would run, without polling for I/O
                    # and timers first: until _POLL_AFTER since the last poll.
                    for _ in range(len(ready)):
                        handle = ready.popleft()
                        if not handle._cancelled:
                            # handle._run(), inlined; a task's step has no arguments,
                            # and a call without them builds no tuple.
                            try:
                                if handle._args:
                                    handle._context.run(handle._callback, *handle._args)
                                else:
                                    handle._context.run(handle._callback)
                            except (SystemExit, KeyboardInterrupt):
                                raise
                            except BaseException as exc:
                                _report(handle, exc)
                else:
                    self._poll_at = poll_at = clock() + _POLL_AFTER * _switch_interval()
                    run_once()
        finally:
            tls.driving = driving
            if timer is not None:
                timer.cancel()
            if owned:
                self._wants = None
                loop._thread_id = None  # type: ignore[attr-defined]
                _set_running_loop(previous)
            sys.set_asyncgen_hooks(*hooks)
        return True

    def wait(
        self,
        refs: Sequence[NativeRef[Any]],
        needed: int,
        timeout: float | None,
        calls: Sequence[Any] | None = None,
        fail_fast: bool = False,
    ) -> bool:
        """Block this thread until ``needed`` of ``refs`` are done; ``False`` on timeout.

        ``calls`` are the calls that produce the refs (the refs themselves by
        default): this thread runs their sync work itself. With ``fail_fast``
        the first ref that fails ends the wait too (``True``), as does one that
        has failed already.

        Raises:
            LoopThreadError: called on the loop's own thread (inside an async
                method), where it would wait for itself.
            RuntimeError: ``ray.shutdown()`` closed the driver while waiting.
        """
        pending = [r for r in refs if not r._state]
        needed -= len(refs) - len(pending)
        if needed <= 0 or (fail_fast and any(r._state == FAILED for r in refs)):
            return True
        if timeout is not None and timeout <= 0:
            return False
        if _get_running_loop() is self.loop:
            raise LoopThreadError("blocking on the event loop thread")
        countdown = _Countdown(self, pending, needed, fail_fast)
        try:
            wants = None
            if timeout is None and _tls.state.depth == 0:
                wants = _Wants(calls if calls is not None else pending)
            return self._block(countdown.done, timeout, wants, countdown.watch)
        finally:
            if not self._closed:
                countdown.unwatch()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        """Run ``coro`` on the loop and block this thread for its result.

        Raises:
            TimeoutError: not done within ``timeout`` seconds (it is cancelled).
            LoopThreadError: called on the loop's own thread.
        """
        if _get_running_loop() is self.loop:
            coro.close()
            raise LoopThreadError("blocking on the event loop thread")
        holder: list[asyncio.Task[Any]] = []

        def start() -> None:
            task = self.loop.create_task(coro)
            task.add_done_callback(lambda _: self._wake())
            holder.append(task)

        self.call_on_loop(start)
        finished = self._block(lambda: bool(holder) and holder[0].done(), timeout, None)
        task = holder[0] if holder else None
        if not finished:
            if task is not None:
                self.call_on_loop(task.cancel)
            raise TimeoutError(f"not done within {timeout} s")
        assert task is not None
        return task.result()

    def _block(
        self,
        done: Callable[[], bool],
        timeout: float | None,
        wants: _Wants | None,
        watch: Callable[[], None] | None = None,
    ) -> bool:
        """Wait until ``done()``; drive the loop meanwhile when it is free, and run the
        items of ``wants``. ``watch()`` is called before waiting for another thread's
        turn at the loop: what it waits for must then wake it (``_wake()``)."""
        deadline = None if timeout is None else self.loop.time() + timeout
        mine = wants.items if wants is not None else None
        if mine is not None:
            self._mine[id(mine)] = mine
        counted_blocked = _tls.state.pool
        if counted_blocked:
            # A pool thread blocked in a get leaves room for another.
            with self._pool_cond:
                self._pool_blocked += 1
                more = self._work and not self._pool_idle
            if more:
                self._grow_pool(1)
        owned = False
        try:
            while True:
                if done():
                    return True
                if deadline is not None and self.loop.time() >= deadline:
                    return False
                if self._closed:
                    raise RuntimeError("ray.shutdown() was called while this thread waited")
                if owned or self._acquire():
                    # Owned before _drive() returns: what it lets out (a KeyboardInterrupt
                    # a method or callback raised) must not leave the loop locked.
                    owned = True
                    owned = self._drive(done, deadline, wants)
                    # Async user code this turn ran may have met Ctrl-C.
                    _raise_if_interrupted(_tls.state)
                    continue
                if self._owner == self._helper_ident and self._owner is not None:
                    # The helper runs the loop only while nobody else wants it.
                    self._handover = True
                    with contextlib.suppress(RuntimeError):
                        self.loop.call_soon_threadsafe(_noop)
                if watch is not None:
                    watch()
                self._wait_for_owner(done, deadline)
        finally:
            # Not owned any more if _drive() let go of the loop to run an item.
            if owned and self._owner == _get_ident():
                self._release()
            if mine is not None:
                del self._mine[id(mine)]
                if mine:
                    # Done waiting: what is left is anybody's.
                    self._work.extend(mine)
                    self._serve_all()
            if counted_blocked:
                with self._pool_cond:
                    self._pool_blocked -= 1

    def _wait_for_owner(self, done: Callable[[], bool], deadline: float | None) -> None:
        # Items go to a thread's own queue only while it drives: none come here.
        with self._cond:
            self._waiters += 1
            try:
                while not (done() or self._closed or not self._lock.locked()):
                    remaining = None if deadline is None else deadline - self.loop.time()
                    if remaining is not None and remaining <= 0:
                        return
                    self._cond.wait(remaining)
            finally:
                self._waiters -= 1

    # -- items ----------------------------------------------------------------------

    def submit(
        self,
        work: tuple[Any, ...],
        call: Any = None,
        core: Any = None,
        pool_only: bool = False,
        share: bool = True,
    ) -> _Item:
        """Queue ``work``, a function and its arguments (``(fn, *args)``: the tuple
        the call takes them from), for a thread off the loop, in a copy of this
        context; await the returned item for its outcome.

        Called on the loop (by its owner). ``call`` (and ``core``, its actor)
        say whose wait the item serves: the thread driving the loop runs it if
        it waits for that call, else a pool thread does. ``pool_only`` keeps
        it from any waiter: for work its waiter must not run itself (a
        generator, whose consumer waits for each item). ``share=False`` keeps it
        with its waiter while that waiter runs another item (short tasks).
        """
        # One per call of a threaded actor: made without a call of __init__.
        item = _new(_Item)
        item.work = work
        item.call = None if call is None else _weak(call)
        item.ctx = _copy_context()
        item.share = share
        item.ok = item.settled = item.dropped = False
        item.value = item.fut = None
        wants = self._wants
        if (
            wants is not None
            and not pool_only
            and ((call is None and core is wants.hit) or wants.wants(call, core))
        ):
            wants.items.append(item)  # the driving thread: it runs it after this turn
            if share:
                wants.shared += 1
        else:
            self._work.append(item)
            self._notify_pool()
        return item

    def _run_here(self, item: _Item, tls: _ThreadState) -> None:
        """Run ``item`` in this thread (whose state is ``tls``): one blocked in a wait
        for it, or a pool thread."""
        self._taken += 1
        tls.depth += 1
        outer, tls.driver = tls.driver, self
        previous, tls.item = tls.item, item
        try:
            item.value = item.ctx.run(*item.work)
            item.ok = True
        except BaseException as exc:  # any outcome is the caller's, as a method's is
            item.value = exc
        finally:
            tls.item = previous
            item.work = None  # type: ignore[assignment]
            tls.depth -= 1
            tls.driver = outer

    def _settle(self, item: _Item) -> None:
        """Hand ``item``'s outcome to the loop: directly if the loop is free, else
        through ``call_soon_threadsafe``."""
        if self._closed:
            return
        if self._acquire():
            try:
                item.settle()
            finally:
                self._release()
            return
        # Closed meanwhile: nobody waits for it any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(item.settle)

    def _notify_pool(self) -> None:
        with self._pool_cond:
            if self._pool_idle:
                self._pool_cond.notify()
                return
            busy = self._pool_threads - self._pool_blocked
        # Beyond a few running threads, another is started only for items that
        # wait a whole poll of the helper (the running ones are all stuck).
        if busy < _POOL_EAGER:
            self._grow_pool(1)

    def _serve_all(self) -> None:
        """Have the pool take the queued items: wake the idle threads, and start more,
        at most doubling the busy ones each time (items that block get threads fast,
        a burst of short ones does not make a thread each)."""
        queued = len(self._work)
        with self._pool_cond:
            idle = self._pool_idle
            if idle:
                self._pool_cond.notify(queued)
            busy = self._pool_threads - self._pool_blocked - idle
        if queued > idle:
            self._grow_pool(min(queued - idle, max(_POOL_EAGER, busy)))

    def _grow_pool(self, n: int) -> None:
        with self._pool_cond:
            room = POOL_CAP - (self._pool_threads - self._pool_blocked)
            n = 0 if self._closed else max(0, min(n, room))
            self._pool_threads += n
        for _ in range(n):
            threading.Thread(
                target=self._pool_main, name="asyncactors-ray-worker", daemon=True
            ).start()

    def _take(self) -> _Item | None:
        work = self._work
        while work:
            try:
                item = work.popleft()
            except IndexError:
                return None
            if not item.cancelled():
                return item
        return None

    def _pool_main(self) -> None:
        tls = _tls.state
        tls.pool = True
        tls.driver = self
        # Waits inside its items never take other items: those could need a
        # lock the outer item holds.
        tls.depth = 1
        cond = self._pool_cond
        while True:
            if self._closed:
                with cond:
                    self._pool_threads -= 1
                return
            item = self._take()
            if item is None:
                with cond:
                    item = self._take()
                    if item is None:
                        if self._closed:
                            self._pool_threads -= 1
                            return
                        self._pool_idle += 1
                        woken = cond.wait(_POOL_IDLE)
                        self._pool_idle -= 1
                        if not woken and not self._work:
                            self._pool_threads -= 1
                            return
                        continue
            self._run_here(item, tls)
            self._settle(item)

    # -- the helper -----------------------------------------------------------------

    def _help(self) -> None:
        self._helper_ident = _get_ident()
        stop = self._helper_stop
        poll = GRACE
        last_gen = -1
        last_taken = -1
        while not stop.wait(poll):
            gen = self._gen
            if gen != last_gen:
                # Other threads run the loop: look again later. Each look takes
                # the GIL from them, so the busier they are, the rarer it is.
                last_gen = gen
                poll = min(poll * 2, _MAX_POLL)
            elif self._lock.locked():
                poll = _MAX_POLL  # one long drive: its owner is blocked, the loop runs
            elif not self._handover and self._acquire():
                # Nobody ran the loop for a whole poll. While a thread runs an item
                # with more of its own queued (tasks), drive for one poll only, then
                # look at the queues again: no item joins them while the helper
                # drives, and driving on, it never handed them to the pool (two
                # tasks that slept ran one after the other).
                deadline = self.loop.time() + _MAX_POLL if any(self._mine.values()) else None
                try:
                    self._drive(self._helper_done, deadline, None)
                except KeyboardInterrupt:
                    # A method raised it (no signal comes to this thread): its call
                    # failed with it already, and the loop must go on being run.
                    pass
                finally:
                    self._handover = False
                    self._release()
                last_gen, poll = self._gen, GRACE
            taken = self._taken
            if taken == last_taken:
                self._hand_stale_items()
            last_taken = taken

    def _hand_over(self, mine: collections.deque[_Item]) -> None:
        """Give the pool the items a blocked thread has not started."""
        while True:
            try:
                self._work.append(mine.popleft())
            except IndexError:
                break
        if self._work:
            self._serve_all()

    def _hand_stale_items(self) -> None:
        """Nobody took an item for a whole poll: the pool takes every waiting one."""
        for mine in list(self._mine.values()):
            self._hand_over(mine)
        if self._work:
            self._serve_all()

    def _helper_done(self) -> bool:
        return self._handover or self._closed

    # -- closing --------------------------------------------------------------------

    def close(self, finish: Coroutine[Any, Any, Any]) -> None:
        """Run ``finish`` (the actor system's shutdown), then close the loop and stop the threads.

        Raises:
            LoopThreadError: called on the loop's own thread.
        """
        try:
            self.run(finish)
        finally:
            self._closed = True
            self._helper_stop.set()
            # Wake the helper out of its select, and every waiting thread.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(_noop)
            if self._helper is not threading.current_thread():
                self._helper.join(5)
            with self._cond:
                self._cond.notify_all()
            with self._pool_cond:
                self._pool_cond.notify_all()
            if self._acquire(True, 5):
                try:
                    self._finish_loop()
                finally:
                    self._release()

    def _finish_loop(self) -> None:
        loop = self.loop
        holder: list[asyncio.Task[Any]] = [loop.create_task(loop.shutdown_asyncgens())]
        self._drive(lambda: holder[0].done(), loop.time() + 5, None)
        loop.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has run."""
        return self._closed


def _report(handle: Any, exc: BaseException) -> None:
    """Report a callback's exception to the loop's exception handler, as ``Handle._run`` does."""
    from asyncio import format_helpers

    source = format_helpers._format_callback_source(handle._callback, handle._args)
    context: dict[str, Any] = {
        "message": f"Exception in callback {source}",
        "exception": exc,
        "handle": handle,
    }
    if handle._source_traceback:
        context["source_traceback"] = handle._source_traceback
    handle._loop.call_exception_handler(context)


def _watch(refs: Sequence[NativeRef[Any]], hit: Callable[[NativeRef[Any]], None]) -> None:
    for r in refs:
        r._add_callback(hit)
