"""``ActorHandle`` and ``ActorMethod``: the caller's side of an actor."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, NoReturn, ParamSpec, TypeVar

from ._options import check_stream_options, validate_call_options
from ._ref import ObjectRef, split
from ._types import STREAMS, StopReason

if TYPE_CHECKING:
    from ._events import ActorExitInfo
    from ._metrics import ActorStatistics
    from ._protocols import EngineCore
    from ._specs import MethodSpec
    from ._stream import StreamRef

__all__ = [
    "ActorHandle",
    "ActorMethod",
    "BatchedActorMethod",
    "MultiReturnMethod",
    "RayTerminate",
    "StreamMethod",
    "handle_slots",
    "make_handle_type",
    "method_type",
    "typed",
]

_new = object.__new__

_T = TypeVar("_T")
_P = ParamSpec("_P")
_R = TypeVar("_R")
_Y = TypeVar("_Y")


# Generic for type checkers only: instances are created unsubscripted, and
# Generic adds neither slots nor __new__, so a call costs what it did.
class ActorMethod(Generic[_P, _R]):
    """``handle.method``: submit calls with ``.remote()``, ``.submit()`` or ``.submit_nowait()``.

    It keeps its actor alive as a handle does. ``ActorMethod[P, R]`` takes the
    method's parameters ``P`` (without ``self``) and gives ``ObjectRef[R]``,
    ``R`` being the method's result (awaited, for an async method).
    """

    __slots__ = ("_core", "_spec")

    def __init__(self, core: EngineCore, spec: MethodSpec) -> None:
        core.handle_added()
        self._core = core
        self._spec = spec

    def __del__(self) -> None:
        core = getattr(self, "_core", None)
        if core is not None:
            core.handle_released()

    def remote(self, *args: _P.args, **kwargs: _P.kwargs) -> ObjectRef[_R]:
        """Submit a call and return its ``ObjectRef`` at once.

        The call runs even if nobody awaits the ref. When the mailbox is full the
        call waits for room, in order, and is never dropped.

        Raises:
            TypeError: the arguments do not fit the method's signature.
            PendingCallsLimitExceeded: the actor has ``max_pending_calls`` pending.
        """
        spec = self._spec
        check = spec.check
        if kwargs or not check.fast_min <= len(args) <= check.fast_max:
            check(args, kwargs)
        return self._core.call(spec, args, kwargs)

    async def submit(self, *args: _P.args, **kwargs: _P.kwargs) -> ObjectRef[_R]:
        """Submit a call, wait until it is in the mailbox, and return its ref.

        This is backpressure for producer loops: it waits while the mailbox is
        full. Cancelling the wait withdraws the call.

        Raises:
            TypeError: the arguments do not fit the method's signature.
            PendingCallsLimitExceeded: the actor has ``max_pending_calls`` pending.
        """
        spec = self._spec
        spec.check(args, kwargs)
        return await self._core.submit(spec, args, kwargs)

    def submit_nowait(self, *args: _P.args, **kwargs: _P.kwargs) -> ObjectRef[_R]:
        """Submit a call only if the mailbox has room now, and return its ref.

        Raises:
            MailboxFullError: the mailbox is full.
            TypeError: the arguments do not fit the method's signature.
            PendingCallsLimitExceeded: the actor has ``max_pending_calls`` pending.
        """
        spec = self._spec
        spec.check(args, kwargs)
        return self._core.call_nowait(spec, args, kwargs)

    def options(self, **opts: Any) -> ActorMethod[_P, _R]:
        """This method with per-call options: ``concurrency_group``, ``max_task_retries``,
        ``retry_exceptions``, ``num_returns`` (the result split into that many refs),
        ``stream_buffer`` (generator methods).

        Raises:
            ValueError: an unknown option, a concurrency group the actor lacks, or
                an option that does not fit the kind of method.
            TypeError: an option value of the wrong type.
        """
        validate_call_options(opts)
        spec = self._spec
        check_stream_options(f"{spec.class_name}.{spec.name}", spec.kind in STREAMS, opts)
        group = opts.get("concurrency_group")
        core = self._core
        groups = core.config.groups or {}
        if group is not None and group not in groups:
            raise ValueError(
                f"concurrency group {group!r} does not exist on {core.describe()}; "
                f"its groups: {sorted(groups) or 'none'}"
            )
        spec = spec.with_options(opts)
        return method_type(spec)(core, spec)

    if not TYPE_CHECKING:
        # Hidden from type checkers, so that they report calling a method
        # without .remote() where it is written.
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            raise TypeError(
                f"actor methods cannot be called directly; use "
                f"'{self._spec.name}.remote(...)' instead of '{self._spec.name}(...)'"
            )

    if not TYPE_CHECKING:  # at runtime only: mypy reports this mistake itself

        def __await__(self):
            name = self._spec.name
            raise TypeError(
                f"actor methods cannot be awaited; use 'await handle.{name}.remote(...)' "
                f"instead of 'await handle.{name}'"
            )

    def __repr__(self) -> str:
        return f"<ActorMethod {self._spec.name} of {self._core.describe()}>"


class StreamMethod(ActorMethod[_P, _Y]):
    """``handle.method`` of a generator method: ``.remote()`` returns a ``StreamRef``.

    ``StreamMethod[P, Y]`` takes the method's parameters ``P`` and streams the
    items ``Y`` it yields.
    """

    __slots__ = ()

    def remote(self, *args: _P.args, **kwargs: _P.kwargs) -> StreamRef[_Y]:  # type: ignore[override]
        """Start the stream and return its ``StreamRef`` at once.

        The generator starts when the call's turn comes, even if nobody
        iterates the stream, and parks once ``stream_buffer`` items wait.

        Raises:
            TypeError: the arguments do not fit the method's signature.
            PendingCallsLimitExceeded: the actor has ``max_pending_calls`` pending.
        """
        from ._stream import StreamRef  # here: only generator methods load streams

        spec = self._spec
        spec.check(args, kwargs)
        return StreamRef(self._core.stream(spec, args, kwargs))

    async def submit(self, *args: _P.args, **kwargs: _P.kwargs) -> StreamRef[_Y]:  # type: ignore[override]
        """Start the stream once its call is in the mailbox (backpressure); return it.

        Raises:
            TypeError: the arguments do not fit the method's signature.
            PendingCallsLimitExceeded: the actor has ``max_pending_calls`` pending.
        """
        from ._stream import StreamRef

        spec = self._spec
        spec.check(args, kwargs)
        return StreamRef(await self._core.submit(spec, args, kwargs))  # type: ignore[arg-type]

    def submit_nowait(self, *args: _P.args, **kwargs: _P.kwargs) -> StreamRef[_Y]:  # type: ignore[override]
        """Start the stream only if the mailbox has room now; return it.

        Raises:
            MailboxFullError: the mailbox is full.
            TypeError: the arguments do not fit the method's signature.
            PendingCallsLimitExceeded: the actor has ``max_pending_calls`` pending.
        """
        from ._stream import StreamRef

        spec = self._spec
        spec.check(args, kwargs)
        return StreamRef(self._core.call_nowait(spec, args, kwargs))  # type: ignore[arg-type]

    def options(self, **opts: Any) -> StreamMethod[_P, _Y]:
        """This method with per-call options: ``concurrency_group``, ``stream_buffer``.

        Raises:
            ValueError: an unknown option, a concurrency group the actor lacks,
                or an option that does not apply to streams.
            TypeError: an option value of the wrong type.
        """
        return ActorMethod.options(self, **opts)  # type: ignore[return-value]


class MultiReturnMethod(ActorMethod[_P, _R]):
    """``handle.method`` of a method with ``num_returns`` > 1: ``.remote()`` returns
    that many refs, one per item of the method's result (a sequence), as in Ray."""

    __slots__ = ()

    def remote(self, *args: _P.args, **kwargs: _P.kwargs) -> list[ObjectRef[Any]]:  # type: ignore[override]
        """Submit a call and return its ``num_returns`` refs at once.

        Raises:
            TypeError: the arguments do not fit the method's signature.
            PendingCallsLimitExceeded: the actor has ``max_pending_calls`` pending.
        """
        return split(ActorMethod.remote(self, *args, **kwargs), self._spec.num_returns)

    async def submit(self, *args: _P.args, **kwargs: _P.kwargs) -> list[ObjectRef[Any]]:  # type: ignore[override]
        """Submit a call, wait until it is in the mailbox, and return its refs."""
        return split(await ActorMethod.submit(self, *args, **kwargs), self._spec.num_returns)

    def submit_nowait(self, *args: _P.args, **kwargs: _P.kwargs) -> list[ObjectRef[Any]]:  # type: ignore[override]
        """Submit a call only if the mailbox has room now, and return its refs.

        Raises:
            MailboxFullError: the mailbox is full.
        """
        ref = ActorMethod.submit_nowait(self, *args, **kwargs)
        return split(ref, self._spec.num_returns)


