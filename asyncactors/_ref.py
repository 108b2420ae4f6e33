"""``ObjectRef``: the awaitable result of a call.

A ref is resolved exactly once, on its loop's thread. Each ``await`` gets its
own waiter (``WAITER``), so cancelling one awaiting task cancels neither the call
nor the other awaiters (Ray's semantics); ``ObjectRef.cancel()`` is the one way
to cancel the call itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import logging
import os
import sys
from collections.abc import Callable, Generator, Iterable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

from ._exceptions import ActorDiedError, GetTimeoutError, TaskCancelledError
from ._options import check_timeout, thread_timeout

__all__ = [
    "ObjectRef",
    "call_soon_from_afar",
    "describe_failure",
    "logger",
    "split",
    "unwatch",
    "watch_pending",
]

# No NullHandler, as asyncio's own logger has none: until the program configures
# logging, warnings and errors (a failure nobody awaited, a loop given up on at
# exit) reach stderr through logging's last resort instead of vanishing.
logger = logging.getLogger("asyncactors")

# Covariant: a ref is read, never written, by its holders (an ObjectRef[bool] is an
# ObjectRef[int]), so that lists of refs of several types type-check as one.
_T = TypeVar("_T", covariant=True)
_Callback = Callable[["ObjectRef[Any]"], None]
_Future = asyncio.Future
_get_running_loop = asyncio._get_running_loop


def call_soon_from_afar(
    loop: asyncio.AbstractEventLoop,
    fn: Callable[..., object],
    *args: Any,
    context: contextvars.Context | None = None,
) -> bool:
    """Have ``loop`` run ``fn(*args)`` soon, from another thread; ``False`` if it is closed.

    Raises:
        RuntimeError: ``loop.call_soon_threadsafe`` refused, the loop being open.
    """
    try:
        loop.call_soon_threadsafe(fn, *args, context=context)
    except RuntimeError:
        if not loop.is_closed():
            raise
        return False
    return True


# For type checking only: a Protocol class costs more to make than most classes.
if TYPE_CHECKING:

    class BlockingWaiter(Protocol):
        """What ``ObjectRef.__await__`` needs of the actor whose code awaits."""

        def blocking_wait(
            self, ref: ObjectRef[Any], fut: asyncio.Future[Any]
        ) -> Generator[Any, None, Any]: ...


# The actor whose async code runs in this task (set by the engines). Declared
# here, below _context (which re-exports it with its full type), so that
# awaiting a ref inside an actor can reach its engine without an upward import.
actor_var: ContextVar[BlockingWaiter | None] = ContextVar("asyncactors_actor", default=None)
_actor_here = actor_var.get

PENDING = 0
OK = 1
FAILED = 2
# Marks a ref whose outcome somebody has asked for, so its failure is not logged.
_SEEN: Any = object()


class _UnretrievedFailure:
    """Logs a failure that nobody retrieved when its ref is garbage-collected."""

    __slots__ = ("description", "exc")

    def __init__(self, exc: BaseException | None, description: str) -> None:
        self.exc: BaseException | None = exc
        self.description = description

    def __del__(self) -> None:
        exc = self.exc
        if exc is not None:
            level = _log_level(exc)
            # Logging can fail at interpreter shutdown; a destructor must not raise.
            with contextlib.suppress(Exception):
                logger.log(
                    level,
                    "%s failed and nobody awaited it",
                    self.description,
                    exc_info=(type(exc), exc, exc.__traceback__),
                )


def _log_level(exc: BaseException) -> int:
    """How loud a failure nobody retrieved is: an error; an actor's death a warning;
    a call the actor system's shutdown cut off (expected: shutting down is what
    stops calls) only a debug record."""
    if isinstance(exc, ActorDiedError):
        return logging.DEBUG if exc.by_shutdown else logging.WARNING
    return logging.ERROR


def describe_failure(ref: ObjectRef[Any], description: str) -> None:
    """Name ``ref`` ``description`` in the log of its failure, should nobody retrieve it.

    For a layer whose calls run under another name than the engine's call:
    compat.ray's tasks, which the engine sees as calls to a hidden actor. Loop
    thread, or before anybody else can resolve ``ref``.
    """
    log = ref._log
    if log is None:
        ref._log = _UnretrievedFailure(None, description)
    elif type(log) is _UnretrievedFailure:
        log.description = description


class _PyRefBase:
    """``ObjectRef``'s fields, in Python: the twin of ``_speedups.RefBase``.

    ``ObjectRef.__await__`` is defined in Python only over this base.
    """

    __slots__ = ("__weakref__", "_exc", "_log", "_loop", "_state", "_value", "_waiters")

    _exc: BaseException | None
    _log: Any
    _loop: asyncio.AbstractEventLoop | None
    _state: int
    _value: Any
    # None, the waiter of a lone ``await`` (most refs are awaited once, and
    # a list per call costs its allocation), or a list of waiters (WAITER or
    # futures) and callbacks.
    _waiters: Any


def _gil_enabled() -> bool:
    is_enabled: Callable[[], bool] | None = getattr(sys, "_is_gil_enabled", None)
    return is_enabled is None or is_enabled()


NO_EXTENSIONS = "ASYNCACTORS_NO_EXTENSIONS"
# Its values, in any case; unset is off.
_ON = ("1", "true", "yes")
_OFF = ("0", "false", "")


def extensions_off() -> bool:
    """Whether ``ASYNCACTORS_NO_EXTENSIONS`` turns the C accelerator off: ``1``,
    ``true`` or ``yes`` (in any case) do; ``0``, ``false``, empty or unset do not.

    Raises:
        ValueError: any other value, naming the valid ones.
    """
    value = os.environ.get(NO_EXTENSIONS, "")
    flag = value.lower()
    if flag in _ON:
        return True
    if flag in _OFF:
        return False
    raise ValueError(
        f"{NO_EXTENSIONS}={value!r} is not valid: 1, true or yes turn the C accelerator "
        "off (the pure-Python code runs); 0, false, empty or unset keep it on (in any case)"
    )


class _NoLoop:
    """The loop of ``_done_future()``'s future, which asks it only whether it debugs
    (and schedules nothing on it, being done before it has a callback)."""

    __slots__ = ()

    def get_debug(self) -> bool:
        return False


_done: asyncio.Future[None] | None = None


def _done_future() -> asyncio.Future[None]:
    """A future done with ``None``, the one the C base's waiters wake a Task with
    (see ``Waiter`` in _speedups.c)."""
    global _done
    if _done is None:
        _done = asyncio.Future(loop=_NoLoop())  # type: ignore[arg-type]
        _done.set_result(None)
    return _done


def _ref_base() -> type[_PyRefBase]:
    """The C base of ``ObjectRef`` if it is built and wanted, else the Python one.

    Not wanted: with ASYNCACTORS_NO_EXTENSIONS on (``extensions_off``), or where the
    GIL is disabled (a free-threaded build: the C code relies on the GIL). Not usable:
    in a sub-interpreter (ImportError: the extension serves the first interpreter
    only), or in a second copy of this module (re-imported: the extension is set up
    once, with the first copy's objects).

    Raises:
        ValueError: ASYNCACTORS_NO_EXTENSIONS has a value that is not valid.
    """
    # sys._is_gil_enabled (3.13+), not sysconfig: importing that costs more than
    # all of this module.
    if extensions_off() or not _gil_enabled():
        return _PyRefBase
    try:
        from ._speedups import RefBase, setup
    except ImportError:
        return _PyRefBase
    try:
        setup(_Future, asyncio.BaseEventLoop, _get_running_loop, actor_var, _SEEN, _done_future())
    except RuntimeError:  # set up already by another copy of this module
        return _PyRefBase
    return RefBase  # type: ignore[return-value]


if TYPE_CHECKING:
    _RefBase = _PyRefBase
else:
    _RefBase = _ref_base()
# Whether ObjectRef's fields and await are the C extension's (asyncactors._speedups).
ACCELERATED = _RefBase is not _PyRefBase


if TYPE_CHECKING:
    from ._speedups import Waiter


def _waiter_type() -> type[Waiter] | type[asyncio.Future[Any]]:
    """The type of an await's waiter outside an actor, with the base in use."""
    if not ACCELERATED:
        return _Future
    from ._speedups import Waiter

    return Waiter


# The type of what an ``await`` outside an actor waits on, among a ref's waiters:
# the C base's Waiter (a future in all that asyncio's Task asks of one), or the
# Python base's future of the loop. Inside an actor the waiter is a future.
WAITER = _waiter_type()

# The length of a ref's waiters from which _add_waiter drops abandoned ones.
_PRUNE_FROM: Final = 8


def _abandoned(waiter: Any) -> bool:
    """Whether a ref's ``waiter`` is an await's or a future's that ended without it."""
    return (type(waiter) is WAITER or isinstance(waiter, _Future)) and waiter.done()


class ObjectRef(_RefBase, Generic[_T]):
    """The future result of ``handle.method.remote()`` or ``asyncactors.put()``.

    Await it for the value, or the method's own exception. Inside an actor's
    async method, awaiting a ref whose call cannot finish until that method does
    raises ``DeadlockError`` at once. ``result()`` blocks a thread other than the
    actor system's loop thread.
    """

    __slots__ = ()

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop = loop
        self._state = PENDING
        self._value = None
        self._exc = None
        self._waiters = None
        self._log = None

    @classmethod
    def _ready(cls, value: Any) -> ObjectRef[Any]:
        ref: ObjectRef[Any] = cls(_get_running_loop())
        ref._state = OK
        ref._value = value
        return ref

    # -- resolution (loop thread only) --------------------------------------

    def _set_result(self, value: Any) -> None:
        if self._state:
            return
        self._state = OK
        self._value = value
        waiters = self._waiters
        if waiters is not None:
            self._waiters = None
            if type(waiters) is not list:
                if not waiters.done():
                    waiters.set_result(value)
                return
            for w in waiters:
                if type(w) is WAITER or isinstance(w, _Future):
                    if not w.done():
                        w.set_result(value)
                else:
                    w(self)

    def _set_exception(self, exc: BaseException, *, log: bool = True) -> None:
        if self._state:
            return
        if isinstance(exc, StopIteration):
            # Raised into the awaiting coroutine it would end it as a return, and a
            # future refuses it: a RuntimeError instead, as a generator turns it.
            err = RuntimeError(f"{self._describe()} failed with StopIteration")
            err.__cause__ = exc
            exc = err
        self._state = FAILED
        self._exc = exc
        # A failed ref has no value: it keeps the traceback the failure came
        # with, so that each raise starts again from it (as asyncio.Future's
        # does) instead of adding the frames of every await before.
        self._value = exc.__traceback__
        waiters = self._waiters
        if waiters is not None:
            self._waiters = None
            if type(waiters) is not list:
                waiters = (waiters,)
            for w in waiters:
                if type(w) is WAITER or isinstance(w, _Future):
                    if not w.done():
                        w.set_exception(exc)
                else:
                    w(self)
        if log:
            pending = self._log
            if pending is None:
                self._log = _UnretrievedFailure(exc, self._describe())
            elif type(pending) is _UnretrievedFailure and pending.exc is None:
                pending.exc = exc  # named beforehand by describe_failure()

    def _describe(self) -> str:
        return "ObjectRef"

    def _retrieved(self) -> None:
        log = self._log
        if log is not _SEEN:
            if log is not None:
                log.exc = None
            self._log = _SEEN

    def _was_cancelled(self) -> bool:
        """Whether the call behind this ref was cancelled."""
        return self._state == FAILED and isinstance(self._exc, TaskCancelledError)

    def _add_callback(self, callback: _Callback) -> None:
        """Call ``callback(self)`` on the loop thread once resolved (now, if it is)."""
        if self._state:
            callback(self)
            return
        self._add_waiter(callback)

    def _add_waiter(self, waiter: Any) -> None:
        """Add a future or a callback to the waiters (a lone future is kept as itself)."""
        waiters = self._waiters
        if waiters is None:
            self._waiters = [waiter]
        elif type(waiters) is list:
            n = len(waiters)
            if n >= _PRUNE_FROM and not n & (n - 1):
                # A ref polled with timeouts (wait_for, wait) collects the waiters
                # of awaits that were cancelled; dropping them whenever the list
                # reaches a power of two keeps it within twice the live ones, at
                # an amortised constant cost per await.
                waiters[:] = [w for w in waiters if not _abandoned(w)]
            waiters.append(waiter)
        else:
            self._waiters = [waiters, waiter]

    def _remove_callback(self, callback: _Callback) -> None:
        """Forget ``callback`` if it was added and has not been called yet (loop thread only)."""
        unwatch((self,), callback)

    def _add_callback_from_afar(self, callback: _Callback) -> None:
        """``_add_callback`` from a thread or loop other than the ref's own.

        Raises:
            ActorDiedError: the ref's loop is closed, so it can never resolve.
        """
        if not self._on_own_loop(self._add_callback, callback):
            raise self._unreachable()

    def _on_own_loop(self, method: Callable[[_Callback], None], callback: _Callback) -> bool:
        """Have the ref's loop thread run ``method(callback)``; ``False`` if that loop is closed."""
        loop = self._loop
        assert loop is not None
        return call_soon_from_afar(loop, method, callback)

    def _unreachable(self) -> ActorDiedError:
        """The error of waiting for this pending ref once its loop is closed."""
        return ActorDiedError(f"{self._describe()} can never finish: its event loop is closed")

    def _outcome(self) -> Any:
        self._retrieved()
        if self._state == FAILED:
            raise self._error()
        return self._value

    def _error(self) -> BaseException:
        """A failed ref's exception, with the traceback it failed with."""
        exc = self._exc
        assert exc is not None
        return exc.with_traceback(self._value)

    # -- public API -----------------------------------------------------------

    def done(self) -> bool:
        """Whether the ref has a value or an exception."""
        return self._state != PENDING

    def cancel(self) -> bool:
        """Cancel the call; return ``False`` if it had already finished.

        A queued call is removed and never runs; a running async method's task is
        cancelled. Awaiting a cancelled ref raises ``TaskCancelledError``.
        """
        return False

    # The C base has its own (see _speedups.c), which does the same.
    if TYPE_CHECKING or not ACCELERATED:

        def __await__(self) -> Generator[Any, None, _T]:
            if self._state:
                return self._finished()
            running = _get_running_loop()
            if running is not self._loop or running is None:
                return self._await_from_other_loop(running).__await__()
            fut = running.create_future()
            if self._waiters is None:
                self._waiters = fut
            else:
                self._add_waiter(fut)
            # _retrieved(), shortened: a pending ref has no failure to log yet.
            self._log = _SEEN
            actor = _actor_here()
            if actor is None:
                return iter(fut)  # not fut.__await__(): a slot wrapper, dearer to call
            # An actor's method is about to block: its engine checks that the wait can end.
            return actor.blocking_wait(self, fut)

    def _finished(self) -> Generator[Any, None, _T]:
        return self._outcome()  # type: ignore[no-any-return]
        yield  # pragma: no cover - makes this a generator

    def future(self) -> asyncio.Future[_T]:
        """A new ``asyncio.Future`` of the running loop that mirrors this ref.

        For ``asyncio.gather``, ``asyncio.wait`` and friends. Cancelling the
        future does not cancel the call.
        """
        running = asyncio.get_running_loop()
        fut: asyncio.Future[_T] = running.create_future()
        self._retrieved()
        if running is self._loop or self._loop is None:
            if self._state:
                _copy_outcome(self, fut)
            else:
                self._add_waiter(fut)
            return fut

        def relay(ref: ObjectRef[Any]) -> None:
            running.call_soon_threadsafe(_copy_outcome, ref, fut)

        try:
            self._add_callback_from_afar(relay)
        except ActorDiedError as exc:
            fut.set_exception(exc)
        return fut

    async def _await_from_other_loop(self, running: asyncio.AbstractEventLoop | None) -> _T:
        if running is None:
            raise RuntimeError("an ObjectRef can only be awaited inside a running event loop")
        return await self.future()

    def result(self, timeout: float | None = None) -> _T:
        """Block this thread until the value is ready, and return it.

        Raises:
            GetTimeoutError: not ready within ``timeout`` seconds (the call goes on).
            ActorDiedError: the ref's event loop is closed, so the call can never finish.
            RuntimeError: called on the actor system's loop thread, where waiting
                would deadlock; use ``await ref`` there.
            TypeError, ValueError: ``timeout`` is not a number >= 0 or ``None``.
            Exception: whatever the method raised.
        """
        loop = self._loop
        if loop is not None and _get_running_loop() is loop:
            raise RuntimeError(
                "ObjectRef.result() would block the actor system's own event loop; "
                "use 'await ref' or 'await asyncactors.get(ref)' there"
            )
        check_timeout(timeout)
        if not self._state and not self._block(timeout):
            raise GetTimeoutError(f"{self._describe()} was not ready within {timeout} s")
        return self._outcome()  # type: ignore[no-any-return]

    def _block(self, timeout: float | None) -> bool:
        """Block this thread (not the ref's loop thread) until resolved; False on timeout.

        Raises:
            ActorDiedError: the ref's event loop is closed, so it can never resolve.
        """
        if self._state:
            return True
        cf: concurrent.futures.Future[None] = concurrent.futures.Future()

        def relay(_: ObjectRef[Any]) -> None:
            cf.set_result(None)

        self._add_callback_from_afar(relay)
        done, _ = concurrent.futures.wait([cf], thread_timeout(timeout))
        if not done:
            # The loop forgets the relay: a ref polled with result(timeout=) would
            # otherwise keep one per poll until it resolves.
            self._on_own_loop(self._remove_callback, relay)
        return bool(done)

    def __repr__(self) -> str:
        return f"<ObjectRef {self._state_name()}>"

    def _state_name(self) -> str:
        return ("pending", "done", "failed")[self._state]

    def __reduce__(self) -> Any:
        # Only engines whose refs live outside this process (Ray's) pickle them.
        raise TypeError(
            f"{self._describe()} cannot be serialized: it lives in this process. Pass it "
            "as a top-level argument (it is resolved first), or pass its value"
        )


class _PartRef(ObjectRef[Any]):
    """One of the refs of a call with ``num_returns`` > 1: one item of its result."""

    __slots__ = ("_index", "_whole")

    def __init__(self, whole: ObjectRef[Any], index: int) -> None:
        ObjectRef.__init__(self, whole._loop)
        self._whole = whole
        self._index = index

    def _describe(self) -> str:
        return f"result {self._index} of {self._whole._describe()}"

    def cancel(self) -> bool:
        """Cancel the call, as ``cancel()`` on any of its refs does (as in Ray)."""
        return self._whole.cancel()

    def __repr__(self) -> str:
        return f"<ObjectRef {self._state_name()}: {self._describe()}>"


def split(whole: ObjectRef[Any], n: int) -> list[ObjectRef[Any]]:
    """``n`` refs to the items of ``whole``'s value, as Ray's ``num_returns=n`` gives.

    The value must be a sequence of ``n`` items; otherwise each ref fails with
    ``TypeError`` or ``ValueError`` saying so, and if ``whole`` fails, each
    fails with its error. Such a failure is logged once if none of the refs is
    awaited. Call from any thread.
    """
    parts = [_PartRef(whole, i) for i in range(n)]

    def settle(whole: ObjectRef[Any]) -> None:
        whole._retrieved()  # the parts carry its outcome on
        exc: BaseException | None
        if whole._state == OK:
            value = whole._value
            exc = _misfit(whole, value, n)
            if exc is None:
                for part, item in zip(parts, value, strict=True):
                    part._set_result(item)
                return
        else:
            exc = whole._error()
        seen = any(part._log is _SEEN for part in parts)
        log = None if seen else _UnretrievedFailure(exc, whole._describe())
        for part in parts:
            part._set_exception(exc, log=False)
            if log is not None:
                part._log = log

    if whole._state or whole._loop is None or _get_running_loop() is whole._loop:
        whole._add_callback(settle)
    elif not whole._on_own_loop(whole._add_callback, settle):
        unreachable = whole._unreachable()
        for part in parts:
            part._set_exception(unreachable)
    return list(parts)


def _misfit(whole: ObjectRef[Any], value: Any, n: int) -> Exception | None:
    """Why ``value`` cannot be split into ``n`` results, if it cannot."""
    declared = f"{whole._describe()} was declared with num_returns={n}"
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence):
        return TypeError(
            f"{declared}, so its result must be a sequence of {n} items (a tuple or a "
            f"list), but it returned {type(value).__name__}"
        )
    if len(value) != n:
        return ValueError(f"{declared}, but it returned {len(value)} items")
    return None


