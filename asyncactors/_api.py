"""Module-level functions: ``get``, ``wait``, ``put``, ``kill``, ``stop``, ``get_actor``,
``exit_actor``, ``set_resources``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, TypeVar, overload

from ._context import current_actor, current_system, running_actor
from ._exceptions import GetTimeoutError, _ActorExit
from ._handle import ActorHandle
from ._options import check_timeout
from ._ref import ObjectRef, unwatch, watch_pending
from ._system import ActorSystem, check_actor_lookup, default_system
from ._types import StopReason

__all__ = ["exit_actor", "get", "get_actor", "kill", "put", "set_resources", "stop", "wait"]

_T = TypeVar("_T")
_R = TypeVar("_R", bound=ObjectRef[Any])


def _check_refs(refs: object, api: str) -> bool:
    """Check ``get()``-style arguments; return whether ``refs`` is a single ref.

    Raises:
        ValueError: neither an ObjectRef nor a list or tuple (as in Ray).
        TypeError: the list holds something other than ObjectRefs.
    """
    if isinstance(refs, ObjectRef):
        return True
    if not isinstance(refs, list | tuple):
        raise ValueError(
            f"{api}() takes an ObjectRef or a list of ObjectRefs, got {type(refs).__name__}"
        )
    for r in refs:
        if not isinstance(r, ObjectRef):
            raise TypeError(f"{api}() takes ObjectRefs only, got {type(r).__name__}")
    return False


@overload
async def get(refs: ObjectRef[_T], *, timeout: float | None = None) -> _T: ...


@overload
async def get(refs: Sequence[ObjectRef[_T]], *, timeout: float | None = None) -> list[_T]: ...


async def get(refs: Any, *, timeout: float | None = None) -> Any:
    """The value of a ref, or the values of a list of refs in the same order.

    Waiting is not cancelling: on timeout the calls go on. Without a timeout,
    inside an actor's method, a wait that could never end raises at once; a
    wait with a timeout is not checked, and times out.

    Raises:
        GetTimeoutError: not every value was ready within ``timeout`` seconds.
        ValueError: ``refs`` is neither an ObjectRef nor a list (as in Ray).
        TypeError: the list holds something other than ObjectRefs.
        DeadlockError: (no timeout) a ref can never be ready because its call
            waits for the calling method to finish; that call is cancelled.
        Exception: the first failure in list order, as the method raised it.
    """
    check_timeout(timeout)
    single = _check_refs(refs, "get")
    if timeout is None:
        if single:
            return await refs
        # Every ref is needed: check them all before waiting for the first.
        actor = current_actor.get()
        if actor is not None:
            actor.check_wait(refs, len(refs), None)
        return [await r for r in refs]
    try:
        async with asyncio.timeout(timeout) as scope:
            # Through future(), which the deadlock check does not see: this wait ends.
            if single:
                return await refs.future()
            return [await r.future() for r in refs]
    except TimeoutError:
        if scope.expired():
            pending = 1 if single else sum(not r.done() for r in refs)
            raise GetTimeoutError(
                f"get() timed out after {timeout} s with {pending} ref(s) not ready"
            ) from None
        raise


async def wait(
    refs: Sequence[_R],
    *,
    num_returns: int = 1,
    timeout: float | None = None,
) -> tuple[list[_R], list[_R]]:
    """Wait until ``num_returns`` refs are done or ``timeout`` passes.

    Returns ``(ready, not_ready)``, each in input order; ``ready`` holds at most
    ``num_returns`` refs; an empty ``refs`` gives ``([], [])`` at once, as in Ray.
    Failed refs count as done. Nothing is cancelled (except on ``DeadlockError``),
    and nothing is left attached to the refs still pending, so each call costs time
    in proportion to ``len(refs)``, however many calls came before.

    Raises:
        DeadlockError: (no timeout, inside an actor's method) fewer than
            ``num_returns`` refs can ever be ready, because their calls wait for
            the calling method to finish; those calls are cancelled. A wait with
            a timeout is not checked, and times out.
        TypeError: ``refs`` is not a list of ObjectRefs.
        ValueError: duplicate refs, ``num_returns`` outside 1..len(refs) (for a
            non-empty ``refs``), or a negative timeout.
        ActorDiedError: a pending ref belongs to an event loop that is closed.
    """
    if not isinstance(refs, list | tuple):
        raise TypeError(f"wait() takes a list of ObjectRefs, got {type(refs).__name__}")
    done = 0
    for r in refs:
        if not isinstance(r, ObjectRef):
            raise TypeError(f"wait() takes ObjectRefs only, got {type(r).__name__}")
        if r._state:
            done += 1
    if len(set(refs)) != len(refs):
        raise ValueError("wait() requires a list of unique ObjectRefs; got duplicates")
    if isinstance(num_returns, bool) or not isinstance(num_returns, int):
        raise TypeError(f"num_returns must be an int, got {type(num_returns).__name__}")
    check_timeout(timeout)
    if not refs:
        # As ray.wait([]): nothing to wait for is ready at once, whatever num_returns.
        return [], []
    if not 1 <= num_returns <= len(refs):
        raise ValueError(
            f"num_returns must be between 1 and len(refs) = {len(refs)}, got {num_returns}"
        )
    if done < num_returns and timeout != 0:
        await _until_done(refs, num_returns, timeout)
    ready: list[_R] = []
    not_ready: list[_R] = []
    for r in refs:
        (ready if r._state and len(ready) < num_returns else not_ready).append(r)
    return ready, not_ready


async def _until_done(refs: Sequence[ObjectRef[Any]], needed: int, timeout: float | None) -> None:
    """Wait until ``needed`` of ``refs`` are done, or ``timeout`` passes."""
    loop = asyncio.get_running_loop()
    enough = loop.create_future()
    remaining = needed

    def on_done(_: ObjectRef[Any]) -> None:
        nonlocal remaining
        remaining -= 1
        if not remaining and not enough.done():
            enough.set_result(None)

    def relay(ref: ObjectRef[Any]) -> None:
        # A ref of another loop reports on its own loop's thread.
        loop.call_soon_threadsafe(on_done, ref)

    here, afar = watch_pending(refs, loop, on_done)
    # Counted here, not before: a ref of another loop may have finished meanwhile.
    remaining -= len(refs) - len(here) - len(afar)
    actor = current_actor.get() if timeout is None else None
    try:
        for r in afar:
            r._add_callback_from_afar(relay)
        if remaining <= 0:
            return
        if actor is not None:
            # Only an unbounded wait can hang for good; a timed one just times out.
            actor.check_wait(refs, needed, enough)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await enough
    finally:
        if actor is not None:
            actor.done_waiting()
        # Refs still pending must not keep a callback per call of wait().
        unwatch(here, on_done)
        for r in afar:
            # A closed loop runs nothing more, so it needs no cleaning.
            r._on_own_loop(r._remove_callback, relay)


def put(value: _T) -> ObjectRef[_T]:
    """A ref that is already resolved to ``value``."""
    return ObjectRef._ready(value)


def _check_handle(actor: object, api: str) -> None:
    # ValueError, not TypeError: Ray's kill() raises it, and Ray code catches it.
    if not isinstance(actor, ActorHandle):
        raise ValueError(f"{api}() takes an ActorHandle, got {type(actor).__name__}")


def kill(actor: ActorHandle[Any], *, no_restart: bool = True) -> None:
    """Stop an actor at once, from any thread.

    Its running and queued calls, and every later call, fail with
    ``ActorDiedError``. ``__pre_destroy__`` does not run. The name is freed.
    With ``no_restart=False`` the kill is a crash instead: the supervisor may
    restart the actor, and its queued calls survive.

    Raises:
        ValueError: ``actor`` is not an ActorHandle (as in Ray).
        TypeError: ``no_restart`` is not a bool.
    """
    _check_handle(actor, "kill")
    if not isinstance(no_restart, bool):
        raise TypeError(f"no_restart must be a bool, got {type(no_restart).__name__}")
    actor._core.kill(no_restart=no_restart)


def stop(actor: ActorHandle[Any]) -> ObjectRef[None]:
    """Stop an actor gracefully once the calls sent to it before have run; any thread.

    The stop is queued in the mailbox like a call (Ray's
    ``handle.__ray_terminate__.remote()``), never refused by ``max_pending_calls``.
    When it runs, the actor refuses new calls, fails the calls still waiting
    (queued behind it, in another concurrency group's queue, or waiting for a
    ref argument) with ``ActorDiedError``, lets its running calls finish and
    runs ``__pre_destroy__``. It is not restarted, even
    under a supervisor. The returned ref resolves to ``None`` once the actor is
    DEAD; it fails with ``ActorDiedError`` if the actor died or began stopping
    before the stop ran. ``ref.cancel()`` withdraws a stop that has not run.

    Raises:
        ValueError: ``actor`` is not an ActorHandle (as ``kill()``).
    """
    _check_handle(actor, "stop")
    return actor._core.submit_stop(StopReason.STOP)


def get_actor(name: str, namespace: str | None = None) -> ActorHandle[Any]:
    """A handle to the live actor named ``name`` in the current actor system.

    Raises:
        ValueError: no live actor has that name in that namespace, or ``name``
            or ``namespace`` is empty (as in Ray).
        TypeError: ``name`` or ``namespace`` is not a str.
        RuntimeError: there is no actor system here.
    """
    check_actor_lookup(name, namespace)
    return default_system().get_actor(name, namespace)


def exit_actor() -> NoReturn:
    """Stop the current actor: it takes no further call and stops once the method returns.

    Raises an exception (a ``BaseException``, so ``except Exception`` lets it by)
    that ends the method; its caller gets ``ActorDiedError``, and so do the calls
    still queued. The actor exits even if the method catches that exception: its
    caller then gets what the method returns or raises. ``__pre_destroy__``
    runs. This is a normal stop, not a crash. Works in a task the method
    started, too.

    Raises:
        TypeError: called outside an actor's method.
    """
    core = running_actor()
    if core is None:
        raise TypeError(
            "asyncactors.exit_actor() can only be called inside an actor's method "
            "(or __init__ / __post_create__)"
        )
    core.request_exit()
    raise _ActorExit


async def set_resources(resources: Mapping[str, float], *, timeout: float | None = None) -> None:
    """Set the calling actor's reservation of each resource named, from inside its code.

    ``{"GPU": 2}`` makes the actor hold 2 GPUs and leaves what it holds of other
    resources as it is; ``{"GPU": 0}`` gives its GPUs back. Decreases take
    effect at once and go to the actors waiting for resources. Increases wait
    for capacity in FIFO order, behind the actors already waiting to be created
    and any earlier growth, or until ``timeout`` seconds have passed.

    Raises:
        RuntimeError: called outside an actor's code, or while another
            ``set_resources()`` of the same actor waits.
        TypeError: ``resources`` is not a dict of str -> number.
        ValueError: a negative amount, more GPUs than one that are not whole,
            or more of a resource than the actor system has in all.
        GetTimeoutError: the increases did not fit within ``timeout``; the actor
            keeps what it held of those resources (the decreases stand).
        ActorDiedError: the actor system shut down while the increases waited.
    """
    core = running_actor()
    if core is None:
        raise RuntimeError(
            "asyncactors.set_resources() can only be called inside an actor's code "
            "(an async method or __post_create__)"
        )
    check_timeout(timeout)
    system: ActorSystem = current_system.get()
    await system._resource_pool().resize(core, resources, timeout)
