"""aiohttp integration: a ``cleanup_ctx`` entry and a typed ``web.AppKey``.

Install with ``pip install 'asyncactors[aiohttp]'``::

    from aiohttp import web
    from asyncactors.integrations.aiohttp import ACTOR_SYSTEM, actor_system_ctx

    app = web.Application()
    app.cleanup_ctx.append(actor_system_ctx(shutdown_timeout=10))

    async def hit(request: web.Request) -> web.Response:
        counter = request.app[ACTOR_SYSTEM].get_actor("hits")
        return web.json_response(await counter.incr.remote())

Shutdown happens in aiohttp's order: the sites stop accepting connections, the
``on_shutdown`` signal runs (close long-lived websockets there), in-flight
handlers finish (for up to the runner's ``shutdown_timeout``), and only then do
cleanup contexts run, so the actors drain after the handlers that use them.

Errors are not translated: an actor method's exception reaches the handler as
itself, and so does ``ActorDiedError`` once the system is shutting down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Final

try:
    from aiohttp import web
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "asyncactors.integrations.aiohttp needs aiohttp: pip install 'asyncactors[aiohttp]'"
    ) from exc

from .. import ActorSystem
from . import check_shutdown_timeout, serving_actor_system

__all__ = ["ACTOR_SYSTEM", "actor_system_ctx", "get_actor_system"]

#: Where :func:`actor_system_ctx` stores the system: ``app[ACTOR_SYSTEM]``.
ACTOR_SYSTEM: Final = web.AppKey("asyncactors_system", ActorSystem)


def actor_system_ctx(
    *, namespace: str = "default", shutdown_timeout: float | None = None
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry that runs an actor system for the application's lifetime.

    Use ``app.cleanup_ctx.append(actor_system_ctx(...))``, before the entries
    that create actors, so that they start after the system and stop before it
    drains. At startup it creates the system (as the loop's default, see
    :func:`~asyncactors.integrations.serving_actor_system`) and stores it as
    ``app[ACTOR_SYSTEM]``. At cleanup it drains it: running and queued calls get
    ``shutdown_timeout`` seconds (``None``: no limit), then are cancelled.

    Raises:
        TypeError: ``shutdown_timeout`` is not a number or ``None``.
        ValueError: ``shutdown_timeout`` is negative.

    At startup, the entry raises ``RuntimeError`` if the event loop already has
    a default actor system.
    """
    check_shutdown_timeout(shutdown_timeout)

    async def actor_system(app: web.Application) -> AsyncIterator[None]:
        async with serving_actor_system(
            namespace=namespace, shutdown_timeout=shutdown_timeout
        ) as system:
            app[ACTOR_SYSTEM] = system
            yield

    return actor_system


def get_actor_system(request: web.Request) -> ActorSystem:
    """The actor system of the application serving ``request``, or of a parent app.

    Raises:
        RuntimeError: no application up the chain has :func:`actor_system_ctx`
            in its ``cleanup_ctx``, or it has not started.
    """
    try:
        return request.config_dict[ACTOR_SYSTEM]
    except KeyError:
        raise RuntimeError(
            "no actor system for this application: add "
            "asyncactors.integrations.aiohttp.actor_system_ctx() to app.cleanup_ctx"
        ) from None
