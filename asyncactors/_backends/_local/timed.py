"""Timed calls, for ``ActorSystem(metrics=True)``: chosen once per actor, at its creation.

An actor of a system with metrics makes its calls through a ``TimedAdmission``
(its ``pending``, the hook ``max_pending_calls`` uses too), so the hot path of an
actor without metrics is unchanged: it has no admission and times nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from ..._specs import MethodSpec
from .call import Call, CappedCall, PendingCount

if TYPE_CHECKING:
    from ..._metrics import LatencyRecorder
    from .call import CallOwner

__all__ = ["TimedAdmission"]


class _Timed(Call):
    """Times a call from its creation to its result (the first one set)."""

    # Each subclass holds these two in slots of its own: two bases with
    # non-empty slots cannot be combined (_TimedCappedCall).
    __slots__ = ()
    _latency: LatencyRecorder
    _t0: float

    def _set_result(self, value: Any) -> None:
        if not self._state:
            self._latency.record(perf_counter() - self._t0)
        super()._set_result(value)

    def _set_exception(self, exc: BaseException, *, log: bool = True) -> None:
        if not self._state:
            self._latency.record(perf_counter() - self._t0)
        super()._set_exception(exc, log=log)


class _TimedCall(_Timed):
    """A timed call."""

    __slots__ = ("_latency", "_t0")


class _TimedCappedCall(_Timed, CappedCall):
    """A timed call to an actor with ``max_pending_calls``."""

    __slots__ = ("_latency", "_t0")


# As the engine's own calls: messages name the public type.
for _cls in (_TimedCall, _TimedCappedCall):
    _cls.__name__ = _cls.__qualname__ = "ObjectRef"


class TimedAdmission:
    """Makes an actor's calls timed ones, keeping its ``max_pending_calls`` count."""

    __slots__ = ("count", "latency")

    def __init__(self, count: PendingCount | None) -> None:
        from ..._metrics import LatencyRecorder  # here: only ActorSystem(metrics=True) times

        self.count = count
        self.latency = LatencyRecorder()

    def admit(
        self,
        core: CallOwner,
        spec: MethodSpec,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        make: Callable[..., Call] | None = None,
    ) -> Call:
        """Make a timed call; a call of another kind (``make``: a stream) is not timed.

        Raises:
            PendingCallsLimitExceeded: the actor's ``max_pending_calls`` are all taken.
        """
        count = self.count
        if make is not None:
            return (
                count.admit(core, spec, args, kwargs, make)
                if count
                else make(core, spec, args, kwargs)
            )
        call: _Timed
        if count is None:
            call = _TimedCall(core, spec, args, kwargs)
        else:
            count.take(core)
            call = _TimedCappedCall(core, spec, args, kwargs, count)
        call._latency = self.latency
        call._t0 = perf_counter()
        return call
