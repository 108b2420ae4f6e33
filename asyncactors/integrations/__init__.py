"""Running an actor system for the lifetime of a web application.

* :mod:`asyncactors.integrations.fastapi` (extra ``fastapi``): a lifespan and
  dependencies for FastAPI and Starlette.
* :mod:`asyncactors.integrations.aiohttp` (extra ``aiohttp``): a ``cleanup_ctx``
  entry and a typed ``web.AppKey``.

Both rest on :func:`serving_actor_system`, which any other ASGI framework's
lifespan can use directly. This package imports neither web framework: importing
``asyncactors.integrations.fastapi`` does not import aiohttp, nor the reverse.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from .. import ActorSystem, init
from .._options import check_timeout

__all__ = ["serving_actor_system"]


def check_shutdown_timeout(shutdown_timeout: float | None) -> None:
    """Validate a drain timeout given to an integration, where it is configured.

    Raises:
        TypeError: not a number or ``None``.
        ValueError: negative.
    """
    check_timeout(shutdown_timeout, "shutdown_timeout")


@contextlib.asynccontextmanager
async def serving_actor_system(
    *, namespace: str = "default", shutdown_timeout: float | None = None
) -> AsyncIterator[ActorSystem]:
    """Make an actor system the running loop's default for the block, then drain it.

    On entry this calls ``asyncactors.init(namespace=...)``, so that
    ``Cls.remote()`` and ``asyncactors.get_actor()`` use the system in every task
    of the loop (request handlers run in tasks the server creates, which do not
    see a context variable set in the lifespan's task) and in threads without a
    loop (FastAPI's thread pool for plain ``def`` endpoints).

    On a normal exit it calls ``system.shutdown(shutdown_timeout)``: new calls are
    refused with ``ActorDiedError``, running and queued calls get
    ``shutdown_timeout`` seconds (``None``: no limit) to finish, then they are
    cancelled. On an exit by an exception (including cancellation) running calls
    are cancelled at once, as ``async with ActorSystem()`` does.

    Raises:
        RuntimeError: no running event loop, or the loop already has a default
            actor system (from ``asyncactors.init()`` or an implicit
            ``Cls.remote()``); one application per event loop can own it.
        TypeError: ``shutdown_timeout`` is not a number or ``None``.
        ValueError: ``shutdown_timeout`` is negative.
    """
    check_shutdown_timeout(shutdown_timeout)
    try:
        system = init(namespace=namespace)
    except RuntimeError as exc:
        # init()'s own advice (ignore_reinit_error) is no option of the integrations.
        raise RuntimeError(
            "cannot start the application's actor system: the event loop already has a "
            "default one (another application on this loop, asyncactors.init(), or an "
            "actor created outside any system); run one application per event loop, "
            "and create actors only once the application has started, or shut the "
            "other system down first ('await asyncactors.shutdown()')"
        ) from exc
    timeout = shutdown_timeout
    try:
        yield system
    except BaseException:
        timeout = 0
        raise
    finally:
        await system.shutdown(timeout)
