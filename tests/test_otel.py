"""asyncactors.otel: CLIENT and SERVER spans per call, context carried into the actor, off by
default, checked with the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import asyncactors
import asyncactors.otel
from asyncactors import ActorMethod, ActorSystem, PendingCallsLimitExceeded
from asyncactors._handle import ActorMethod as PlainActorMethod

PLAIN_REMOTE = PlainActorMethod.remote


@asyncactors.remote
class Echo:
    def echo(self, x: int) -> int:
        return x

    def fail(self) -> None:
        raise ValueError("bad input")

    async def relay(self, other: asyncactors.ActorHandle[Echo], x: int) -> int:
        return int(await other.echo.remote(x))

    def relay_sync(
        self, other: asyncactors.ActorHandle[Echo], x: int
    ) -> asyncactors.ObjectRef[int]:
        return other.echo.remote(x)

    def trace_id(self) -> int:
        return trace.get_current_span().get_span_context().trace_id

    def baggage_of(self, key: str) -> object:
        return baggage.get_baggage(key)

    @asyncactors.method(run_in_thread=True)
    def threaded(self, x: int) -> int:
        return x * 2

    def leave(self) -> None:
        asyncactors.exit_actor()

    async def wait(self, gate: asyncio.Event) -> None:
        await gate.wait()


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    provider = TracerProvider()
    try:
        yield provider
    finally:
        provider.shutdown()


@pytest.fixture
def spans(provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    """Every actor call traced through ``provider`` into an in-memory exporter."""
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    asyncactors.otel.instrument(provider)
    try:
        yield exporter
    finally:
        asyncactors.otel.uninstrument()


def _pair(exporter: InMemorySpanExporter, name: str) -> tuple[ReadableSpan, ReadableSpan]:
    found = [s for s in exporter.get_finished_spans() if s.name == name]
    (client,) = [s for s in found if s.kind is SpanKind.CLIENT]
    (server,) = [s for s in found if s.kind is SpanKind.SERVER]
    return client, server


def test_off_by_default() -> None:
    """Without instrument(), ActorMethod.remote is the plain method: tracing costs nothing."""
    assert not asyncactors.otel.is_instrumented()
    assert ActorMethod.remote is PLAIN_REMOTE


async def test_a_call_is_a_client_span_and_a_server_span(
    spans: InMemorySpanExporter, provider: TracerProvider
) -> None:
    """A call makes a CLIENT span at .remote() and a SERVER span around the method, both named
    Class/method with the RPC attributes; the server's parent is the client, whose parent is
    the caller's span."""
    tracer = provider.get_tracer("test")
    async with ActorSystem():
        e = Echo.options(name="echoer").remote()
        with tracer.start_as_current_span("caller") as caller:
            assert await e.echo.remote(7) == 7
    client, server = _pair(spans, "Echo/echo")
    assert client.parent is not None
    assert server.parent is not None
    assert client.parent.span_id == caller.get_span_context().span_id
    assert server.parent.span_id == client.context.span_id
    assert client.context.trace_id == server.context.trace_id
    for span in (client, server):
        assert dict(span.attributes or {}) == {
            "rpc.system": "asyncactors",
            "rpc.service": "Echo",
            "rpc.method": "echo",
            "asyncactors.actor_id": e._core.actor_id,
            "asyncactors.actor_name": "echoer",
        }
        assert span.status.status_code is StatusCode.UNSET
    assert client.end_time is not None
    assert server.end_time is not None
    assert client.start_time is not None
    assert server.start_time is not None
    assert client.start_time <= server.start_time <= server.end_time <= client.end_time


async def test_the_callers_context_reaches_the_method(
    spans: InMemorySpanExporter, provider: TracerProvider
) -> None:
    """Inside the method the current span is the SERVER span of the caller's trace, and the
    caller's baggage is there."""
    tracer = provider.get_tracer("test")
    async with ActorSystem():
        e = Echo.remote()
        token = otel_context.attach(baggage.set_baggage("tenant", "acme"))
        try:
            with tracer.start_as_current_span("caller") as caller:
                seen = await e.trace_id.remote()
                assert await e.baggage_of.remote("tenant") == "acme"
        finally:
            otel_context.detach(token)
        assert await e.baggage_of.remote("tenant") is None
    assert seen == caller.get_span_context().trace_id


async def test_calls_made_by_a_method_are_its_children(spans: InMemorySpanExporter) -> None:
    """A call made inside a method (async or sync) is a child of that method's SERVER span."""
    async with ActorSystem():
        a, b = Echo.remote(), Echo.remote()
        assert await a.relay.remote(b, 3) == 3
        assert await (await a.relay_sync.remote(b, 4)) == 4
    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}
    inner = [s for s in finished if s.name == "Echo/echo" and s.kind is SpanKind.CLIENT]
    assert len(inner) == 2
    for span in inner:
        assert span.parent is not None
        parent = by_id[span.parent.span_id]
        assert parent.kind is SpanKind.SERVER
        assert parent.name in ("Echo/relay", "Echo/relay_sync")
    assert len({s.context.trace_id for s in finished}) == 2  # one trace per outer call


