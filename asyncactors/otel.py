"""OpenTelemetry traces of actor calls: ``pip install 'asyncactors[otel]'``.

::

    import asyncactors.otel
    asyncactors.otel.instrument()            # the global tracer provider, or pass one

Once instrumented, each ``handle.method.remote()`` (and ``submit()``,
``submit_nowait()``) starts a CLIENT span, ended when the call's ref resolves,
and the method runs inside a SERVER span, its child; both are named
``Class/method`` and carry the RPC semantic conventions (``rpc.system`` is
``asyncactors``, ``rpc.service`` the class, ``rpc.method`` the method) plus
``asyncactors.actor_id`` and, for a named actor, ``asyncactors.actor_name``.
The caller's context (its trace, and its baggage) is carried into the actor's
run, so what the method calls or logs joins the caller's trace.

Only ``opentelemetry-api`` is needed: with no SDK configured, spans are no-ops.
Tracing is off by default and costs nothing then: ``instrument()`` swaps the
traced submission methods in, and ``uninstrument()`` puts the plain ones back.
A method raising sets its spans' status to ERROR with the exception recorded;
``exit_actor()`` is not an error. Generator (streaming) and batched methods are
not traced yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "asyncactors.otel needs opentelemetry-api: pip install 'asyncactors[otel]'"
    ) from exc

from . import __version__
from ._exceptions import _ActorExit
from ._handle import ActorMethod
from ._ref import FAILED, ObjectRef
from ._specs import MethodSpec
from ._types import ASYNC, STREAMS

if TYPE_CHECKING:
    from ._protocols import EngineCore

__all__ = ["instrument", "is_instrumented", "uninstrument"]

_get_running_loop = asyncio._get_running_loop

# The plain submission methods, put back by uninstrument().
_PLAIN_REMOTE: Final = ActorMethod.remote
_PLAIN_SUBMIT: Final = ActorMethod.submit
_PLAIN_SUBMIT_NOWAIT: Final = ActorMethod.submit_nowait
_PLAIN: Final[dict[str, Callable[..., Any]]] = {
    "remote": _PLAIN_REMOTE,
    "submit": _PLAIN_SUBMIT,
    "submit_nowait": _PLAIN_SUBMIT_NOWAIT,
}

_lock = threading.Lock()
_tracer: trace.Tracer | None = None
# The traced twin of each class's own MethodSpec, made once (specs made by
# .options() are traced per call: they come and go).
_traced_specs: dict[int, tuple[MethodSpec, MethodSpec]] = {}
_MAX_CACHED: Final = 4096


def instrument(tracer_provider: trace.TracerProvider | None = None) -> None:
    """Trace every actor call from now on, through ``tracer_provider`` (``None``:
    the global one). Calling it again switches the provider."""
    global _tracer
    with _lock:
        _tracer = trace.get_tracer("asyncactors", __version__, tracer_provider)
        _traced_specs.clear()
        ActorMethod.remote = _traced_remote  # type: ignore[method-assign]
        ActorMethod.submit = _traced_submit  # type: ignore[method-assign]
        ActorMethod.submit_nowait = _traced_submit_nowait  # type: ignore[method-assign]


def uninstrument() -> None:
    """Stop tracing: calls made from now on cost what they did before ``instrument()``.

    Calls already submitted keep their spans.
    """
    global _tracer
    with _lock:
        for name, plain in _PLAIN.items():
            setattr(ActorMethod, name, plain)
        _tracer = None
        _traced_specs.clear()


def is_instrumented() -> bool:
    """Whether ``instrument()`` is in force."""
    return _tracer is not None


# -- the client side ----------------------------------------------------------------


def _attributes(core: EngineCore, spec: MethodSpec) -> dict[str, str | int]:
    attrs: dict[str, str | int] = {
        "rpc.system": "asyncactors",
        "rpc.service": core.spec.name,
        "rpc.method": spec.name,
        "asyncactors.actor_id": core.actor_id,
    }
    if core.name is not None:
        attrs["asyncactors.actor_name"] = core.name
    return attrs


# What a traced call carries to its method, as its first argument: the caller's
# context with the CLIENT span in it, and the spans' attributes.
_Carried = tuple[otel_context.Context, dict[str, str | int]]


def _client_span(method: ActorMethod[..., Any]) -> tuple[trace.Span, _Carried, MethodSpec]:
    """Start the CLIENT span of a call; return it, what to carry, and the traced spec."""
    tracer = _tracer if _tracer is not None else trace.get_tracer("asyncactors", __version__)
    core, spec = method._core, method._spec
    attrs = _attributes(core, spec)
    span = tracer.start_span(
        f"{core.spec.name}/{spec.name}", kind=SpanKind.CLIENT, attributes=attrs
    )
    return span, (trace.set_span_in_context(span), attrs), _traced_spec(core, spec, tracer)


def _end_when_resolved(ref: ObjectRef[Any], span: trace.Span) -> ObjectRef[Any]:
    def resolved(ref: ObjectRef[Any]) -> None:
        if ref._state == FAILED and ref._exc is not None:
            _failed(span, ref._exc)
        span.end()

    if _get_running_loop() is ref._loop:
        ref._add_callback(resolved)
    elif not ref._on_own_loop(ref._add_callback, resolved):
        span.end()  # its loop is closed: the ref says so to whoever awaits it
    return ref


def _failed(span: trace.Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


@contextlib.contextmanager
def _ending_on_error(span: trace.Span) -> Iterator[None]:
    """End ``span`` if submitting its call raises (bad arguments, a full cap)."""
    try:
        yield
    except BaseException as exc:
        _failed(span, exc)
        span.end()
        raise


def _untraced(spec: MethodSpec) -> bool:
    """Streams and batched methods are not traced: a span per item or per batch
    would need their engines' help."""
    return spec.batch is not None or spec.kind in STREAMS


