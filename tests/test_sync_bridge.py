"""The sync bridge: a background actor system used from plain threads and foreign loops."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import asyncactors
from asyncactors import ActorDiedError, GetTimeoutError, ObjectRef, _system
from asyncactors._sync import BackgroundSystem

from ._loop import monitor_thread_alive, monitor_thread_gone, until


@asyncactors.remote
class Counter:
    def __init__(self) -> None:
        self.n = 0

    def incr(self) -> int:
        self.n += 1
        return self.n

    def thread(self) -> int:
        return threading.get_ident()

    def fail(self, msg: str) -> None:
        raise ValueError(msg)


@asyncactors.remote(max_concurrency=2)
class Gate:
    """A call that blocks until ``open()``, after setting the caller's ``entered`` event."""

    def __init__(self, entered: threading.Event) -> None:
        self.entered = entered
        self.opened: asyncio.Event | None = None

    async def wait(self) -> str:
        self.opened = asyncio.Event()
        self.entered.set()
        await self.opened.wait()
        return "through"

    def open(self) -> None:
        assert self.opened is not None
        self.opened.set()


@asyncactors.remote(max_concurrency=1)
class Slow:
    async def slow(self, i: int) -> int:
        await asyncio.sleep(0.001)
        return i


def stuck_call() -> tuple[Any, Any]:
    """A gate and a call of it that is running, blocked until ``gate.open.remote()``."""
    entered = threading.Event()
    gate = Gate.remote(entered)
    ref = gate.wait.remote()
    assert entered.wait(5)
    return gate, ref


@pytest.fixture
def system() -> Iterator[BackgroundSystem]:
    """A background system that the test may stop itself; stopped at teardown anyway."""
    s = asyncactors.start_background()
    try:
        yield s
    finally:
        s._stop(1, give_up_after=3)  # bounded: a test that wedges the loop fails, not hangs