async def test_a_failing_method_marks_both_spans(spans: InMemorySpanExporter) -> None:
    """A method raising sets both spans' status to ERROR and records the exception."""
    async with ActorSystem():
        e = Echo.remote()
        with pytest.raises(ValueError, match="bad input"):
            await e.fail.remote()
    for span in _pair(spans, "Echo/fail"):
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "ValueError: bad input"
        (event,) = span.events
        assert event.name == "exception"
        assert (event.attributes or {})["exception.type"] == "ValueError"


async def test_exit_actor_is_not_an_error_of_the_method(spans: InMemorySpanExporter) -> None:
    """exit_actor() ends the SERVER span normally; the caller's span fails with ActorDiedError."""
    async with ActorSystem():
        e = Echo.remote()
        with pytest.raises(asyncactors.ActorDiedError):
            await e.leave.remote()
    client, server = _pair(spans, "Echo/leave")
    assert server.status.status_code is StatusCode.UNSET
    assert client.status.status_code is StatusCode.ERROR


async def test_thread_methods_submit_and_submit_nowait_are_traced(
    spans: InMemorySpanExporter,
) -> None:
    """run_in_thread methods, submit() and submit_nowait() make their span pairs too."""
    async with ActorSystem():
        e = Echo.remote()
        assert await e.threaded.remote(2) == 4
        assert await (await e.echo.submit(5)) == 5
        assert await e.echo.submit_nowait(6) == 6
        assert await e.echo.options(max_task_retries=0).remote(8) == 8
    names = [(s.name, s.kind) for s in spans.get_finished_spans()]
    assert names.count(("Echo/threaded", SpanKind.SERVER)) == 1
    assert names.count(("Echo/echo", SpanKind.CLIENT)) == 3
    assert names.count(("Echo/echo", SpanKind.SERVER)) == 3


async def test_a_call_from_another_thread_ends_its_span(spans: InMemorySpanExporter) -> None:
    """.remote() from a thread without a loop makes a client span that ends with the call."""
    async with ActorSystem():
        e = Echo.remote()
        await e
        result = await asyncio.to_thread(lambda: e.echo.remote(9).result(timeout=5))
        assert result == 9
        await asyncio.sleep(0)
    client, server = _pair(spans, "Echo/echo")
    assert client.end_time is not None
    assert server.parent is not None
    assert server.parent.span_id == client.context.span_id


async def test_refused_calls_end_their_span_with_the_error(spans: InMemorySpanExporter) -> None:
    """Bad arguments raise at the call site as before (no span), and a call refused by
    max_pending_calls ends its CLIENT span with the error."""
    async with ActorSystem():
        e = Echo.options(max_pending_calls=1, max_concurrency=1).remote()
        with pytest.raises(TypeError):
            e.echo.remote()  # type: ignore[call-arg]
        gate = asyncio.Event()
        waiting = e.wait.remote(gate)
        with pytest.raises(PendingCallsLimitExceeded):
            e.echo.remote(1)
        gate.set()
        await waiting
    refused = [s for s in spans.get_finished_spans() if s.name == "Echo/echo"]
    (span,) = refused
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.ERROR
    assert "PendingCallsLimitExceeded" in (span.status.description or "")


async def test_uninstrument_turns_it_off() -> None:
    """uninstrument() puts the plain methods back: later calls make no spans."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    asyncactors.otel.instrument(provider)
    assert asyncactors.otel.is_instrumented()
    assert ActorMethod.remote is not PLAIN_REMOTE
    asyncactors.otel.uninstrument()
    assert ActorMethod.remote is PLAIN_REMOTE
    assert not asyncactors.otel.is_instrumented()
    async with ActorSystem():
        assert await Echo.remote().echo.remote(1) == 1
    assert exporter.get_finished_spans() == ()
    provider.shutdown()


@asyncactors.remote
class Mixed:
    async def tokens(self, text: str):  # type: ignore[no-untyped-def]
        for word in text.split():
            yield word

    @asyncactors.batch(max_batch_size=4, batch_wait_timeout_s=0.001)
    async def double(self, xs: list[int]) -> list[int]:
        return [2 * x for x in xs]

    @asyncactors.method(num_returns=2)
    def pair(self) -> tuple[int, int]:
        return (1, 2)


async def test_streams_batches_and_multiple_returns_work_when_traced(
    spans: InMemorySpanExporter,
) -> None:
    """Instrumented, generator and batched methods work as before, untraced; a method with
    num_returns is traced like any other."""
    async with ActorSystem():
        m = Mixed.remote()
        assert [w async for w in m.tokens.remote("a b c")] == ["a", "b", "c"]
        assert await (await m.tokens.submit("d e")) == ["d", "e"]
        assert await asyncactors.get([m.double.remote(i) for i in range(5)]) == [0, 2, 4, 6, 8]
        assert await (await m.double.submit(7)) == 14
        assert await m.double.submit_nowait(8) == 16
        assert await asyncactors.get(m.pair.remote()) == [1, 2]
    names = {s.name for s in spans.get_finished_spans()}
    assert names == {"Mixed/pair"}


def test_instrument_is_safe_from_threads() -> None:
    """instrument() and uninstrument() from several threads leave one consistent state."""
    provider = TracerProvider()
    threads = [
        threading.Thread(target=asyncactors.otel.instrument, args=(provider,)) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert asyncactors.otel.is_instrumented()
    asyncactors.otel.uninstrument()
    assert ActorMethod.remote is PLAIN_REMOTE
