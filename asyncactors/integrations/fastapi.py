"""FastAPI (and Starlette) integration: a lifespan and dependencies.

Install with ``pip install 'asyncactors[fastapi]'``::

    from typing import Annotated
    from fastapi import Depends, FastAPI
    from asyncactors import ActorHandle
    from asyncactors.integrations.fastapi import ActorSystemDep, actor_handle, actor_lifespan

    app = FastAPI(lifespan=actor_lifespan(shutdown_timeout=10))

    @app.post("/hits")
    async def hit(counter: Annotated[ActorHandle[Counter], Depends(actor_handle("hits"))]) -> int:
        return await counter.incr.remote()

The system is created when the application starts, never at import time, and
drained when it stops. Servers stop accepting connections and finish in-flight
requests before they run the lifespan's shutdown (uvicorn does), so the actors
drain after the handlers that use them.

Errors are not translated: an actor method's exception reaches the handler as
itself, and so does ``ActorDiedError`` once the system is shutting down. Map them
to HTTP statuses in the application, with ``try``/``except`` or
``app.exception_handler(ActorDiedError)``.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Final, TypeVar

try:
    from fastapi import Depends
    from starlette.applications import Starlette
    from starlette.requests import HTTPConnection
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "asyncactors.integrations.fastapi needs FastAPI: pip install 'asyncactors[fastapi]'"
    ) from exc

from .. import ActorDiedError, ActorHandle, ActorSystem
from . import check_shutdown_timeout, serving_actor_system

__all__ = [
    "STATE_KEY",
    "ActorSystemDep",
    "actor_handle",
    "actor_lifespan",
    "actor_system_of",
    "get_actor_system",
]

#: The key of the actor system in the lifespan state (``request.state``) and in
#: ``app.state``.
STATE_KEY: Final = "asyncactors_system"

_AppT = TypeVar("_AppT", bound=Starlette)


def actor_lifespan(
    lifespan: Callable[[_AppT], AbstractAsyncContextManager[Mapping[str, Any] | None]]
    | None = None,
    *,
    namespace: str = "default",
    shutdown_timeout: float | None = None,
) -> Callable[[_AppT], AbstractAsyncContextManager[dict[str, Any]]]:
    """A lifespan that runs an actor system around the application's own lifespan.

    Pass the result as ``FastAPI(lifespan=...)``. At startup it creates the
    system (as the loop's default, see :func:`~asyncactors.integrations.serving_actor_system`),
    stores it in the lifespan state and in ``app.state`` under :data:`STATE_KEY`,
    then enters ``lifespan`` (the application's own, if any), which may create
    actors. At shutdown it exits ``lifespan`` first, while the actors still
    serve, then drains the system: running and queued calls get
    ``shutdown_timeout`` seconds (``None``: no limit), then are cancelled. If
    startup or the application's lifespan fails, calls are cancelled at once.

    The state that ``lifespan`` yields is passed on, with the system added.

    Raises:
        TypeError: ``shutdown_timeout`` is not a number or ``None``.
        ValueError: ``shutdown_timeout`` is negative.

    At startup, the returned lifespan raises ``RuntimeError`` if the event loop
    already has a default actor system.
    """
    check_shutdown_timeout(shutdown_timeout)

    @contextlib.asynccontextmanager
    async def run(app: _AppT) -> AsyncIterator[dict[str, Any]]:
        system: ActorSystem | None = None
        try:
            async with serving_actor_system(
                namespace=namespace, shutdown_timeout=shutdown_timeout
            ) as system:
                setattr(app.state, STATE_KEY, system)
                if lifespan is None:
                    yield {STATE_KEY: system}
                else:
                    async with lifespan(app) as state:
                        yield {**(state or {}), STATE_KEY: system}
        finally:
            # Only once drained: a handler still running meanwhile finds the
            # system and gets ActorDiedError from it, not a missing system.
            if system is not None and getattr(app.state, STATE_KEY, None) is system:
                delattr(app.state, STATE_KEY)

    return run


def actor_system_of(conn: HTTPConnection) -> ActorSystem:
    """The actor system of the application serving ``conn`` (a request or websocket).

    Looks in the lifespan state first (it reaches mounted sub-applications),
    then in ``app.state``.

    Raises:
        RuntimeError: the application was not started with :func:`actor_lifespan`
            (or its lifespan has not run, as with a ``TestClient`` used outside
            ``with``).
    """
    system = getattr(conn.state, STATE_KEY, None)
    if system is None:
        system = getattr(conn.app.state, STATE_KEY, None)
    if not isinstance(system, ActorSystem):
        raise RuntimeError(
            "no actor system for this application: create it with "
            "FastAPI(lifespan=asyncactors.integrations.fastapi.actor_lifespan(...)) "
            "and make sure the server runs the lifespan"
        )
    return system


async def get_actor_system(conn: HTTPConnection) -> ActorSystem:
    """FastAPI dependency: the application's actor system.

    Use it as ``system: ActorSystemDep`` (or ``Depends(get_actor_system)``).

    Raises:
        RuntimeError: the application has no actor system (see :func:`actor_system_of`).
    """
    return actor_system_of(conn)


#: A handler's parameter annotated with this receives the application's actor system.
ActorSystemDep = Annotated[ActorSystem, Depends(get_actor_system)]


def actor_handle(
    name: str, namespace: str | None = None
) -> Callable[[HTTPConnection], Awaitable[ActorHandle[Any]]]:
    """A FastAPI dependency that gives a handler the live actor named ``name``.

    Annotate the parameter with the actor's class for the type checker::

        limiter: Annotated[ActorHandle[Limiter], Depends(actor_handle("limiter"))]

    The name is looked up on every request, so an actor that was replaced under
    the same name is found.

    Raises:
        TypeError: ``name`` or ``namespace`` is not a string.

    The dependency raises ``ValueError`` (a server error) if no live actor has
    that name, ``ActorDiedError`` instead once the system has been shut down
    (so that a request arriving during shutdown sees the same error as one in
    flight), and ``RuntimeError`` if the application has no actor system.
    """
    if not isinstance(name, str):
        raise TypeError(f"actor name must be a str, got {type(name).__name__}")
    if namespace is not None and not isinstance(namespace, str):
        raise TypeError(f"namespace must be a str or None, got {type(namespace).__name__}")

    # The handle given last, with its system: while that system still has this
    # very actor under the name, the next request gets the same handle, and does
    # not pay for a new one (and for its first use of each method).
    last: tuple[weakref.ref[ActorSystem], ActorHandle[Any]] | None = None

    async def named_actor(conn: HTTPConnection) -> ActorHandle[Any]:
        nonlocal last
        system = actor_system_of(conn)
        if last is not None and last[0]() is system:
            handle = last[1]
            ns = namespace if namespace is not None else system.namespace
            if system._names.get((ns, name)) is handle._core:
                return handle
        try:
            handle = system.get_actor(name, namespace)
        except ValueError:
            if system.closed:
                # Its actors are gone because the system was shut down.
                raise ActorDiedError(
                    f"cannot reach actor {name!r}: its actor system has been shut down"
                ) from None
            raise
        last = (weakref.ref(system), handle)
        return handle

    named_actor.__name__ = f"actor_handle_{name}"
    named_actor.__qualname__ = f"actor_handle({name!r})"
    return named_actor