def run_in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a new plain thread and return what it returned, or raise what it raised."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:
            out["exc"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join(10)
    assert not t.is_alive()
    if "exc" in out:
        raise out["exc"]
    return out["value"]


# -- plain threads --------------------------------------------------------------------------


def test_many_threads_create_and_call_actors_with_exact_counts(system: BackgroundSystem) -> None:
    """Eight threads calling one actor and creating their own lose and duplicate no call."""
    shared = Counter.remote()
    per_thread = 200
    results: list[list[int]] = []
    own_counts: list[int] = []
    start = threading.Barrier(8)

    def worker() -> None:
        own = Counter.remote()
        start.wait()
        refs = [shared.incr.remote() for _ in range(per_thread)]
        for _ in range(per_thread):
            own.incr.remote()
        results.append(asyncactors.get_sync(refs, timeout=10))
        own_counts.append(own.incr.remote().result(timeout=10))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(v for r in results for v in r) == list(range(1, 8 * per_thread + 1))
    assert all(r == sorted(r) for r in results)  # each thread's calls run in its order
    assert own_counts == [per_thread + 1] * 8
    assert shared.incr.remote().result(timeout=5) == 8 * per_thread + 1


def test_calls_run_on_the_background_loop_thread(system: BackgroundSystem) -> None:
    """Actors created from the main thread run on the system's own loop thread."""
    assert system._thread is not None
    assert system._thread is not threading.current_thread()
    c = Counter.remote()
    assert c.thread.remote().result(timeout=5) == system._thread.ident
    Counter.options(name="named").remote()
    assert run_in_thread(lambda: asyncactors.get_actor("named").incr.remote().result(5)) == 1


def test_code_on_the_background_loop_outside_actors_uses_it(system: BackgroundSystem) -> None:
    """Code on the background loop outside actors finds the background system as its default."""
    found: list[_system.ActorSystem] = []
    done = threading.Event()

    def callback() -> None:
        found.append(_system.default_system())
        done.set()

    system.loop.call_soon_threadsafe(callback)
    assert done.wait(5)
    assert found == [system]

    async def reinit() -> _system.ActorSystem:
        return asyncactors.init(ignore_reinit_error=True)

    # It is the loop's own default: init() there finds it instead of making another.
    assert asyncio.run_coroutine_threadsafe(reinit(), system.loop).result(5) is system


# -- a thread whose own loop runs (Jupyter) ---------------------------------------------------


def test_running_loop_without_a_system_uses_the_background_one(system: BackgroundSystem) -> None:
    """In asyncio.run() in another thread, actors live on the background loop; await works."""
    assert system._thread is not None
    background_thread = system._thread.ident

    async def cell() -> tuple[int, int, list[int], int, bool]:
        c = Counter.remote()
        await c  # the handle is awaitable from this other loop
        first = await c.incr.remote()
        ran_on = await c.thread.remote()
        values = await asyncactors.get([c.incr.remote(), c.incr.remote()])
        blocking = c.incr.remote().result(timeout=5)  # blocks this loop, as documented
        own = _system._defaults.get(asyncio.get_running_loop())
        return first, ran_on, values, blocking, own is None

    first, ran_on, values, blocking, no_own_system = run_in_thread(lambda: asyncio.run(cell()))
    assert (first, values, blocking) == (1, [2, 3], 4)
    assert ran_on == background_thread != threading.get_ident()
    assert no_own_system


async def test_running_loop_with_its_own_default_keeps_it(system: BackgroundSystem) -> None:
    """A loop that has called init() keeps its own system; the background one is not used there."""
    own = asyncactors.init()
    try:
        c = Counter.remote()
        assert await c.thread.remote() == threading.get_ident()
        assert _system.default_system() is own
    finally:
        await asyncactors.shutdown()
    # A thread without a loop still gets the background system.
    assert run_in_thread(_system.default_system) is system


# -- with, stop, atexit ---------------------------------------------------------------------


def test_with_form_stops_on_exit_and_clears_the_default() -> None:
    """Leaving 'with' stops the system and its thread; a loopless .remote() is then refused."""
    before = set(threading.enumerate())
    with asyncactors.start_background() as system:
        assert isinstance(system, BackgroundSystem)
        c = Counter.remote()
        assert c.incr.remote().result(timeout=5) == 1
    assert not system._running
    assert system.closed
    assert _system._background is None
    assert set(threading.enumerate()) == before
    with pytest.raises(RuntimeError, match="no running event loop and no actor system"):
        Counter.remote()
    with pytest.raises(ActorDiedError):
        c.incr.remote().result(timeout=5)
    with pytest.raises(RuntimeError, match="has been stopped"), system:
        pass


def test_with_exit_by_exception_cancels_running_calls() -> None:
    """An exception leaving 'with' cancels running calls at once: callers get ActorDiedError."""
    stuck: list[Any] = []

    def body() -> None:
        with asyncactors.start_background():
            stuck.append(stuck_call()[1])
            raise KeyError("boom")

    with pytest.raises(KeyError):
        body()
    with pytest.raises(ActorDiedError, match="shutdown timeout"):
        stuck[0].result(timeout=5)


def test_stop_drains_queued_calls(system: BackgroundSystem) -> None:
    """stop() without a timeout lets every queued call finish before the system closes."""
    slow = Slow.remote()
    refs = [slow.slow.remote(i) for i in range(30)]
    system.stop()
    assert all(r.done() for r in refs)
    assert asyncactors.get_sync(refs) == list(range(30))


def test_stop_timeout_cancels_a_stuck_call(system: BackgroundSystem) -> None:
    """stop(timeout) cancels a stuck call; a thread blocked in its result() gets ActorDiedError."""
    _, stuck = stuck_call()
    waiting = threading.Thread(target=lambda: caught.append(_raises(stuck.result)))
    caught: list[BaseException | None] = []
    waiting.start()
    system.stop(timeout=0.05)
    waiting.join(5)
    assert isinstance(caught[0], ActorDiedError)
    assert "shutdown timeout" in str(caught[0])


def _raises(fn: Callable[[], Any]) -> BaseException | None:
    try:
        fn()
    except BaseException as exc:
        return exc
    return None


def test_stop_is_idempotent_from_several_threads(system: BackgroundSystem) -> None:
    """Concurrent and repeated stop() calls all return once the system has stopped."""
    slow = Slow.remote()
    refs = [slow.slow.remote(i) for i in range(10)]
    threads = [threading.Thread(target=system.stop) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    system.stop()
    assert not system._running
    assert system.closed
    assert all(r.done() for r in refs)


@asyncactors.remote
class Waiter:
    async def wait(self, opened: asyncio.Event, entered: threading.Event) -> str:
        entered.set()
        await opened.wait()
        return "through"


def test_a_stop_during_another_threads_stop_returns_once_the_system_has_stopped(
    system: BackgroundSystem,
) -> None:
    """A second thread's stop() while a first one drains a running call waits for that drain
    (it returned at once, the system still running) and neither raises nor closes twice."""
    opened, entered = asyncio.Event(), threading.Event()
    ref = Waiter.remote().wait.remote(opened, entered)
    assert entered.wait(5)
    seen: list[object] = []

    def stop() -> None:
        try:
            system.stop()
            assert system._thread is not None
            seen.append((system.closed, ref.done(), system._thread.is_alive()))
        except BaseException as exc:  # pragma: no cover - what the test fails on
            seen.append(exc)

    first = threading.Thread(target=stop)
    second = threading.Thread(target=stop)
    first.start()
    try:
        assert until(lambda: system._closing)  # the first stop() is draining
        second.start()
        second.join(0.05)  # without waiting for the first, it would have returned by now
        assert not seen
    finally:
        system.loop.call_soon_threadsafe(opened.set)
        for t in (first, second):
            if t.ident is not None:
                t.join(5)
    assert seen == [(True, True, False)] * 2
    assert ref.result(timeout=0) == "through"


def test_stop_inside_an_actor_is_refused(system: BackgroundSystem) -> None:
    """stop() on the system's own loop thread raises instead of waiting for itself."""

    @asyncactors.remote
    class Stopper:
        def stop_it(self) -> None:
            system.stop()

    with pytest.raises(RuntimeError, match="its own loop thread"):
        Stopper.remote().stop_it.remote().result(timeout=5)
    assert system._running


def test_stop_rejects_a_bad_timeout(system: BackgroundSystem) -> None:
    """stop() checks its timeout before stopping anything."""
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        system.stop(-1)
    with pytest.raises(TypeError, match="timeout must be a number"):
        system.stop("1")  # type: ignore[arg-type]
    assert system._running


def test_second_background_system_is_refused_until_the_first_stops() -> None:
    """One background system per process: a second start raises; after stop() a new one starts."""
    first = asyncactors.start_background()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            asyncactors.start_background()
    finally:
        first.stop()
    second = asyncactors.start_background()
    try:
        assert run_in_thread(_system.default_system) is second
    finally:
        second.stop()


def test_async_with_and_foreign_shutdown_are_refused(system: BackgroundSystem) -> None:
    """'async with' of a background system, or awaiting its shutdown() on another loop, raises."""

    async def enter() -> None:
        async with system:
            pass  # pragma: no cover - refused on entry

    with pytest.raises(RuntimeError, match="cannot be entered with 'async with'"):
        asyncio.run(enter())
    with pytest.raises(RuntimeError, match=r"call system.stop\(timeout\)"):
        asyncio.run(system.shutdown())
    assert system._running


def test_start_background_checks_its_arguments() -> None:
    """Bad arguments raise before any thread starts, naming the valid choices."""
    before = set(threading.enumerate())
    with pytest.raises(ValueError, match="'asyncio' or 'uvloop'"):
        asyncactors.start_background(loop="trio")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shutdown_timeout must be >= 0"):
        asyncactors.start_background(shutdown_timeout=-1)
    with pytest.raises(TypeError, match="shutdown_timeout must be a number"):
        asyncactors.start_background(shutdown_timeout="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a valid namespace"):
        asyncactors.start_background(namespace="")
    assert _system._background is None
    assert set(threading.enumerate()) == before


def test_uvloop_background_system() -> None:
    """loop='uvloop' runs the system on a uvloop loop."""
    uvloop = pytest.importorskip("uvloop")
    with asyncactors.start_background(loop="uvloop", namespace="uv") as system:
        assert isinstance(system.loop, uvloop.Loop)
        assert system.namespace == "uv"
        assert Counter.remote().incr.remote().result(timeout=5) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="looks at threads in /proc")
def test_no_thread_left_after_stop() -> None:
    """stop() ends the loop thread, and the watchdog and the worker threads of run_in_thread
    methods end too."""

    @asyncactors.remote
    class Blocking:
        @asyncactors.method(run_in_thread=True)
        def work(self) -> str:
            return threading.current_thread().name

    before = set(threading.enumerate())
    system = asyncactors.start_background()
    assert Blocking.remote().work.remote().result(timeout=5) == "AnyIO worker thread"
    started = set(threading.enumerate()) - before
    assert system._thread in started
    # The loop thread, anyio's worker, and the system's watchdog: a thread of the C
    # extension's, which threading does not list, or a Python one without it.
    watchdog = system._watchdog
    assert watchdog is not None
    assert watchdog.running
    assert monitor_thread_alive(watchdog)
    assert len(started - {t for t in started if t.native_id == watchdog._pulse.native_id}) == 2
    system.stop()
    assert not system._thread.is_alive()  # stop() returns once the loop thread has ended
    assert not watchdog.running
    assert monitor_thread_gone(watchdog)
    # anyio tells its idle workers to end when the loop does; they exit a moment later.
    for t in started:
        t.join(5)
    assert set(threading.enumerate()) == before


def test_an_unstopped_background_system_is_drained_at_exit(tmp_path: Any) -> None:
    """A script that never stops its background system drains it at exit, cancels what is stuck."""
    script = tmp_path / "never_stops.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio
            import asyncactors
            import asyncactors._sync

            @asyncactors.remote
            class Worker:
                def __init__(self):
                    self.n = 0
                async def step(self):
                    await asyncio.sleep(0.001)
                    self.n += 1
                def __pre_destroy__(self):
                    print("drained", self.n, flush=True)

            @asyncactors.remote
            class Stuck:
                async def forever(self):
                    try:
                        await asyncio.Event().wait()
                    except asyncio.CancelledError:
                        print("stuck call cancelled", flush=True)
                        raise

            # No shutdown_timeout: the exit's own drain timeout applies, shortened here.
            asyncactors._sync.EXIT_TIMEOUT = 0.2
            asyncactors.start_background()
            w = Worker.remote()
            for _ in range(20):
                w.step.remote()
            Stuck.remote().forever.remote()
            print("main done", flush=True)
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == ["main done", "drained 20", "stuck call cancelled"]


def test_exit_does_not_hang_on_a_blocked_background_loop(tmp_path: Any) -> None:
    """At exit, a loop blocked by a sync method is given up on after the timeout, with an error."""
    script = tmp_path / "blocked.py"
    script.write_text(
        textwrap.dedent(
            """
            import logging
            import threading
            import asyncactors

            logging.basicConfig()

            @asyncactors.remote
            class Blocker:
                def block(self, entered):
                    entered.set()
                    threading.Event().wait()

            asyncactors.start_background(shutdown_timeout=0.1)
            entered = threading.Event()
            Blocker.remote().block.remote(entered)
            entered.wait(10)
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "did not stop within 0.7 s: a sync method blocks its event loop" in proc.stderr


def test_exit_does_not_wait_for_ever_for_a_daemon_threads_stop(tmp_path: Any) -> None:
    """At exit, a stop() under way in a daemon thread, draining with no timeout a call that
    never ends, is given up on after the exit's bound too (the exit waited for it for ever)."""
    script = tmp_path / "stopping.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio
            import logging
            import threading
            import time
            import asyncactors

            logging.basicConfig()

            @asyncactors.remote
            class Hanger:
                async def hang(self, entered):
                    entered.set()
                    await asyncio.Event().wait()

            system = asyncactors.start_background(shutdown_timeout=0.01)
            entered = threading.Event()
            Hanger.remote().hang.remote(entered)
            entered.wait(10)
            threading.Thread(target=system.stop, daemon=True).start()
            while system._running:
                time.sleep(0.001)
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=10, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "did not stop within 0.52 s: another thread's stop() is still draining it" in proc.stderr


def test_a_background_system_with_an_infinite_timeout_stops_at_exit(
    system: BackgroundSystem,
) -> None:
    """The exit's bound on the wait (2 * inf + 0.5) waits without one, not OverflowError."""
    c = Counter.remote()
    ref = c.incr.remote()
    system._stop(math.inf, give_up_after=math.inf)
    assert ref.result(timeout=0) == 1
    assert not system._running


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_forked_child_lets_go_of_its_parents_background_system(tmp_path: Any, loop: str) -> None:
    """In a forked child (no loop thread there) calls and refs in flight at the fork fail at
    once, a new system starts, and the exit does not wait for the parent's; on uvloop too,
    where calls were queued on a loop nothing runs and waited until their timeout."""
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    script = tmp_path / "forks.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, os, sys, time, warnings
            import asyncactors

            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12: fork() with threads

            @asyncactors.remote
            class Counter:
                def __init__(self):
                    self.n = 0
                def incr(self):
                    self.n += 1
                    return self.n
                async def hold(self):
                    await asyncio.Event().wait()

            system = asyncactors.start_background(loop=sys.argv[1])
            c = Counter.remote()
            assert c.incr.remote().result(5) == 1
            held = c.hold.remote()
            pid = os.fork()
            if pid == 0:
                for ref in (lambda: c.incr.remote(), lambda: held):
                    try:
                        ref().result(1)
                    except asyncactors.ActorDiedError as exc:
                        print("inherited:", exc, flush=True)
                try:
                    Counter.remote()
                except RuntimeError:
                    print("new actor: refused", flush=True)
                with asyncactors.start_background(loop=sys.argv[1]):
                    print("own system:", Counter.remote().incr.remote().result(5), flush=True)
                system.stop()
                print("stopped", flush=True)
                sys.exit(0)  # atexit runs: it must not wait for the parent's system
            start = time.monotonic()
            _, status = os.waitpid(pid, 0)
            print("child exit", status, time.monotonic() - start < 5, flush=True)
            print("parent:", c.incr.remote().result(5), held.cancel(), flush=True)
            system.stop()
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, str(script), loop],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "inherited: actor Counter(id=1) is unreachable: its event loop is closed",
        "inherited: actor Counter(id=1) is unreachable: its event loop is closed",
        "new actor: refused",
        "own system: 1",
        "stopped",
        "child exit 0 True",
        "parent: 2 True",
    ], proc.stderr
    assert "did not stop" not in proc.stderr


@pytest.mark.parametrize("timeout", [-1, math.nan, "1"])
def test_result_refuses_a_bad_timeout_instead_of_timing_out_at_once(
    system: BackgroundSystem, timeout: Any
) -> None:
    """As get_sync(): a negative or NaN timeout is a ValueError, a non-number a TypeError."""
    gate, stuck = stuck_call()
    error = TypeError if isinstance(timeout, str) else ValueError
    with pytest.raises(error, match="timeout must be"):
        stuck.result(timeout=timeout)
    gate.open.remote()
    assert stuck.result(timeout=5) == "through"


@pytest.mark.parametrize("wait", ["result", "get_sync"])
def test_an_infinite_timeout_waits_as_none_does(system: BackgroundSystem, wait: str) -> None:
    """timeout=math.inf blocks until the value is there (it raised OverflowError)."""
    gate, stuck = stuck_call()
    opener = threading.Timer(0.01, gate.open.remote)
    opener.start()
    if wait == "result":
        assert stuck.result(timeout=math.inf) == "through"
    else:
        assert asyncactors.get_sync([stuck], timeout=math.inf) == ["through"]
    opener.join()


# -- get_sync -------------------------------------------------------------------------------


def test_get_sync_returns_one_value_or_a_list_in_order(system: BackgroundSystem) -> None:
    """get_sync takes one ref or a list (or tuple) and returns values in input order."""
    c = Counter.remote()
    assert asyncactors.get_sync(c.incr.remote()) == 1
    slow_first: list[ObjectRef[Any]] = [
        Slow.remote().slow.remote(0),
        c.incr.remote(),
        asyncactors.put("x"),
    ]
    assert asyncactors.get_sync(slow_first, timeout=5) == [0, 2, "x"]
    assert asyncactors.get_sync((c.incr.remote(),)) == [3]
    assert asyncactors.get_sync([]) == []


def test_get_sync_timeout_leaves_the_calls_running(system: BackgroundSystem) -> None:
    """On timeout get_sync raises GetTimeoutError counting what is not ready; the calls go on."""
    gate, stuck = stuck_call()
    done = asyncactors.put(1)
    with pytest.raises(GetTimeoutError, match=r"after 0.02 s with 1 ref\(s\) not ready"):
        asyncactors.get_sync([done, stuck], timeout=0.02)
    with pytest.raises(GetTimeoutError):
        asyncactors.get_sync(stuck, timeout=0)
    gate.open.remote()
    assert asyncactors.get_sync(stuck, timeout=5) == "through"


def test_get_sync_raises_the_first_failure_in_list_order(system: BackgroundSystem) -> None:
    """A failed ref raises as soon as the refs before it are done, not after those behind it."""
    c = Counter.remote()
    gate, stuck = stuck_call()
    with pytest.raises(ValueError, match="first"):
        asyncactors.get_sync([c.fail.remote("first"), stuck], timeout=5)
    third = c.fail.remote("third")
    with pytest.raises(ValueError, match="second"):
        asyncactors.get_sync([c.incr.remote(), c.fail.remote("second"), third])
    with pytest.raises(ValueError, match="third"):
        third.result(timeout=5)
    assert not stuck.done()
    gate.open.remote()


def test_get_sync_on_the_loop_thread_is_refused(system: BackgroundSystem) -> None:
    """get_sync inside an actor, of a ref of its own loop, says to await instead."""

    @asyncactors.remote
    class Caller:
        def call(self, other: Any) -> int:
            return asyncactors.get_sync(other.incr.remote())  # type: ignore[no-any-return]

    with pytest.raises(RuntimeError, match=r"await asyncactors.get\(\.\.\.\)"):
        Caller.remote().call.remote(Counter.remote()).result(timeout=5)


def test_get_sync_checks_its_arguments(system: BackgroundSystem) -> None:
    """Like get(): ValueError for a non-list, TypeError for non-refs, a checked timeout."""
    ref = asyncactors.put(1)
    with pytest.raises(ValueError, match="get_sync"):
        asyncactors.get_sync(1)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="ObjectRefs only"):
        asyncactors.get_sync([ref, 2])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        asyncactors.get_sync(ref, timeout=-1)
