"""A live, read-only dashboard of an actor system, as an ASGI application.

Mount it in a FastAPI (or any ASGI) application, behind that application's own
authentication, since it shows the stacks of stuck calls::

    from asyncactors import dashboard
    app.mount("/actors", dashboard.app())      # the loop's default actor system

or serve it alone, on 127.0.0.1 unless told otherwise::

    async with dashboard.DashboardServer(dashboard.app(system), port=8265) as server:
        print(server.url)
        ...

``python -m asyncactors dashboard`` serves it over a demo system. The page is
one HTML file shipped with the package, its script inline: no build step, no
CDN, it works offline. It is fed by server-sent events (``events``) every
``interval_s`` seconds, and shows the supervision tree with each actor's state,
mailbox depth against its capacity, throughput, latency (under
``ActorSystem(metrics=True)``), restarts, the latest lifecycle events, stuck calls
with their stacks, and the methods that held the event loop. ``snapshot`` gives
the same data once, as JSON. Nothing it serves changes an actor or the system:
every method but GET and HEAD is refused with 405.
"""

from __future__ import annotations

from .._system import ActorSystem
from ._app import Dashboard
from ._server import DashboardServer

__all__ = ["Dashboard", "DashboardServer", "app"]


def app(
    system: ActorSystem | None = None,
    *,
    interval_s: float = 0.5,
    stuck_after_s: float = 1.0,
    max_actors: int = 500,
    stream_s: float = 30.0,
) -> Dashboard:
    """The dashboard of ``system`` as an ASGI application.

    With ``system=None`` it shows, at each request, the actor system current
    there or the running loop's default one (what ``actor_lifespan`` starts), so
    it can be mounted before that system exists.

    ``interval_s``: seconds between updates. ``stuck_after_s``: how long a call
    runs before it is listed as stuck. ``max_actors``: the most actors shown (the
    busiest, by mailbox depth and running calls). ``stream_s``: how long one
    event stream lasts before the page reconnects, so that a server stopping
    never waits on it for longer.

    Raises:
        TypeError: ``system`` is not an ``ActorSystem``, or an option is not a number.
        ValueError: an option is not positive.
    """
    return Dashboard(
        system,
        interval_s=interval_s,
        stuck_after_s=stuck_after_s,
        max_actors=max_actors,
        stream_s=stream_s,
    )