def watch_pending(
    refs: Iterable[ObjectRef[Any]],
    loop: asyncio.AbstractEventLoop,
    callback: _Callback,
) -> tuple[list[ObjectRef[Any]], list[ObjectRef[Any]]]:
    """Add ``callback`` to each pending ref of ``loop`` (the running one).

    Returns those refs, then the pending refs of other loops, untouched. For
    ``wait()``, which does this over every ref on every call: ``_add_callback``
    is inlined, as a method call per ref would double its cost.
    """
    here: list[ObjectRef[Any]] = []
    afar: list[ObjectRef[Any]] = []
    for r in refs:
        if r._state:
            continue
        if r._loop is loop:
            waiters = r._waiters
            if waiters is None:
                r._waiters = [callback]
            elif type(waiters) is list:
                waiters.append(callback)
            else:
                r._waiters = [waiters, callback]
            here.append(r)
        else:
            afar.append(r)
    return here, afar


def unwatch(refs: Iterable[ObjectRef[Any]], callback: _Callback) -> None:
    """``_remove_callback`` on each of ``refs``, inlined as in ``watch_pending``."""
    for r in refs:
        waiters = r._waiters
        # A lone waiter is an await's, never a callback.
        if type(waiters) is list:
            if len(waiters) == 1 and waiters[0] is callback:
                r._waiters = None
            elif callback in waiters:
                waiters.remove(callback)


