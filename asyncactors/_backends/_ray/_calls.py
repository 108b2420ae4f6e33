"""``RayCall``: a call to a Ray actor in flight, the ref its caller holds; ``_StopCall``."""

from __future__ import annotations

import asyncio
from typing import Any, Final, Protocol

from ..._exceptions import ActorDiedError, TaskCancelledError
from ..._ref import ObjectRef, call_soon_from_afar
from ..._specs import MethodSpec
from ..._types import StopReason
from .._local.common import STOPPED_BY as _STOPPED_BY
from ._refs import RayObjectRef

__all__ = ["RayCall"]

_get_running_loop = asyncio._get_running_loop
_CancelledError = asyncio.CancelledError

# Where a call is.
_NEW: Final = 0
_DEPS: Final = 1  # waiting here for refs among its arguments
_BACKLOG: Final = 2  # waiting for room in the window
_SENT: Final = 3


class CallSender(Protocol):
    """What a call needs of the core that sends it (``_caller._Caller``)."""

    _final_kind: str | None

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    def describe(self) -> str: ...
    def stopped(self) -> asyncio.Future[None]: ...
    def _settled(self, call: RayCall, result: Any) -> None: ...
    def _withdraw(self, call: RayCall) -> None: ...
    def _dead_error(self) -> ActorDiedError: ...


class RayCall(RayObjectRef[Any]):
    """A call in flight: the ref its caller holds is the call itself."""

    # _attempts is set only on calls that are retried.
    __slots__ = (
        "_admit",
        "_args",
        "_attempts",
        "_core",
        "_gen",
        "_kwargs",
        "_pos",
        "_seq",
        "_spec",
    )

    _attempts: int

    def __init__(
        self, core: CallSender, spec: MethodSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self._loop = core.loop
        self._state = 0
        self._waiters = None
        self._log = None
        self._ray = None
        self._core = core
        self._spec = spec
        self._args = args
        self._kwargs = kwargs
        self._pos = _NEW
        self._gen = -1
        self._seq = -1
        self._admit: asyncio.Future[None] | None = None

    def _describe(self) -> str:
        return f"call {self._spec.name}() on {self._core.describe()}"

    def _completed(self, result: Any) -> None:  # on one of Ray's threads
        # Per call: a try costs less than contextlib.suppress.
        try:  # noqa: SIM105
            self._core.loop.call_soon_threadsafe(self._core._settled, self, result)
        except RuntimeError:
            pass  # the loop has closed: nobody can await the call any more

    def _admitted(self) -> None:
        admit = self._admit
        if admit is not None and not admit.done():
            admit.set_result(None)

    def cancel(self) -> bool:
        """Cancel the call; return ``False`` if it had already finished, or can never
        finish: its event loop is closed.

        A call not yet sent never runs; a sent one is cancelled in the actor as
        locally (a queued call never runs, a running async one is cancelled).
        Awaiting a cancelled ref raises ``TaskCancelledError`` at once.
        """
        if self._state:
            return False
        loop = self._loop
        if _get_running_loop() is not loop:
            assert loop is not None
            return call_soon_from_afar(loop, self._cancel)
        return self._cancel()

    def _cancel(self) -> bool:
        if self._state:
            return False
        self._core._withdraw(self)
        self._set_exception(TaskCancelledError(f"{self._describe()} was cancelled"), log=False)
        return True

    def __reduce__(self) -> Any:
        if self._ray is None:
            raise TypeError(
                f"{self._describe()} has not been sent yet (its actor's window of "
                "mailbox_size calls is full), so it cannot be passed inside a value; "
                "pass it as a top-level argument, or await it first"
            )
        return super().__reduce__()


class _StopCall(RayCall):
    """A stop call: its ref resolves to ``None`` once the actor has stopped."""

    __slots__ = ("_via",)

    def __init__(self, core: CallSender, spec: MethodSpec, via: StopReason) -> None:
        super().__init__(core, spec, (via,), {})
        self._via = via

    def _describe(self) -> str:
        return f"{_STOPPED_BY[self._via]} of {self._core.describe()}"

    def _set_result(self, value: Any) -> None:
        if self._state:
            return
        # The host queued the stop; its caller hears of it when the actor is DEAD.
        self._core.stopped().add_done_callback(self._stopped)

    def _stopped(self, _: asyncio.Future[None]) -> None:
        core = self._core
        if core._final_kind == "stopped":
            RayCall._set_result(self, None)
        else:
            self._set_exception(core._dead_error())


def _relay_dep(on_dep: Any, dep: ObjectRef[Any], _: asyncio.Future[Any]) -> None:
    on_dep(dep)


def _travels(ref: ObjectRef[Any]) -> bool:
    """Whether ``ref`` can go to an actor as it is (a Ray ref, resolved there)."""
    return isinstance(ref, RayObjectRef) and ref._ray is not None