class BatchedActorMethod(ActorMethod[_P, _R]):
    """``handle.method`` of a batched method: each ``remote(item)`` sends one item.

    Its ``remote`` is the engine's own sender of items (``EngineCore.item_sender``):
    sending an item runs one Python frame, not this class's and then the engine's.
    """

    __slots__ = {
        "remote": "Send one item from any thread and return the ObjectRef of its result at "
        "once; awaiting it gives this item's entry of the batch's list. Raises TypeError "
        "(not exactly one item) and PendingCallsLimitExceeded."
    }

    remote: Callable[_P, ObjectRef[_R]]

    def __init__(self, core: EngineCore, spec: MethodSpec) -> None:
        super().__init__(core, spec)
        self.remote = core.item_sender(spec)

    def set_max_batch_size(self, max_batch_size: int) -> NoReturn:
        """Refused here: an actor changes its own batching (``self.method.set_max_batch_size``
        in its own code).

        Raises:
            RuntimeError: always.
        """
        raise self._not_here("set_max_batch_size")

    def set_batch_wait_timeout_s(self, batch_wait_timeout_s: float) -> NoReturn:
        """Refused here: an actor changes its own batching (``self.method.set_batch_wait_timeout_s``
        in its own code).

        Raises:
            RuntimeError: always.
        """
        raise self._not_here("set_batch_wait_timeout_s")

    def _not_here(self, setter: str) -> RuntimeError:
        name = self._spec.name
        return RuntimeError(
            f"{self._spec.class_name}.{name}.{setter}() changes how an actor batches its "
            f"calls: call it in that actor's own code (self.{name}.{setter}(...) in a method, "
            "__init__ or a hook), not through a handle"
        )

    def options(self, **opts: Any) -> ActorMethod[_P, _R]:
        """Refused: a batched method's batches run with the method's own options.

        Raises:
            TypeError: always.
        """
        raise TypeError(
            f"{self._spec.name}() is a batched method: its calls take no options, and its "
            "batches run with the method's own (@asyncactors.method(...) above @asyncactors.batch)"
        )


