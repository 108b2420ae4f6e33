"""The watchdog: which actor method holds the event loop, and which calls are stuck.

On by default, one per actor system, and nothing per call. The loop beats every
``block_warning_s / 2`` seconds (a timer of its own), and a monitor thread
watches the beats. Once they stop, the monitor looks at what the loop thread is
running, as the engine marks it anyway: the actor whose sync method runs inline
(``Host.inline``), or the current task and the call its actor runs in it
(``EngineCore.running_calls()``). When the same call (or, for calls run inline,
the same method of the same actor) is seen for ``block_warning_s`` while no
beat comes, that method held the loop: it is logged, once per method, with its
actor, the time and its stack, read from the loop thread's frames
(``sys._current_frames()``).

The monitor is ``_speedups.Pulse`` where the C extension is built: its thread
needs no GIL while the beats come. Waiting for the GIL while the loop thread is
busy would cost that thread a futex wake-up at each of its GIL releases (one
per loop iteration at least): about a tenth of its time on a loop of short
calls, where a Python thread polls. Without the extension, ``_ThreadPulse``
does the same in Python, at that price.

At its beats the loop samples the calls running in worker tasks, noting when
it first saw each: ``stuck_calls()`` reports those running longer than asked,
with their age (to within a sample) and their stack. A round of samples costs
O(live actors) and is taken a slice of actors per beat, so that it never holds
the loop for long; the pause between rounds grows with their cost, so the
sampler never takes more than about 1% of the loop's time.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import sys
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from types import CodeType, FrameType, SimpleNamespace
from typing import TYPE_CHECKING, Any, Final, cast

from ._ref import ACCELERATED, ObjectRef, logger
from ._types import ASYNC, SYNC

if TYPE_CHECKING:
    from typing import Protocol

    from ._metrics import RunningCall
    from ._protocols import EngineCore, Host
    from ._stuck import CallKind, LoopBlock, StuckCall

    # For type checking only: a Protocol class costs more to make than most classes.
    class _Pulse(Protocol):
        """The monitor: a thread that calls ``on_stale()`` once the loop stops beating."""

        @property
        def running(self) -> bool: ...
        @property
        def native_id(self) -> int | None: ...
        def start(self, poll_s: float, stale_s: float, on_stale: Callable[[], bool], /) -> None: ...
        def beat(self) -> None: ...
        def stop(self) -> None: ...


__all__ = ["Watchdog"]

_KINDS: Final[dict[int, CallKind]] = {SYNC: "sync", ASYNC: "async"}


# The sampler's pause is at least this many times what a round of samples took.
_SAMPLE_BUDGET: Final = 100
# Actors looked at per beat (about a millisecond's work), so that a round over
# many actors never holds the loop for long.
_SAMPLE_SLICE: Final = 1000
# Polls of the C monitor per beat: a block is seen a quarter beat sooner than
# with one poll, and its polls take no GIL.
_POLLS_PER_BEAT: Final = 4
# How many loop blocks the dashboard can show.
_RECENT_BLOCKS: Final = 20


# The monitor's own records: plain classes, as a dataclass costs about a
# millisecond to make, and this module loads when the first actor system starts.
class _Running:
    """What the loop thread runs, as the monitor saw it: an actor's code, called
    inline (``core`` set) or in ``task``, its frames outermost first."""

    __slots__ = ("core", "frames", "task")

    def __init__(
        self, core: EngineCore | None, task: asyncio.Task[Any] | None, frames: list[FrameType]
    ) -> None:
        self.core = core
        self.task = task
        self.frames = frames

    @property
    def key(self) -> tuple[object, object]:
        # Compared by identity, and held by the streak while the loop is late: an id
        # alone could be the next call's (one blocking call after another, with no
        # beat between, may get the same address for its frame).
        return (self.task, self.frames[0])


class _Streak:
    """The loop has been held by the same code (``key``) since ``since``, and whether
    (and as what) that was reported."""

    __slots__ = ("core", "key", "method", "reported", "reported_at", "since", "stack")

    def __init__(self, key: tuple[object, object], since: float) -> None:
        self.key = key
        self.since = since
        self.reported = False
        self.reported_at = 0.0
        self.core: EngineCore | None = None
        self.method = ""
        self.stack: tuple[str, ...] = ()


class _Seen:
    """A running call the sampler saw, and when it first did."""

    __slots__ = ("core", "func", "kind", "method", "ref", "since", "task")

    def __init__(
        self,
        ref: weakref.ref[ObjectRef[Any]],
        task: weakref.ref[asyncio.Task[Any]],
        core: EngineCore,
        method: str,
        kind: CallKind,
        func: Any,
        since: float,
    ) -> None:
        self.ref = ref
        self.task = task
        self.core = core
        self.method = method
        self.kind = kind
        self.func = func
        self.since = since


class _ThreadPulse:
    """``_speedups.Pulse`` in Python, where the C extension is missing: a daemon thread
    that looks at the count of beats every ``poll_s`` (taking the GIL each time) and,
    once none has come for ``stale_s``, calls ``on_stale()`` at each poll until one
    comes; it ends when ``on_stale()`` returns false."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._beats = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stop.is_set()

    @property
    def native_id(self) -> int | None:
        thread = self._thread
        return thread.native_id if thread is not None else None

    def start(self, poll_s: float, stale_s: float, on_stale: Callable[[], bool], /) -> None:
        if not (0 < poll_s < math.inf and 0 < stale_s < math.inf):
            raise ValueError("start(): poll_s and stale_s must be positive")
        if not callable(on_stale):
            raise TypeError("start(): on_stale must be callable")
        if self._thread is not None or self._stop.is_set():
            raise RuntimeError("a Pulse starts once")
        self._thread = threading.Thread(
            target=self._run, args=(poll_s, stale_s, on_stale), name=self._name, daemon=True
        )
        self._thread.start()

    def beat(self) -> None:
        self._beats += 1

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join()

    def _run(self, poll_s: float, stale_s: float, on_stale: Callable[[], bool]) -> None:
        seen = self._beats
        changed = time.monotonic()
        while not self._stop.wait(poll_s):
            now = time.monotonic()
            if self._beats != seen:
                seen = self._beats
                changed = now
            elif now - changed >= stale_s:
                # As the C monitor: any exception, from on_stale() or from bool() of
                # its answer, SystemExit too (which a thread would drop unsaid).
                try:
                    go_on = bool(on_stale())
                except BaseException as exc:
                    # What PyErr_WriteUnraisable gives the hook, as the C monitor's does.
                    report = SimpleNamespace(
                        exc_type=type(exc),
                        exc_value=exc,
                        exc_traceback=exc.__traceback__,
                        err_msg=None,
                        object=on_stale,
                    )
                    sys.unraisablehook(cast("sys.UnraisableHookArgs", report))
                    go_on = False
                if not go_on:
                    self._stop.set()
                    return