def _traced_remote(self: ActorMethod[..., Any], *args: Any, **kwargs: Any) -> ObjectRef[Any]:
    spec = self._spec
    if _untraced(spec):
        return _PLAIN_REMOTE(self, *args, **kwargs)
    check = spec.check
    if kwargs or not check.fast_min <= len(args) <= check.fast_max:
        check(args, kwargs)
    span, carried, traced = _client_span(self)
    with _ending_on_error(span):
        ref = self._core.call(traced, (carried, *args), kwargs)
    return _end_when_resolved(ref, span)


async def _traced_submit(self: ActorMethod[..., Any], *args: Any, **kwargs: Any) -> ObjectRef[Any]:
    if _untraced(self._spec):
        return await _PLAIN_SUBMIT(self, *args, **kwargs)
    self._spec.check(args, kwargs)
    span, carried, traced = _client_span(self)
    with _ending_on_error(span):
        ref = await self._core.submit(traced, (carried, *args), kwargs)
    return _end_when_resolved(ref, span)


def _traced_submit_nowait(self: ActorMethod[..., Any], *args: Any, **kwargs: Any) -> ObjectRef[Any]:
    if _untraced(self._spec):
        return _PLAIN_SUBMIT_NOWAIT(self, *args, **kwargs)
    self._spec.check(args, kwargs)
    span, carried, traced = _client_span(self)
    with _ending_on_error(span):
        ref = self._core.call_nowait(traced, (carried, *args), kwargs)
    return _end_when_resolved(ref, span)


for _name, _plain in _PLAIN.items():
    _traced = globals()[f"_traced_{_name}"]
    _traced.__doc__ = _plain.__doc__
    _traced.__name__ = _traced.__qualname__ = _name


# -- the server side ----------------------------------------------------------------


def _traced_spec(core: EngineCore, spec: MethodSpec, tracer: trace.Tracer) -> MethodSpec:
    """``spec`` whose function takes the caller's context first and runs in a SERVER span."""
    own = core.spec.methods.get(spec.name) is spec
    if own:
        cached = _traced_specs.get(id(spec))
        if cached is not None and cached[0] is spec:
            return cached[1]
    traced = spec.with_options({})
    traced.func = _server_side(spec, f"{core.spec.name}/{spec.name}", tracer)
    if own:
        if len(_traced_specs) >= _MAX_CACHED:
            _traced_specs.clear()  # classes made on the fly must not pile up here
        _traced_specs[id(spec)] = (spec, traced)
    return traced


@contextlib.contextmanager
def _server_span(tracer: trace.Tracer, name: str, carried: _Carried) -> Iterator[None]:
    parent, attrs = carried
    span = tracer.start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attrs)
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    try:
        yield
    except _ActorExit:
        raise  # exit_actor(): a normal stop
    except BaseException as exc:
        _failed(span, exc)
        raise
    finally:
        otel_context.detach(token)
        span.end()


def _server_side(spec: MethodSpec, name: str, tracer: trace.Tracer) -> Callable[..., Any]:
    func = spec.func
    if spec.kind == ASYNC:

        async def traced_async(instance: Any, carried: _Carried, *args: Any, **kwargs: Any) -> Any:
            with _server_span(tracer, name, carried):
                return await func(instance, *args, **kwargs)

        traced: Callable[..., Any] = traced_async
    else:

        def traced_sync(instance: Any, carried: _Carried, *args: Any, **kwargs: Any) -> Any:
            with _server_span(tracer, name, carried):
                return func(instance, *args, **kwargs)

        traced = traced_sync
    return functools.wraps(func)(traced)