def method_type(spec: MethodSpec) -> type[ActorMethod[Any, Any]]:
    """The ``ActorMethod`` class for ``spec``: chosen once, so ``.remote()`` never checks."""
    if spec.batch is not None:
        return BatchedActorMethod
    if spec.kind in STREAMS:
        return StreamMethod
    if spec.num_returns > 1:
        return MultiReturnMethod
    return ActorMethod


class RayTerminate:
    """``handle.__ray_terminate__``: Ray's spelling of ``asyncactors.stop(handle)``."""

    __slots__ = ("_core",)

    def __init__(self, core: EngineCore) -> None:
        self._core = core

    def remote(self) -> ObjectRef[None]:
        """Queue a graceful stop behind the calls already sent; see ``asyncactors.stop()``."""
        return self._core.submit_stop(StopReason.TERMINATE)

    def __repr__(self) -> str:
        return f"<__ray_terminate__ of {self._core.describe()}>"


class ActorHandle(Generic[_T]):
    """A reference to an actor. Await it to wait until the actor has started.

    ``handle.method.remote(...)`` calls a method. Handles to the same actor are
    equal. When every handle to an unnamed, non-detached actor has been
    garbage-collected, the actor finishes its queued calls and stops.
    """

    # The handle type of each actor class (make_handle_type) adds one slot per
    # method, named after it, which caches its ActorMethod once first used (see
    # __getattr__): 8 bytes per method, where a __dict__ cost 64 once used.
    __slots__ = ("__weakref__", "_core")

    _core: EngineCore

    def __init__(self, core: EngineCore) -> None:
        core.handle_added()
        self._core = core

    def __del__(self) -> None:
        core = getattr(self, "_core", None)
        if core is not None:
            core.handle_released()

    def __await__(self) -> Generator[Any, None, ActorHandle[_T]]:
        yield from self._core.wait_ready().__await__()
        return self

    async def monitor(self) -> ActorExitInfo:
        """Wait until the actor stops for good and say how; restarts do not count.

        A method of the actor named ``monitor`` shadows this one; then call
        ``ActorHandle.monitor(handle)``.
        """
        core = self._core
        if asyncio.get_running_loop() is core.loop:
            await core.stopped()
        else:
            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(_wait_stopped(core), core.loop)
            )
        from ._events import ActorExitInfo  # here: few programs monitor their actors

        return ActorExitInfo(
            actor_id=core.actor_id,
            name=core.name,
            state=core.state,
            reason=core.reason or "",
            exception=core.death,
        )

    def statistics(self) -> ActorStatistics:
        """A snapshot of the actor's counters: state, mailbox depth, capacity and
        peak, calls processed and failed, restarts, running calls, and latency
        percentiles under ``ActorSystem(metrics=True)``. Any thread; costs no call.

        A method of the actor named ``statistics`` shadows this one; then call
        ``ActorHandle.statistics(handle)``.
        """
        return self._core.statistics()

    async def checkpoint(self) -> None:
        """Save the actor's state to its ``checkpoint_store`` now.

        A method of the actor named ``checkpoint`` shadows this one; then call
        ``ActorHandle.checkpoint(handle)``.

        Raises:
            RuntimeError: the actor has no ``checkpoint_store``.
            ActorDiedError: the actor is dead.
            CheckpointError: the store failed to save, or part of the state
                cannot be encoded (the message names it; the cause is a
                ``TypeError``). The actor's state is unchanged either way.
        """
        await self._core.checkpoint()

    @property
    def __ray_terminate__(self) -> RayTerminate:
        """Ray's graceful stop: ``handle.__ray_terminate__.remote()`` is
        ``asyncactors.stop(handle)``."""
        return RayTerminate(self._core)

    def __getattr__(self, name: str) -> ActorMethod[..., Any]:
        # Reached for a method not used yet through this handle (its slot is
        # empty), and for names that are not methods of the actor, which raise.
        # Its return type tells type checkers that every other attribute is an
        # actor method; the mypy plugin (asyncactors.mypy) types each one from
        # the actor class.
        core = object.__getattribute__(self, "_core")
        spec = core.spec
        kind = spec.method_kinds.get(name)
        if kind is BatchedActorMethod:
            batched: ActorMethod[..., Any] = kind(core, spec.methods[name])
            object.__setattr__(self, name, batched)
            return batched
        if kind is not None:
            # A method with a slot of its own: ActorMethod(core, method_spec),
            # without its __init__ frame, as most handles use a method once, when new.
            method: ActorMethod[..., Any] = _new(kind)
            core.handle_added()
            method._core = core
            method._spec = spec.methods[name]
            # Later accesses read the slot, without this call.
            object.__setattr__(self, name, method)
            return method
        method_spec = spec.methods.get(name)
        if method_spec is not None and not name.startswith("_"):
            return method_type(method_spec)(core, method_spec)
        if name.startswith("_"):
            raise AttributeError(
                f"{name!r} is private: methods whose names start with '_' cannot be "
                f"called on a {spec.name} actor"
            )
        import difflib

        methods = sorted(spec.methods)
        close = difflib.get_close_matches(name, methods, n=3)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        listing = f" Its methods: {', '.join(methods)}." if 0 < len(methods) <= 12 else ""
        raise AttributeError(f"{spec.name} actor has no method {name!r}{hint}{listing}")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ActorHandle):
            return self._core is other._core
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._core.actor_id)

    def __repr__(self) -> str:
        core = self._core
        return f"<ActorHandle {core.describe()[6:]} {core.state.value}>"

    def __reduce__(self) -> Any:
        # The engine decides: the local one refuses, Ray's pickles to its Ray handle.
        return self._core.reduce_handle()

    def __dir__(self) -> list[str]:
        # As Ray's handle: the actor's methods for completion, not the handle's
        # internals; plus what the handle itself offers.
        return sorted({*self._core.spec.methods, *_HANDLE_API})