def _new_pulse(name: str) -> _Pulse:
    """The C monitor where the extension is in use, else its Python twin."""
    if ACCELERATED:
        from . import _speedups

        pulse: type[_Pulse] | None = getattr(_speedups, "Pulse", None)  # not on Windows
        if pulse is not None:
            return pulse()
    return _ThreadPulse(name)


class Watchdog:
    """The watchdog of one actor system; see the module's docstring.

    It is given what it watches: the loop and its thread, the system's registry
    of live actors, its host (whose ``inline`` marks a sync call running), and
    the engine's ``runner_codes``, where the stack of an actor's code starts.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        loop_thread: int,
        actors: dict[int, EngineCore],
        host: Host,
        runner_codes: frozenset[CodeType],
        threshold: float,
    ) -> None:
        self.threshold = threshold
        self._loop = loop
        self._loop_thread = loop_thread
        self._actors = actors
        self._host = host
        self._runners = runner_codes
        self._beat_s = threshold / 2
        self._sample_s = max(self._beat_s, 0.01)
        self._pulse = _new_pulse(f"asyncactors-watchdog-{id(actors):x}")
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False
        # Whether the monitor has seen the beats stop (since the last one).
        self._late = False
        self._streak: _Streak | None = None
        self._warned: set[tuple[str, str]] = set()
        self.blocks = 0
        self.recent: deque[LoopBlock] = deque(maxlen=_RECENT_BLOCKS)
        # id(call) -> the call and when the sampler first saw it running.
        self._seen: dict[int, _Seen] = {}
        # The first sample one interval after the start, not at once: no call can have
        # been running for long then, and a program that ends sooner (a script, a test)
        # never loads what sampling needs (the engine's records of running calls).
        self._next_sample = time.monotonic() + self._sample_s
        # The round of samples under way: the actors' ids (not the actors, which the
        # round would keep alive once dead), how far it got, what it found and what
        # it has cost.
        self._round: list[int] | None = None
        self._round_at = 0
        self._round_seen: dict[int, _Seen] = {}
        self._round_cost = 0.0

    @property
    def running(self) -> bool:
        """Whether the monitor watches the loop."""
        return bool(self._pulse.running)

    def start(self) -> None:
        """Start the monitor and the loop's beats.

        Raises:
            OSError: the monitor's thread could not be started (no beat is left scheduled).
        """
        if isinstance(self._pulse, _ThreadPulse):
            poll = stale = self._beat_s
        else:
            poll = self._beat_s / _POLLS_PER_BEAT
            stale = self._beat_s + poll
        self._pulse.start(poll, stale, self._stale)
        self._loop.call_soon_threadsafe(self._beat, context=self._host.ctx)

    def stop(self) -> None:
        """Stop the monitor (waiting for its thread to end) and the loop's beats."""
        self._stopped = True
        self._pulse.stop()
        timer = self._timer
        if timer is not None:
            timer.cancel()

    # -- the loop thread ----------------------------------------------------------

    def _beat(self) -> None:
        if self._stopped:
            return
        self._pulse.beat()
        self._late = False
        self._streak = None  # and the frames it holds
        # The next beat first: a sample that raised must not end the beats.
        self._timer = self._loop.call_later(self._beat_s, self._beat, context=self._host.ctx)
        now = time.monotonic()
        if now >= self._next_sample:
            self._sample(now)

    def _sample(self, now: float) -> None:
        """Note when each call running in a task was first seen, for a slice of the actors."""
        began = time.perf_counter()
        ids = self._round
        if ids is None:
            ids = self._round = list(self._actors)
            self._round_at = 0
            self._round_seen = {}
            self._round_cost = 0.0
        at = self._round_at
        actors = self._actors
        cores = [actors.get(i) for i in ids[at : at + _SAMPLE_SLICE]]
        self._scan([c for c in cores if c is not None], now, self._round_seen)
        self._round_at = at + _SAMPLE_SLICE
        self._round_cost += time.perf_counter() - began
        if self._round_at >= len(ids):
            self._seen = self._round_seen
            self._round = None
            self._next_sample = now + max(self._sample_s, _SAMPLE_BUDGET * self._round_cost)

    def _scan(self, cores: Iterable[EngineCore], now: float, fresh: dict[int, _Seen]) -> None:
        seen = self._seen
        for core in cores:
            for call in core.running_calls():
                key = id(call.ref)
                old = seen.get(key)
                if old is None or old.ref() is not call.ref:
                    old = _Seen(
                        weakref.ref(call.ref),
                        weakref.ref(call.task),
                        core,
                        call.method,
                        _KINDS.get(call.kind, "thread"),
                        call.func,
                        now,
                    )
                fresh[key] = old

    # -- the monitor (its thread, with the GIL) ----------------------------------

    def _stale(self) -> bool:
        """No beat has come for a while: is one actor call holding the loop? Whether to
        go on watching."""
        try:
            if self._loop.is_closed():
                return False
            now = time.monotonic()
            if not self._late:
                self._late = True
                running = self._running()
                self._streak = _Streak(running.key, now) if running is not None else None
            else:
                self._check(now)
        except BaseException:
            # On the monitor's thread, where SystemExit ends nothing but the monitor:
            # reported as any failure, rather than left to the monitor's last resort.
            logger.exception("the actor system's watchdog failed; loop blocks go unreported")
            return False
        return True

    def _check(self, now: float) -> None:
        """The heartbeat is late: is one actor call holding the loop?"""
        running = self._running()
        streak = self._streak
        if running is None:
            self._streak = None
            return
        if streak is None or streak.key != running.key:
            self._streak = _Streak(running.key, now)
            return
        held = now - streak.since
        if streak.reported:
            # Still held: the dashboard shows how long, to within a tick.
            last = self.recent[-1] if self.recent else None
            if last is not None and last.timestamp == streak.reported_at:
                from dataclasses import replace  # loaded with LoopBlock

                self.recent[-1] = replace(last, held_s=held)
            return
        if held < self.threshold:
            return
        streak.reported = True
        core, method = running.core, None
        if core is None:
            assert running.task is not None
            found = self._call_in(running.task)
            if found is None:
                return  # not an actor's call (or it has just ended)
            core, call = found
            method = call.method
        if method is None:
            method = _method_name(core, running.frames)
        stack = _format(running.frames)
        streak.core, streak.method, streak.stack = core, method, stack
        self.blocks += 1
        streak.reported_at = time.time() - held
        # Here, not at import: a dataclass costs about a millisecond to make.
        from ._stuck import LoopBlock

        self.recent.append(
            LoopBlock(
                core.actor_id, core.spec.name, core.name, method, held, streak.reported_at, stack
            )
        )
        if (core.spec.name, method) in self._warned:
            return
        self._warned.add((core.spec.name, method))
        logger.warning(
            "%s.%s() has held the event loop for %.3f s so far (block_warning_s=%g) on %s; "
            "run blocking code with @asyncactors.method(run_in_thread=True) or in an "
            "executor. Where it is (most recent call last):\n%s",
            core.spec.name,
            method,
            held,
            self.threshold,
            core.describe(),
            "".join(stack).rstrip(),
        )

    def _running(self) -> _Running | None:
        """The actor code the loop thread is running now, if any. Cheap: no
        actor is looked up."""
        core = cast("EngineCore | None", self._host.inline)
        task = None if core is not None else asyncio.current_task(self._loop)
        if core is None and task is None:
            return None
        top = sys._current_frames().get(self._loop_thread)
        frames = _actor_frames(top, self._runners)
        del top
        if not frames:
            return None  # the engine's own code, between calls, or no actor's task
        return _Running(core, task, frames)

    def _call_in(self, task: asyncio.Task[Any]) -> tuple[EngineCore, RunningCall] | None:
        """The actor, and its call, that ``task`` runs (a scan: only for a block)."""
        for core in list(self._actors.values()):
            for call in core.running_calls():
                if call.task is task:
                    return core, call
        return None

    # -- read by the system (any thread) ------------------------------------------

    def stuck_calls(self, older_than_s: float) -> list[StuckCall]:
        """Running calls first seen at least ``older_than_s`` seconds ago, oldest first."""
        from ._stuck import StuckCall  # see _check

        now = time.monotonic()
        out: list[StuckCall] = []
        for seen in list(self._seen.values()):
            ref, task = seen.ref(), seen.task()
            if ref is None or task is None or ref.done() or now - seen.since < older_than_s:
                continue
            if not any(c.ref is ref for c in seen.core.running_calls()):
                continue  # restarted since the last sample
            frames = _thread_frames(seen.func) if seen.kind == "thread" else None
            if frames is None:
                frames = _after_runner(list(_await_chain(task.get_coro())), self._runners)
            core = seen.core
            out.append(
                StuckCall(
                    core.actor_id,
                    core.spec.name,
                    core.name,
                    seen.method,
                    seen.kind,
                    now - seen.since,
                    _format(frames),
                )
            )
        streak = self._streak
        if (
            self._late
            and streak is not None
            and streak.reported
            and streak.core is not None
            and now - streak.since >= older_than_s
            and threading.get_ident() != self._loop_thread
        ):
            core = streak.core
            out.append(
                StuckCall(
                    core.actor_id,
                    core.spec.name,
                    core.name,
                    streak.method,
                    "sync",
                    now - streak.since,
                    streak.stack,
                )
            )
        out.sort(key=lambda s: -s.age_s)
        return out


