"""Ray's ``ObjectRef`` and ``ObjectRefGenerator``, over asyncactors' refs.

A Ray ``ObjectRef`` wraps one of asyncactors' refs, whose value is a payload
of ``_serialization``: getting it deserializes a new copy each time, as Ray
does. Its failure is translated to Ray's exception classes once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
import weakref
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Final, NoReturn

from ..._ref import FAILED, OK
from ..._ref import ObjectRef as NativeRef
from ._serialization import Refused, Serialized, copying, lookup, register, share

if TYPE_CHECKING:
    from ._driver import Driver

__all__ = [
    "END",
    "BaseID",
    "JobID",
    "NodeID",
    "ObjectRef",
    "ObjectRefGenerator",
    "Stream",
    "TaskID",
    "split",
    "task_hex",
    "task_number",
    "values",
]

_get_running_loop = asyncio._get_running_loop
_ids = itertools.count(1)

# The value of a streaming generator's slot after its last item.
END: Final[Any] = object()

# Task numbers, given out when first asked (nothing per call otherwise), keyed by the
# engine's call: the refs of one call and the code it runs share its task's id.
_task_numbers = itertools.count(1)
_task_ids: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def task_number(key: Any = None) -> int:
    """The number of the task or actor call ``key`` stands for (its engine's call);
    a new one for ``None``."""
    if key is None:
        return next(_task_numbers)
    number = _task_ids.get(key)
    if number is None:
        number = _task_ids.setdefault(key, next(_task_numbers))
    return number


def task_hex(number: int, actor_id: int) -> str:
    """A task id as Ray's 48 hex digits: a unique part, then the actor's id (0 in a task)."""
    return format(number, "016x") + format(actor_id, "032x")


class BaseID:
    """One of Ray's ids (``TaskID``, ``JobID`` ...): ``hex()``, ``binary()``, equal
    to an id of the same kind with the same digits."""

    __slots__ = ("_hex",)

    def __init__(self, hex_id: str) -> None:
        self._hex = hex_id

    def hex(self) -> str:
        """The id as hex digits."""
        return self._hex

    def binary(self) -> bytes:
        """The id as bytes."""
        return bytes.fromhex(self._hex)

    def is_nil(self) -> bool:
        """Whether the id is all ones bits, Ray's nil id (never, here)."""
        return set(self._hex) == {"f"}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._hex == self._hex

    def __hash__(self) -> int:
        return hash(self._hex)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._hex})"


class JobID(BaseID):
    """A job's id."""

    __slots__ = ()


class NodeID(BaseID):
    """A node's id."""

    __slots__ = ()


class TaskID(BaseID):
    """A task's or actor method call's id."""

    __slots__ = ()