_HANDLE_API = ("__ray_terminate__", "checkpoint", "monitor", "statistics")


def typed(handle: ActorHandle[_T]) -> type[_T]:
    """Return ``handle`` itself, typed so that checkers without plugins check its calls.

    ``typed(handle).incr.remote(1)`` is ``handle.incr.remote(1)``. pyright cannot
    tell that ``handle.incr`` is ``Cls.incr``; through ``typed()`` it looks the
    method up on the class, where ``@asyncactors.method`` gives it a typed
    ``ActorMethod``. Undecorated methods are plain functions there, so use the
    handle itself (or mypy with ``asyncactors.mypy``) for those.
    """
    return handle  # type: ignore[return-value]


async def _wait_stopped(core: EngineCore) -> None:
    await core.stopped()


def make_handle_type(class_name: str, methods: dict[str, MethodSpec]) -> type[ActorHandle[Any]]:
    """An ``ActorHandle`` subclass with one slot per method, caching its ``ActorMethod``."""
    namespace: dict[str, Any] = {"__slots__": handle_slots(methods), "__module__": __name__}
    return type(f"ActorHandle[{class_name}]", (ActorHandle,), namespace)


def handle_slots(methods: dict[str, MethodSpec]) -> tuple[str, ...]:
    """The methods that get a slot in the handle type: those whose names can be slots
    (compat.ray's "ray:..." methods cannot)."""
    return tuple(name for name in methods if name.isidentifier())
