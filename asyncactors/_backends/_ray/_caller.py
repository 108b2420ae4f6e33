"""``_Caller``: the caller's side of one Ray actor: its fields, what it reports,
the outcomes of its calls and its errors. ``Sending`` (in ``_sending``) sends the calls."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, Final

from ray.exceptions import ActorUnavailableError, RayActorError, RayError

from ..._exceptions import ActorDiedError
from ..._info import ActorInfo
from ..._metrics import ActorStatistics, RunningCall, actor_statistics
from ..._ref import ObjectRef
from ..._specs import ActorConfig, ClassSpec
from ..._types import StopReason
from .._local.common import STOPPED_BY as _STOPPED_BY
from .._local.common import died_error as _died
from .._local.restart import retry_allowed
from ._calls import _BACKLOG, RayCall
from ._common import _DEAD, _PENDING
from ._refs import Raised, death_reason, first_line, from_ray, on_ray_result

__all__: list[str] = []


class _Caller:
    """Sending calls to one Ray actor: the window, the order, the outcomes."""

    # Not an ActorCore: the test suite's leak check looks for worker tasks.
    workers: Final = None

    def __init__(
        self,
        spec: ClassSpec,
        config: ActorConfig,
        host_opts: dict[str, Any],
        actor_id: int,
        name: str | None,
        namespace: str,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self.spec = spec
        self._host_opts = host_opts
        self.config = config
        self.actor_id = actor_id
        self.name = name
        self.namespace = namespace
        self._loop = loop
        self.state = _PENDING
        self.restarts = 0
        self.death: BaseException | None = None
        self.reason: str | None = None
        self.refusing = False
        self.stopping: StopReason | None = None
        self.processed = 0
        self.failed = 0
        self._peak = 0
        self._final_kind: str | None = None
        self._ray_handle: Any = None
        self._remote: Any = None
        self._gen = 0
        self._token = 0
        self._seq = 0
        self._inflight = 0
        self._window = config.mailbox_size
        self._refill = config.mailbox_size * 3 // 4
        self._backlog: deque[RayCall] = deque()
        self._resend: list[RayCall] = []
        self._deps: set[RayCall] = set()
        self._methods = spec.methods

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop this core's calls resolve on."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def describe(self) -> str:
        """``actor Counter(id=3, name='c')``: how errors and logs name this actor."""
        named = f", name={self.name!r}" if self.name else ""
        return f"actor {self.spec.name}(id={self.actor_id}{named})"

    @property
    def class_name(self) -> str:
        """The actor class's name."""
        return self.spec.name

    # -- RunningActor: no actor code runs in this process --------------------------

    def request_exit(self) -> None:
        """``exit_actor()`` runs in the actor's own process, never here."""
        raise RuntimeError(f"{self.describe()} runs in a Ray actor process, not here")

    def running_call(self) -> ObjectRef[Any] | None:
        return None

    def blocking_wait(
        self, ref: ObjectRef[Any], fut: asyncio.Future[Any]
    ) -> Generator[Any, None, Any]:
        return fut.__await__()

    def check_wait(
        self, refs: Sequence[ObjectRef[Any]], needed: int, fut: asyncio.Future[Any] | None
    ) -> None:
        pass

    def done_waiting(self) -> None:
        pass

    def park(self) -> None:
        """Stay PENDING_CREATION until ``start()``: calls wait here."""

    def pending_calls(self) -> int:
        """Calls of this handle submitted and not finished."""
        return self._inflight + len(self._backlog) + len(self._resend) + len(self._deps)

    def leftovers(self) -> str | None:
        """What this handle still waits for, for leak reports; ``None`` if nothing."""
        if self.state is _DEAD:
            return None
        n = self.pending_calls()
        return f"{self.describe()} has {n} call(s) of this process pending" if n else None

    def info(self) -> ActorInfo:
        """This actor as ``list_actors()`` reports it: the calls counted are this handle's."""
        return ActorInfo(
            actor_id=self.actor_id,
            class_name=self.spec.name,
            name=self.name,
            namespace=self.namespace,
            state=self.state,
            mailbox_depth=self._inflight,
            mailbox_capacity=self._window,
            peak_depth=self._peak,
            calls_processed=self.processed,
            calls_failed=self.failed,
            running=0,
        )

    def statistics(self) -> ActorStatistics:
        """``info()`` with restarts and the calls waiting to be sent; no latency:
        ``metrics=True`` times the calls of the local engine only."""
        return actor_statistics(
            self.info(),
            restarts=self.restarts,
            waiting_for_room=len(self._backlog),
            latency=None,
        )

    def latency(self) -> None:
        """Not measured for Ray actors (see ``statistics()``)."""
        return None

    def running_calls(self) -> list[RunningCall]:
        """None here: the actor's calls run in its own process (whose watchdog sees them)."""
        return []

    # -- outcomes -----------------------------------------------------------------

    def _settled(self, call: RayCall, result: Any) -> None:
        if call._gen == self._gen:
            self._inflight -= 1
        if type(result) is Raised:
            self.processed += 1
            self.failed += 1
            call._set_exception(result.error())
        elif isinstance(result, RayError):
            if isinstance(result, ActorUnavailableError):
                self._unavailable(call, result)
            elif isinstance(result, RayActorError):
                self._lost(call, result)
            else:
                # Ray failed the call before the host saw it (its arguments could
                # not be unpickled there, say): let the host's order skip it.
                if call._gen == self._gen and self._ray_handle is not None:
                    self._ray_handle.control.remote("skip", self._token, call._seq)
                self.failed += 1
                call._set_exception(from_ray(result, self.describe()))
        else:
            self.processed += 1
            call._set_result(result)
        if not call._state:
            return  # to be sent again
        call._args = call._kwargs = None  # type: ignore[assignment]
        if self._resend or (self._backlog and self._inflight <= self._refill):
            # A full window refills in batches: one send per reply would cost
            # a loop turn per call (as many as calls), a batch one per batch.
            self._pump()
        self._after_settle()

    def _after_settle(self) -> None:
        pass

    def stopped(self) -> asyncio.Future[None]:
        """A future of the loop that completes when the actor is DEAD."""
        raise NotImplementedError

    def _unavailable(self, call: RayCall, exc: ActorUnavailableError) -> None:
        """Ray lost touch with the actor during ``call``, which may have run or not;
        the actor may come back (its watch tells). The call runs again if its
        retries allow, else fails."""
        if call._state:
            return
        if self.state is not _DEAD and retry_allowed(call, self.config, None):
            call._pos = _BACKLOG
            self._resend.append(call)
            self._pump()
            return
        self.failed += 1
        call._set_exception(self._error(f"was unavailable during the call: {first_line(exc)}"))

    def _lost(self, call: RayCall, exc: RayActorError) -> None:
        """The Ray actor died with ``call`` in flight."""
        if self.state is not _DEAD:
            self._gone(exc)
        if not call._state:
            call._set_exception(self._dead_error())

    def _gone(self, exc: RayActorError) -> None:
        """The Ray actor died: nobody here restarts it."""
        self._gen += 1
        self._ray_handle = self._remote = None
        self._inflight = 0
        self.state = _DEAD
        self.refusing = True
        self.reason = f"died: its Ray actor died ({death_reason(exc)})"
        self._final_kind = "dead"
        self._fail_waiting(self.reason)

    def _fail_waiting(self, reason: str) -> None:
        waiting = [*self._resend, *self._backlog, *self._deps]
        self._resend = []
        self._backlog.clear()
        self._deps.clear()
        for call in waiting:
            call._set_exception(self._error(reason))

    if TYPE_CHECKING:
        # Defined by Sending; declared here so that this class type-checks alone.
        def _pump(self) -> None: ...

    # -- errors -------------------------------------------------------------------

    def _refusal(self) -> ActorDiedError:
        if self.state is _DEAD:
            return self._dead_error()
        if self.stopping == "shutdown":
            return _died(self, "is not accepting calls: its actor system is being shut down")
        if self.stopping == "supervisor":
            return _died(self, "is not accepting calls: its supervisor is stopping it")
        if self.stopping in _STOPPED_BY:
            return _died(self, f"is stopping: {_STOPPED_BY[self.stopping]} was called")
        return _died(self, "is not accepting calls")

    def _dead_error(self) -> ActorDiedError:
        return self._error(self.reason or "is dead")

    def _error(self, reason: str) -> ActorDiedError:
        err = _died(self, reason)
        err.__cause__ = self.death
        return err

    # -- asking the host ----------------------------------------------------------

    async def _ask(self, op: str, *args: Any) -> Any:
        """Run the host's control ``op`` and return its result, raising as it raised.

        Raises:
            ActorDiedError: the actor died meanwhile.
        """
        handle = self._ray_handle
        if handle is None:
            raise self._dead_error() if self.state is _DEAD else self._error("is restarting")
        loop = self.loop
        fut: asyncio.Future[Any] = loop.create_future()
        on_ray_result(loop, handle.control.remote(op, *args), fut.set_result)
        result = await fut
        if type(result) is Raised:
            raise result.error()
        if isinstance(result, RayActorError):
            raise self._error(f"died: its Ray actor died ({death_reason(result)})") from result
        if isinstance(result, RayError):
            raise from_ray(result, self.describe())
        return result