class ObjectRef:
    """A reference to the future result of a task or actor call, or to a ``ray.put`` value.

    ``ray.get(ref)`` blocks for it; ``await ref`` waits in async code;
    ``ref.future()`` is a ``concurrent.futures.Future`` of it. Refs pickle:
    inside a call's arguments or results they stay the same ref.
    """

    __slots__ = ("__weakref__", "_call", "_driver", "_err", "_id", "_native", "_task")

    def __init__(
        self,
        native: NativeRef[Any],
        driver: Driver,
        call: NativeRef[Any] | None,
        task: str | None = None,
    ) -> None:
        self._native = native
        self._driver = driver
        # What ray.cancel() cancels: the call that produces the value, if any.
        self._call = call
        # The name of the task whose value this is: its errors name it, not the
        # hidden actor that runs tasks.
        self._task = task
        self._err: BaseException | None = None
        self._id = 0

    # -- the value --------------------------------------------------------------

    def _value(self) -> Any:
        """The value of a ref that is done: a new copy; or raise its failure."""
        native = self._native
        if native._state == OK:
            native._retrieved()
            value = native._value
            # deserialize(), inlined: an immutable result is itself.
            return value.load() if type(value) is Serialized else value
        raise self._failure()

    def _failure(self) -> BaseException:
        err = self._err
        if err is None:
            native = self._native
            native._retrieved()
            assert native._exc is not None
            from .exceptions import from_native

            exc = native._exc
            err = self._err = from_native(exc, self._task, _failed_argument(self._call, exc))
        # Raised anew each time: the traceback of the last raise is not kept.
        return err.with_traceback(None)

    def __await__(self) -> Generator[Any, None, Any]:
        native = self._native
        if not native._state:
            if _get_running_loop() is native._loop:
                try:
                    yield from native.__await__()
                except BaseException:
                    if not native._state:  # the awaiting task's own cancellation, a deadlock
                        raise
            else:
                cf = self.future()
                return (yield from asyncio.wrap_future(cf).__await__())
        return self._value()

    def future(self) -> concurrent.futures.Future[Any]:
        """A ``concurrent.futures.Future`` of the value; cancelling it does not cancel the call."""
        cf: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def relay(_: NativeRef[Any]) -> None:
            if cf.done():
                return
            try:
                cf.set_result(self._value())
            except BaseException as exc:
                cf.set_exception(exc)

        try:
            self._driver.call_on_loop(self._native._add_callback, relay)
        except RuntimeError:  # the loop is closed: after ray.shutdown()
            if self._native._state:
                relay(self._native)
            else:
                from .exceptions import ObjectLostError

                cf.set_exception(ObjectLostError(self.hex()))
        return cf

    # -- identity ---------------------------------------------------------------

    def hex(self) -> str:
        """This ref's id, as hex (unique in this process)."""
        if not self._id:
            self._id = next(_ids)
        return format(self._id, "056x")

    def binary(self) -> bytes:
        """This ref's id, as bytes."""
        return bytes.fromhex(self.hex())

    def is_nil(self) -> bool:
        """Whether this is the nil ref (``ObjectRef.nil()``)."""
        return self._native is _NIL_NATIVE

    @classmethod
    def nil(cls) -> ObjectRef:
        """Ray's nil ref: its id is all ones bits, and it refers to no value. As Ray's,
        ``ray.get`` and ``ray.wait`` of it, and passing it to a task or method, raise
        ``ValueError``; ``ray.cancel`` of it raises ``TypeError``."""
        ref = _new(cls)
        ref._native = _NIL_NATIVE
        ref._driver = _NIL_DRIVER  # type: ignore[assignment]
        ref._call = ref._task = None
        # An error of its own: the native's, shared by every nil ref, would keep the
        # context and traceback of its last raise for good.
        ref._err = ValueError(NIL_GET)
        ref._id = _NIL_ID
        return ref

    def task_id(self) -> TaskID:
        """The id of the task or call that makes this value (``TaskID``, 48 hex digits):
        the same for every ref of one call, and what ``get_task_id()`` gives in its code."""
        call = self._call
        if call is None:  # a ray.put value: a task of its own
            if self._id == _NIL_ID:
                return TaskID("f" * 48)
            self.hex()
            return TaskID(format(self._id, "048x"))
        # A task's call runs in the hidden actor that runs tasks: no actor's id in it.
        core: Any = call._core  # type: ignore[attr-defined]  # an engine's Call
        return TaskID(task_hex(task_number(call), 0 if self._task else core.actor_id))

    def job_id(self) -> JobID:
        """The id of the job (``ray.init()``) that made this ref."""
        return JobID(self._driver.job_id)

    def call_site(self) -> str:
        """Where the ref was made: not recorded, as in Ray by default (empty)."""
        return ""

    def as_future(self) -> asyncio.Future[Any]:
        """An ``asyncio.Future`` of the value, in the running event loop.

        Raises:
            RuntimeError: no event loop is running in this thread.
        """
        return asyncio.wrap_future(self.future(), loop=asyncio.get_running_loop())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ObjectRef):
            return other._native is self._native
        return NotImplemented

    def __hash__(self) -> int:
        return id(self._native)

    def __repr__(self) -> str:
        return f"ObjectRef({self.hex()})"

    def __reduce__(self) -> Any:
        if self._native is _NIL_NATIVE and copying():
            raise Refused(NIL_USE)  # as Ray's, in a call's arguments or a put
        return share(self) or (_registered_ref, (register(self),))


# Ray's words for a ref that no task made (the nil ref): in ray.get, ray.wait, and a call.
NIL_GET: Final = (
    "You are trying to access Ray objects whose owner is unknown. Please make sure that "
    "all Ray objects you are trying to access are part of the current Ray session. Note "
    "that object IDs generated randomly (ObjectID.from_random()) or out-of-band "
    "(ObjectID.from_binary(...)) cannot be passed as a task argument because Ray does not "
    "know which task created them. If this was not how your object ID was generated, "
    "please file an issue at https://github.com/ray-project/ray/issues/. Owners not found "
    "for objects [NIL_ID, ]."
)
NIL_USE: Final = (
    "An application is trying to access a Ray object whose owner is unknown(NIL_ID). "
    "Please make sure that all Ray objects you are trying to access are part of the "
    "current Ray session. Note that object IDs generated randomly "
    "(ObjectID.from_random()) or out-of-band (ObjectID.from_binary(...)) cannot be passed "
    "as a task argument because Ray does not know which task created them. If this was "
    "not how your object ID was generated, please file an issue at "
    "https://github.com/ray-project/ray/issues/"
)
_NIL_ID: Final = (1 << 224) - 1  # 56 hex digits f
_new = object.__new__


