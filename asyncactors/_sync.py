"""Using actors from sync code: a background actor system and ``get_sync()``."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar, get_args, overload

from . import _system
from ._api import _check_refs
from ._exceptions import GetTimeoutError
from ._options import check_timeout, thread_timeout
from ._ref import ObjectRef, logger
from ._system import ActorSystem

__all__ = ["BackgroundSystem", "LoopKind", "get_sync", "start_background"]

_T = TypeVar("_T")

LoopKind = Literal["asyncio", "uvloop"]
_LOOP_KINDS: tuple[str, ...] = get_args(LoopKind)

# How long calls may still run when the interpreter exits with a background
# system running that has no shutdown_timeout of its own.
EXIT_TIMEOUT = 5.0
# How much longer than its shutdown may take the exit waits for a system.
EXIT_GRACE = 0.5

# Guards asyncactors._system._background: one background system at a time.
_start_lock = threading.Lock()


class BackgroundSystem(ActorSystem):
    """An ``ActorSystem`` running on its own event loop thread; see ``start_background()``.

    ``stop(timeout=None)`` drains it as ``shutdown()`` does and ends its thread;
    ``with`` stops it on exit. It cannot be entered with ``async with``.
    """

    def __init__(
        self,
        *,
        namespace: str,
        shutdown_timeout: float | None,
        resources: Mapping[str, float | list[int] | list[str]] | None = None,
    ) -> None:
        super().__init__(
            namespace=namespace, shutdown_timeout=shutdown_timeout, resources=resources
        )
        self._thread: threading.Thread | None = None
        self._loop_stopped: asyncio.Event
        # False from stop() on; the loop thread may still be ending.
        self._up = False
        self._stop_lock = threading.Lock()

    def _start(self, loop: LoopKind) -> None:
        factory: Callable[[], asyncio.AbstractEventLoop] | None = None
        if loop == "uvloop":
            import uvloop

            factory = uvloop.new_event_loop
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        # A daemon thread of our own rather than anyio's blocking portal: a wedged
        # loop can then be given up on by just not joining it, where closing the
        # portal would take a new thread at exit, which Python 3.12 forbids there.
        thread = threading.Thread(
            target=self._run_loop, args=(factory, ready), name="asyncactors-background", daemon=True
        )
        thread.start()
        ready.result()
        self._up = True

    def _run_loop(
        self,
        factory: Callable[[], asyncio.AbstractEventLoop] | None,
        ready: concurrent.futures.Future[None],
    ) -> None:
        # Runner.close() cancels what is left, as asyncio.run() does.
        try:
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(self._serve(ready))
        except BaseException as exc:  # pragma: no cover - binding a fresh system cannot fail
            if ready.done():
                raise
            ready.set_exception(exc)

    async def _serve(self, ready: concurrent.futures.Future[None]) -> None:
        self._attach()
        stopped = self._loop_stopped = asyncio.Event()
        ready.set_result(None)
        await stopped.wait()

    def _end_loop(self) -> None:
        """Let the loop thread end (its leftover tasks are cancelled) and wait for it."""
        self.loop.call_soon_threadsafe(self._loop_stopped.set)
        thread = self._thread
        assert thread is not None
        thread.join()

    def _attach(self) -> None:
        # Runs on the new loop's thread: the system binds to the loop and that
        # thread, and code on the loop outside any actor (callbacks, tasks)
        # finds it as the loop's default instead of making a second system.
        loop = asyncio.get_running_loop()
        self._bind(loop)
        _system._defaults[loop] = self
        self._thread = threading.current_thread()

    @property
    def _running(self) -> bool:
        """Whether the loop thread is up: ``stop()`` has not been called yet."""
        return self._up

    def stop(self, timeout: float | None = None) -> None:
        """Shut the system down and end its loop thread; block until both are done.

        As ``shutdown()``: new calls are refused with ``ActorDiedError``, running
        and queued calls may finish for up to ``timeout`` seconds (``None``: as
        long as they take), then they are cancelled and their callers get
        ``ActorDiedError``. Afterwards the system is no longer the default of
        any thread. Idempotent, and safe from any thread but the system's own.

        Raises:
            RuntimeError: called on the system's own loop thread (inside an
                actor), where it would wait for itself.
            TypeError: ``timeout`` is not a number or ``None``.
            ValueError: ``timeout`` is negative.
        """
        self._stop(timeout, None)

    def _stop(self, timeout: float | None, give_up_after: float | None) -> None:
        """``stop(timeout)``; after ``give_up_after`` seconds stop waiting for a wedged loop."""
        check_timeout(timeout)
        if threading.get_ident() == self._thread_id:
            raise RuntimeError(
                "a background ActorSystem cannot be stopped from its own loop thread (inside "
                "one of its actors), where stop() would wait for itself; call system.stop() "
                "from another thread, or 'await system.shutdown()' to drain it without "
                "ending the thread"
            )
        # Bounded too: at exit, a daemon thread's stop() may wait for ever (timeout=None).
        if not self._stop_lock.acquire(timeout=_lock_timeout(give_up_after)):
            _forget(self)
            logger.error(
                "%r did not stop within %s s: another thread's stop() is still draining it; "
                "leaving its thread running",
                self,
                give_up_after,
            )
            return
        try:
            if not self._up:
                return
            self._up = False
            try:
                future = asyncio.run_coroutine_threadsafe(self.shutdown(timeout), self.loop)
                if not concurrent.futures.wait([future], thread_timeout(give_up_after)).done:
                    # The loop thread is a daemon: it dies with the process.
                    _forget(self)
                    logger.error(
                        "%r did not stop within %s s: a sync method blocks its event loop, "
                        "or a task ignores cancellation; leaving its thread running",
                        self,
                        give_up_after,
                    )
                    return
                future.result()
            except BaseException:
                # Interrupted (KeyboardInterrupt): the loop's tasks are
                # cancelled as its thread ends, so that the thread still ends.
                _forget(self)
                self._end_loop()
                raise
            _forget(self)
            self._end_loop()
        finally:
            self._stop_lock.release()

    async def shutdown(self, timeout: float | None = None) -> None:
        """``ActorSystem.shutdown()``, on the system's own loop only; elsewhere use ``stop()``.

        Raises:
            RuntimeError: awaited on another event loop than the system's.
        """
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError(
                "a background ActorSystem runs on its own loop thread: call system.stop("
                "timeout) (it blocks until the system has drained) instead of awaiting "
                "shutdown() on another event loop"
            )
        await super().shutdown(timeout)

    def __enter__(self) -> BackgroundSystem:
        if not self._running:
            raise RuntimeError(
                "this background ActorSystem has been stopped; start a new one with "
                "asyncactors.start_background()"
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # As 'async with ActorSystem()': an exception cancels running calls at once.
        self.stop(0 if exc is not None else self._shutdown_timeout)

    async def __aenter__(self) -> BackgroundSystem:
        raise RuntimeError(
            "a background ActorSystem runs on its own loop thread and cannot be entered "
            "with 'async with'; use 'with asyncactors.start_background() as system:', "
            "or 'async with asyncactors.ActorSystem()' for a system on this loop"
        )


def _lock_timeout(give_up_after: float | None) -> float:
    """``give_up_after`` as ``Lock.acquire(timeout=...)`` takes it (-1: no limit)."""
    wait = thread_timeout(give_up_after)
    return -1 if wait is None else wait


def _forget(system: BackgroundSystem) -> None:
    with _start_lock:
        if _system._background is system:
            _system._background = None


def start_background(
    *,
    namespace: str = "default",
    shutdown_timeout: float | None = None,
    loop: LoopKind = "asyncio",
    resources: Mapping[str, float | list[int] | list[str]] | None = None,
) -> BackgroundSystem:
    """Run an actor system on a new event loop thread, for sync code.

    Until ``system.stop()``, it is the default system of every thread without a
    running loop, and of running loops without a default system of their own
    (a Jupyter cell): ``Cls.remote()`` and ``asyncactors.get_actor()`` there
    use it. Use ``ref.result()`` or ``asyncactors.get_sync()`` to wait for
    calls, or ``await`` them from any running loop. ``with
    asyncactors.start_background() as system:`` stops it on exit, after
    ``shutdown_timeout`` seconds of draining (``None``: no limit). A system
    still running when the interpreter exits is stopped then, with
    ``shutdown_timeout`` or else 5 seconds to drain.

    ``loop`` picks the event loop: ``"asyncio"`` or ``"uvloop"``; ``resources``
    is the system's capacity, as for ``ActorSystem``.

    Raises:
        RuntimeError: a background system is already running; stop it first.
        ValueError: ``loop`` is not ``"asyncio"`` or ``"uvloop"``, the namespace
            is empty, or ``shutdown_timeout`` is negative.
        TypeError: ``namespace`` is not a str, or ``shutdown_timeout`` is not a
            number or ``None``.
        TypeError, ValueError: bad ``resources`` (the message names it).
    """
    if loop not in _LOOP_KINDS:
        raise ValueError(f"loop must be 'asyncio' or 'uvloop', got {loop!r}")
    check_timeout(shutdown_timeout, "shutdown_timeout")
    with _start_lock:
        running = _system._background
        if running is not None:
            raise RuntimeError(
                f"a background actor system is already running ({running!r}); there is one "
                "per process: use it, or call its stop() before starting another"
            )
        system = BackgroundSystem(
            namespace=namespace, shutdown_timeout=shutdown_timeout, resources=resources
        )
        system._start(loop)
        _system._background = system
    return system


def stop_background_at_exit() -> None:
    """Stop the background system, if one is running, with a short drain.

    Gives up on a loop that a blocking call keeps from shutting down, or that
    another thread's ``stop()`` is still draining, so that the interpreter
    still exits.
    """
    system = _system._background
    if isinstance(system, BackgroundSystem):
        timeout = system._shutdown_timeout
        if timeout is None:
            timeout = EXIT_TIMEOUT
        # shutdown() may take the timeout twice: for the calls, then for the
        # cancelled calls and __pre_destroy__ hooks.
        system._stop(timeout, 2 * timeout + EXIT_GRACE)


@overload
def get_sync(refs: ObjectRef[_T], *, timeout: float | None = None) -> _T: ...


@overload
def get_sync(refs: Sequence[ObjectRef[_T]], *, timeout: float | None = None) -> list[_T]: ...


def get_sync(refs: Any, *, timeout: float | None = None) -> Any:
    """Block this thread for the value of a ref, or the values of a list of refs in order.

    The sync twin of ``asyncactors.get()``, for threads other than the refs'
    event loop thread. Waiting is not cancelling: on timeout the calls go on.

    Raises:
        GetTimeoutError: not every value was ready within ``timeout`` seconds.
        RuntimeError: called on the event loop thread of one of the refs, where
            waiting would deadlock; ``await asyncactors.get(...)`` there.
        ValueError: ``refs`` is neither an ObjectRef nor a list (as in Ray).
        TypeError: the list holds something other than ObjectRefs.
        Exception: the first failure in list order, as the method raised it.
    """
    check_timeout(timeout)
    single = _check_refs(refs, "get_sync")
    items: Sequence[ObjectRef[Any]] = [refs] if single else refs
    running = asyncio._get_running_loop()
    if running is not None and any(r._loop is running for r in items):
        raise RuntimeError(
            "get_sync() would block the actor system's own event loop; "
            "use 'await asyncactors.get(...)' there"
        )
    deadline = None if timeout is None else time.monotonic() + timeout
    values = []
    for r in items:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not r._block(remaining):
            pending = sum(not x.done() for x in items)
            raise GetTimeoutError(
                f"get_sync() timed out after {timeout} s with {pending} ref(s) not ready"
            )
        values.append(r._outcome())
    return values[0] if single else values


def _let_go_after_fork() -> None:
    """In a forked child, let go of the parent's background system.

    Its loop thread did not survive the fork, so nothing runs that loop here:
    without this, calls to its actors would wait forever, ``start_background()``
    would refuse to start the child's own, and the child's exit would wait for
    it in vain. Its loop is marked closed, so that calls through handles and
    refs the child inherited fail with ``ActorDiedError``.
    """
    global _start_lock
    # Another thread of the parent may have held these at the fork.
    _start_lock = threading.Lock()
    system = _system._background
    if not isinstance(system, BackgroundSystem):
        return
    _system._background = None
    system._stop_lock = threading.Lock()
    system._up = False
    loop = system._loop
    if loop is not None:
        _closed_in_this_process(loop)


def _closed_in_this_process(loop: asyncio.AbstractEventLoop) -> None:
    """Have ``loop``, whose thread did not survive a fork, say it is closed and refuse work.

    Not ``loop.close()``: it would unregister the loop's file descriptors from
    the epoll instance the child shares with its parent (uvloop's close() also
    refuses: the loop's copy says it runs).
    """
    if isinstance(loop, asyncio.BaseEventLoop):
        loop._closed = True  # type: ignore[attr-defined]
        return
    # uvloop's closed flag is a C field, out of reach from Python; uvloop.Loop is
    # a Python class over it, so the loop can become one of a subclass that says
    # it is closed. Else call_soon_threadsafe() would queue work nothing runs.
    loop.__class__ = _closed_twin(type(loop))


def _refuse_closed(*args: object, **kwargs: object) -> Any:
    raise RuntimeError("Event loop is closed")


def _closed_twin(cls: type[asyncio.AbstractEventLoop]) -> type[asyncio.AbstractEventLoop]:
    """A subclass of the loop class ``cls`` (of instances' layout) whose loops are closed."""
    return type(
        f"Forked{cls.__name__}",
        (cls,),
        {
            "__slots__": (),
            "__doc__": "A loop of the parent process, in a forked child: closed there.",
            "is_closed": lambda self: True,
            "close": lambda self: None,
            "call_soon": _refuse_closed,
            "call_soon_threadsafe": _refuse_closed,
            "call_later": _refuse_closed,
            "call_at": _refuse_closed,
            "create_task": _refuse_closed,
        },
    )


atexit.register(stop_background_at_exit)
os.register_at_fork(after_in_child=_let_go_after_fork)