def _copy_outcome(ref: ObjectRef[Any], fut: asyncio.Future[Any]) -> None:
    if fut.done():
        return
    if ref._state == OK:
        fut.set_result(ref._value)
    else:
        fut.set_exception(ref._error())


# What Python would report with the internal type's name ("unsupported operand
# type(s) for +: 'Call' and 'int'") instead says what a ref is and what to write.
# Set at runtime only, so that mypy still reports these mistakes itself.
_BINARY = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "matmul": "@",
    "truediv": "/",
    "floordiv": "//",
    "mod": "%",
    "divmod": "divmod()",
    "pow": "**",
    "lshift": "<<",
    "rshift": ">>",
    "and": "&",
    "xor": "^",
    "or": "|",
}
_UNARY_AND_ORDER = {
    **{"neg": "unary -", "pos": "unary +", "invert": "~", "abs": "abs()"},
    **{"lt": "<", "le": "<=", "gt": ">", "ge": ">="},
}
_MISUSES = {
    **{f"__{op}__": f"'{sym}' is not supported on" for op, sym in _BINARY.items()},
    **{f"__r{op}__": f"'{sym}' is not supported on" for op, sym in _BINARY.items()},
    **{f"__{op}__": f"'{sym}' is not supported on" for op, sym in _UNARY_AND_ORDER.items()},
    **{f"__{op}__": f"{op}() cannot convert" for op in ("int", "float", "complex", "round")},
    "__index__": "an integer is needed, not",
    "__iter__": "cannot iterate over",
    "__contains__": "'in' is not supported on",
    "__getitem__": "cannot index or slice",
}


def _misuse(message: str) -> Callable[..., Any]:
    def refuse(self: Any, *args: Any) -> Any:
        raise TypeError(message)

    return refuse


def refuse_misuses(cls: type, noun: str, why: str, skip: tuple[str, ...] = ()) -> None:
    """Give ``cls`` the operators that treat a ref as its value (``+``, ``[i]``, ``in``,
    ``int()``, iteration ...), each raising ``TypeError``: ``"<what> <noun>: <why>"``.
    The names in ``skip`` are left as they are."""
    for name, what in _MISUSES.items():
        if name not in skip:
            setattr(cls, name, _misuse(f"{what} {noun}: {why}"))


refuse_misuses(
    ObjectRef,
    "an ObjectRef",
    "it is the future result of a call, not its value; get the value first with "
    "'await ref' (or 'ref.result()' in a thread outside the event loop)",
)