class _NilDriver:
    """The driver of the nil ref, which belongs to no runtime: a ``ray.get`` that starts
    with it fails at once; it has no job, and no loop to run callbacks on."""

    def wait(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ValueError(NIL_GET)

    @property
    def job_id(self) -> NoReturn:
        raise ValueError("TaskID is nil")

    def call_on_loop(self, *args: Any) -> NoReturn:
        raise RuntimeError("the nil ref has no event loop")


_NIL_DRIVER: Final = _NilDriver()
# The native ref of every nil ref (they are equal): failed, so that a get of several
# refs that meets it among others fails at once (as Ray's). Its error is never raised.
_NIL_NATIVE: Final[NativeRef[Any]] = NativeRef(None)
_NIL_NATIVE._state = FAILED
_NIL_NATIVE._exc = ValueError(NIL_GET)
_NIL_NATIVE._log = None


def _failed_argument(call: Any, exc: BaseException) -> bool:
    """Whether ``call`` failed with ``exc`` because a ref passed to it failed with it
    (the call never ran: it keeps its arguments, and fails with that ref's error)."""
    args = getattr(call, "_args", None)
    if args is None:
        return False
    kwargs = getattr(call, "_kwargs", None) or {}
    return any(
        isinstance(a, NativeRef) and a._state == FAILED and a._exc is exc
        for a in (*args, *kwargs.values())
    )


def values(refs: list[ObjectRef]) -> list[Any]:
    """The values of refs, in order (new copies); or raise the failure of the first
    that failed. All are done, or one failed (a get that fails fast)."""
    return [ref._value() if ref._native._state else _fail_fast(refs) for ref in refs]


def _fail_fast(refs: list[ObjectRef]) -> NoReturn:
    """Raise the failure of the first of ``refs`` that failed, for a get that ended
    at that failure while others were still pending."""
    raise next(ref for ref in refs if ref._native._state == FAILED)._failure()


def _registered_ref(key: int) -> ObjectRef:
    ref = lookup(key)
    if ref is None:
        from .exceptions import ObjectLostError

        raise ObjectLostError(f"{key:056x}")
    assert isinstance(ref, ObjectRef)
    return ref


def split(call: NativeRef[Any], n: int, driver: Driver, task: str | None = None) -> list[ObjectRef]:
    """``n`` refs to the items of ``call``'s value: ``n`` payloads (``num_returns=n``),
    of task ``task`` if the call runs one."""
    children: list[NativeRef[Any]] = [NativeRef(driver.loop) for _ in range(n)]

    def on_done(parent: NativeRef[Any]) -> None:
        parent._retrieved()
        if parent._state == OK:
            for child, payload in zip(children, parent._value, strict=True):
                child._set_result(payload)
        else:
            assert parent._exc is not None
            for i, child in enumerate(children):
                child._set_exception(parent._exc, log=i == 0)

    driver.call_on_loop(call._add_callback, on_done)
    return [ObjectRef(child, driver, call, task) for child in children]


class Stream:
    """The items of a streaming generator call, as they come.

    Slot ``i`` is a ref resolved with item ``i`` (or the generator's
    exception), then ``END``. The producer (the actor, on any thread) and the
    consumer (``ObjectRefGenerator``) each make the slots they reach first.
    """

    __slots__ = ("_driver", "_ended", "_lock", "_produced", "_slots")

    def __init__(self, driver: Driver) -> None:
        self._driver = driver
        self._lock = threading.Lock()
        self._slots: dict[int, NativeRef[Any]] = {}
        self._produced = 0
        self._ended = False

    def watch(self, call: NativeRef[Any]) -> None:
        """End the stream when ``call`` ends without having ended it: the call failed
        before or while the generator ran (a dead actor, a cancellation)."""

        def on_done(ref: NativeRef[Any]) -> None:
            if self._ended:
                return
            if ref._state == OK:
                self.close()
            else:
                assert ref._exc is not None
                from .exceptions import from_native

                self.fail(from_native(ref._exc))

        self._driver.call_on_loop(call._add_callback, on_done)

    def slot(self, i: int) -> NativeRef[Any]:
        """Slot ``i``, made now if it is new."""
        with self._lock:
            ref = self._slots.get(i)
            if ref is None:
                ref = self._slots[i] = NativeRef(self._driver.loop)
            return ref

    def consumed(self, i: int) -> None:
        """The consumer has moved past slot ``i``."""
        with self._lock:
            self._slots.pop(i, None)

    def _claim(self, n: int, end: bool) -> list[NativeRef[Any]]:
        """The next ``n`` slots for the producer; none once the stream has ended."""
        with self._lock:
            if self._ended:
                return []
            first = self._produced
            self._produced += n
            self._ended = end
            slots = []
            for i in range(first, first + n):
                ref = self._slots.get(i)
                if ref is None:
                    ref = self._slots[i] = NativeRef(self._driver.loop)
                slots.append(ref)
            return slots

    def push(self, payload: Any) -> None:
        """Producer: the next item."""
        for ref in self._claim(1, False):
            self._driver.call_on_loop(ref._set_result, payload)

    def fail(self, exc: BaseException) -> None:
        """Producer: the generator raised ``exc``; it is the last item, before ``END``."""
        slots = self._claim(2, True)
        if slots:
            self._driver.call_on_loop(slots[0]._set_exception, exc)
            self._driver.call_on_loop(slots[1]._set_result, END)

    def close(self) -> None:
        """Producer: the generator is exhausted."""
        for ref in self._claim(1, True):
            self._driver.call_on_loop(ref._set_result, END)


class ObjectRefGenerator:
    """What a streaming generator call returns: iterate it for the refs of the items.

    ``next(gen)`` blocks until the next item is ready (``StopIteration`` after
    the last); ``async for ref in gen`` awaits them. An item that is an
    exception comes as a ref that raises it, and is the last.
    """

    def __init__(self, stream: Stream, completed: ObjectRef) -> None:
        self._stream = stream
        self._completed = completed
        self._i = 0
        self._finished = False

    def __iter__(self) -> ObjectRefGenerator:
        return self

    def __next__(self) -> ObjectRef:
        return self._next_sync()

    def _next_sync(self, timeout_s: float | None = None) -> ObjectRef:
        if self._finished:
            raise StopIteration
        slot = self._stream.slot(self._i)
        if not self._completed._driver.wait([slot], 1, timeout_s):
            from .exceptions import GetTimeoutError

            raise GetTimeoutError(f"the next item was not ready within {timeout_s} s")
        return self._take(slot)

    def __aiter__(self) -> ObjectRefGenerator:
        return self

    async def __anext__(self) -> ObjectRef:
        if self._finished:
            raise StopAsyncIteration
        slot = self._stream.slot(self._i)
        if not slot._state:
            await _until_done(slot, self._completed._driver)
        try:
            return self._take(slot)
        except StopIteration:
            raise StopAsyncIteration from None

    def _take(self, slot: NativeRef[Any]) -> ObjectRef:
        i = self._i
        if slot._state == OK and slot._value is END:
            self._finished = True
            self._stream.consumed(i)
            raise StopIteration
        self._i = i + 1
        self._stream.consumed(i)
        completed = self._completed
        return ObjectRef(slot, completed._driver, completed._call, completed._task)

    def completed(self) -> ObjectRef:
        """A ref that is ready when the generator has finished (its value is ``None``)."""
        return self._completed

    def next_ready(self) -> bool:
        """Whether ``next()`` would return (or stop) without blocking."""
        return self._finished or bool(self._stream.slot(self._i)._state)

    def is_finished(self) -> bool:
        """Whether every item has been returned."""
        if self._finished:
            return True
        slot = self._stream.slot(self._i)
        return slot._state == OK and slot._value is END

    def __repr__(self) -> str:
        return f"ObjectRefGenerator({self._completed.hex()})"


async def _until_done(native: NativeRef[Any], driver: Driver) -> None:
    """Wait until ``native`` is done, without taking its outcome."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def done(_: NativeRef[Any]) -> None:
        if not fut.done():
            fut.set_result(None)

    if loop is native._loop:
        native._add_callback(done)
    else:

        def relay(ref: NativeRef[Any]) -> None:
            loop.call_soon_threadsafe(done, ref)

        driver.call_on_loop(native._add_callback, relay)
    await fut
