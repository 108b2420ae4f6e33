"""Ray's ObjectRefs as asyncactors ``ObjectRef``s, and Ray's errors as asyncactors'.

A ``RayObjectRef`` resolves on the event loop it is first used on (a ref that
arrives inside a result or an argument knows no loop until then), and pickles
to the Ray ``ObjectRef`` it wraps, so refs pass between actors.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import ray
from ray.exceptions import GetTimeoutError as RayGetTimeoutError
from ray.exceptions import RayActorError, RayError, RayTaskError
from ray.exceptions import TaskCancelledError as RayTaskCancelledError

from ..._exceptions import ActorDiedError, GetTimeoutError, TaskCancelledError
from ..._ref import ObjectRef

__all__ = [
    "Raised",
    "RayObjectRef",
    "death_reason",
    "first_line",
    "from_ray",
    "killed_by_ray",
    "on_ray_result",
    "rebuild_ref",
]

_T = TypeVar("_T")
_get_running_loop = asyncio._get_running_loop


class Raised:
    """What a host returns when the method raised: Ray passes it as a value.

    Exceptions travel as values, not as Ray task errors, so that the caller gets
    the method's own exception type (not ``RayTaskError``), Ray logs nothing,
    and any Ray task error means Ray failed the call before the host saw it.
    """

    __slots__ = ("exc", "where")

    def __init__(self, exc: BaseException, where: str) -> None:
        self.exc = exc
        self.where = where

    @classmethod
    def of(cls, exc: BaseException) -> Raised:
        """Wrap ``exc`` with its traceback as text (tracebacks do not pickle)."""
        tb = "".join(traceback.format_exception(exc))
        return cls(exc, tb)

    def error(self) -> BaseException:
        """The exception, with the actor's traceback as a note."""
        exc = self.exc
        if self.where:
            exc.add_note(f"Raised in a Ray actor process:\n{self.where.rstrip()}")
        return exc


def first_line(exc: BaseException) -> str:
    """The first non-empty line of ``str(exc)``: Ray's messages run to pages."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def death_reason(exc: BaseException) -> str:
    """Why Ray says an actor died: the line of its message that says so."""
    for line in str(exc).splitlines():
        line = line.strip()
        if line.startswith("The actor is dead because"):
            return line.removeprefix("The actor is dead because").strip().rstrip(".")
    return first_line(exc)


def killed_by_ray(exc: BaseException) -> bool:
    """Whether someone called ``ray.kill()`` on the actor: a kill, not a crash."""
    return "killed by `ray.kill`" in str(exc)


def from_ray(exc: BaseException, what: str = "the Ray actor") -> BaseException:
    """Ray's error as asyncactors raises it.

    A ``RayTaskError`` becomes the exception it wraps; an actor's death
    ``ActorDiedError``; a cancellation ``TaskCancelledError``; a timeout
    ``GetTimeoutError``. Ray's error is the ``__cause__``.
    """
    if isinstance(exc, RayTaskError):
        cause = exc.cause
        return cause if isinstance(cause, BaseException) else exc
    new: BaseException
    if isinstance(exc, RayActorError):
        new = ActorDiedError(f"{what} died: {death_reason(exc)}")
    elif isinstance(exc, RayTaskCancelledError):
        new = TaskCancelledError(f"{what}: the call was cancelled")
    elif isinstance(exc, RayGetTimeoutError):
        new = GetTimeoutError(first_line(exc))
    else:
        return exc
    new.__cause__ = exc
    return new


def on_ray_result(
    loop: asyncio.AbstractEventLoop, ray_ref: Any, callback: Callable[[Any], None]
) -> None:
    """Call ``callback(result)`` on ``loop`` once ``ray_ref`` is ready.

    ``result`` is the value, or the ``RayError`` that stands for a failure.
    Nothing happens if the loop has closed meanwhile: nobody can await there.
    """

    def relay(result: Any) -> None:  # on one of Ray's threads
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(callback, result)

    ray_ref._on_completed(relay)


class RayObjectRef(ObjectRef[_T]):
    """A Ray ``ObjectRef``: awaitable, ``get``/``wait``-able and picklable."""

    __slots__ = ("_ray",)

    def __init__(self, ray_ref: Any, loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(loop)
        self._ray = ray_ref
        if loop is not None:
            on_ray_result(loop, ray_ref, self._settle)

    def _settle(self, result: Any) -> None:
        if isinstance(result, RayError):
            self._set_exception(from_ray(result))
        elif type(result) is Raised:
            self._set_exception(result.error())
        else:
            self._set_result(result)

    def _bind(self) -> None:
        """Resolve on the running loop: a ref that came in a result or argument."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        on_ray_result(loop, self._ray, self._settle)

    def __await__(self) -> Generator[Any, None, _T]:
        if self._loop is None and not self._state:
            self._bind()
        return super().__await__()

    def future(self) -> asyncio.Future[_T]:
        """A new ``asyncio.Future`` of the running loop that mirrors this ref."""
        if self._loop is None and not self._state:
            self._bind()
        return super().future()

    def _add_callback(self, callback: Callable[[ObjectRef[Any]], None]) -> None:
        if self._loop is None and not self._state:
            self._bind()
        super()._add_callback(callback)

    def done(self) -> bool:
        """Whether the ref has a value or an exception (as far as this process knows)."""
        if self._loop is None and not self._state and _get_running_loop() is not None:
            self._bind()
        return super().done()

    def result(self, timeout: float | None = None) -> _T:
        """Block this thread until the value is ready; see ``ObjectRef.result``."""
        if self._loop is None and not self._state:
            try:
                value = ray.get(self._ray, timeout=timeout)
            except RayError as exc:
                raise from_ray(exc) from None
            if type(value) is Raised:
                raise value.error()
            return value  # type: ignore[no-any-return]
        return super().result(timeout)

    def __reduce__(self) -> Any:
        return (rebuild_ref, (self._ray,))

    def _describe(self) -> str:
        return f"ObjectRef({self._ray.hex()[:16]})"


def rebuild_ref(ray_ref: Any) -> RayObjectRef[Any]:
    """Unpickle a ``RayObjectRef``: it binds to the loop it is first used on."""
    return RayObjectRef(ray_ref, _get_running_loop())