def _walk_out(frame: FrameType | None) -> Iterator[FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back


def _actor_frames(top: FrameType | None, runners: frozenset[CodeType]) -> list[FrameType]:
    """The frames of an actor's code running on the loop thread, outermost first."""
    inner: list[FrameType] = []
    for frame in _walk_out(top):
        if frame.f_code in runners:
            inner.reverse()
            return inner
        inner.append(frame)
    return []


def _after_runner(chain: list[FrameType], runners: frozenset[CodeType]) -> list[FrameType]:
    """``chain`` (outermost first) from the frame an engine runner called."""
    for i, frame in enumerate(chain):
        if frame.f_code in runners:
            return _after_runner(chain[i + 1 :], runners)
    return chain


def _await_chain(coro: Any) -> Iterator[FrameType]:
    """The frames of a suspended coroutine and of what it awaits, outermost first."""
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            return
        yield frame
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)


def _thread_frames(func: Any) -> list[FrameType] | None:
    """The stack of the thread running ``func``, from ``func``'s frame in; None if none is."""
    code = getattr(inspect.unwrap(func), "__code__", None)
    if code is None:
        return None
    for frame in sys._current_frames().values():
        inner: list[FrameType] = []
        for f in _walk_out(frame):
            inner.append(f)
            if f.f_code is code:
                inner.reverse()
                return inner
    return None


def _method_name(core: EngineCore, frames: list[FrameType]) -> str:
    """The method of ``core`` among ``frames`` (outermost first), or the first frame's name
    (``__init__``, a hook)."""
    codes = {getattr(m.func, "__code__", None): name for name, m in core.spec.methods.items()}
    for frame in frames:
        name = codes.get(frame.f_code)
        if name is not None:
            return name
    return frames[0].f_code.co_name


def _format(frames: Iterable[FrameType]) -> tuple[str, ...]:
    summary = traceback.StackSummary.extract(((f, f.f_lineno) for f in frames), lookup_lines=True)
    return tuple(summary.format())
