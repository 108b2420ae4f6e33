"""Observability features for asyncactors' runs, chosen by ``ASYNCACTORS_BENCH_OBSERVE``.

To measure what each feature costs a call, run the same scenarios with and without it::

    python -m benchmarks --only seq_sync,seq_async,pipelined --systems asyncactors --runs 7
    ASYNCACTORS_BENCH_OBSERVE=metrics python -m benchmarks --only ... --systems asyncactors
    ASYNCACTORS_BENCH_OBSERVE=tracing python -m benchmarks --only ... --systems asyncactors

The variable is a comma-separated list of:

- ``metrics``: ``ActorSystem(metrics=True)``, every call timed;
- ``tracing``: ``asyncactors.otel.instrument()`` with the OpenTelemetry SDK's
  ``TracerProvider`` (needs ``opentelemetry-sdk``): each call's two spans are
  made and ended, and exported nowhere, so the figure is the instrumentation's
  and the SDK's, without an exporter's;
- ``no-watchdog``: ``block_warning_s=None``, the watchdog off (it is on by default).

Unset or empty, asyncactors runs with its defaults.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Final

import asyncactors

__all__ = ["FEATURES", "VARIABLE", "asyncactors_system", "chosen", "describe"]

VARIABLE: Final = "ASYNCACTORS_BENCH_OBSERVE"
FEATURES: Final = ("metrics", "tracing", "no-watchdog")


def chosen() -> tuple[str, ...]:
    """The features ``ASYNCACTORS_BENCH_OBSERVE`` names, in ``FEATURES`` order.

    Raises:
        ValueError: it names something else.
    """
    names = {n.strip() for n in os.environ.get(VARIABLE, "").split(",") if n.strip()}
    unknown = names.difference(FEATURES)
    if unknown:
        raise ValueError(
            f"{VARIABLE} names unknown features {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(FEATURES)}"
        )
    return tuple(f for f in FEATURES if f in names)


def describe() -> str:
    """`` (+metrics, tracing)`` for the report, or ``""``."""
    features = chosen()
    return f" (+{', '.join(features)})" if features else ""


@asynccontextmanager
async def asyncactors_system() -> AsyncIterator[asyncactors.ActorSystem]:
    """An ``ActorSystem`` with the chosen features, tracing turned off again on exit."""
    features = chosen()
    options: dict[str, Any] = {}
    if "metrics" in features:
        options["metrics"] = True
    if "no-watchdog" in features:
        options["block_warning_s"] = None
    async with AsyncExitStack() as stack:
        if "tracing" in features:
            from opentelemetry.sdk.trace import TracerProvider

            from asyncactors import otel

            provider = TracerProvider()
            otel.instrument(provider)
            stack.callback(provider.shutdown)
            stack.callback(otel.uninstrument)
        yield await stack.enter_async_context(asyncactors.ActorSystem(**options))
