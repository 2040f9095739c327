"""Traces across processes (OpenTelemetry), off and free unless an OTLP endpoint is configured.

A job's trace context travels with it as a W3C `traceparent` string: in its record (for the
webhook) and in its lane entry (for the worker). With tracing off, the string a client sent is
kept and passed on unchanged (its webhook POST carries it) and no span is made: each hot path
asks `on()` first, a module-level test, so no SDK and no no-op span is touched. With tracing
on, `start()` loads the SDK and the OTLP exporter by name (`maas.core.trace_export`, the
`tracing` extra), so a process that never exports never imports them.
"""

import importlib
import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from maas.core.settings import Settings

# version-traceid-parentid-flags; all-zero ids are invalid (W3C Trace Context, section 3.2).
_TRACEPARENT = re.compile(r"^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$")
_PROPAGATOR = TraceContextTextMapPropagator()
_tracer: trace.Tracer | None = None
_UNTRACED: AbstractContextManager[None] = nullcontext()  # reusable: the common case costs no object


class TracingSetupError(RuntimeError):
    """Export is configured but cannot run (the `tracing` extra is not installed)."""


def start(settings: Settings, service_name: str) -> bool:
    """Installs the SDK exporting to the configured OTLP endpoint; False (and nothing loaded)
    when none is configured. Called once by each process's entry point."""
    global _tracer
    url = settings.otlp_traces_url()
    if url is None:
        return False
    try:
        export = importlib.import_module("maas.core.trace_export")
    except ImportError as e:
        raise TracingSetupError(
            f"OTLP export is configured ({url}) but the OpenTelemetry SDK is missing: "
            f"pip install 'maas[tracing]' ({e})"
        ) from e
    _tracer = export.install(url, service_name)
    return True


def stop() -> None:
    """Flushes the spans not yet exported (at a process's orderly exit)."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if _tracer is not None and shutdown is not None:
        shutdown()


def on() -> bool:
    return _tracer is not None


def tracer() -> trace.Tracer:
    assert _tracer is not None, "ask tracing.on() first"
    return _tracer


def valid_traceparent(value: str | None) -> str | None:
    """The header if it is a well-formed W3C traceparent (version 00), else None: a malformed one
    is dropped (the spec says to start a new trace), never stored."""
    if value is None:
        return None
    value = value.strip().lower()
    return value if len(value) == 55 and _TRACEPARENT.match(value) else None


def context_of(traceparent: str | None) -> Context | None:
    """The remote parent a stored traceparent names, for spans made on the job's behalf."""
    if not traceparent:
        return None
    return _PROPAGATOR.extract({"traceparent": traceparent})


def traceparent_of(span: Span) -> str | None:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, trace.set_span_in_context(span))
    return carrier.get("traceparent")


@contextmanager
def job_span(name: str, traceparent: str | None, kind: SpanKind = SpanKind.INTERNAL) -> Iterator[str | None]:
    """A span on a job's behalf, child of `traceparent`; yields the traceparent to pass on: the
    span's own with tracing on, else the one given (kept unchanged for the next hop)."""
    if _tracer is None:
        yield traceparent
        return
    with _tracer.start_as_current_span(name, context=context_of(traceparent), kind=kind) as span:
        yield traceparent_of(span)


def annotate(attributes: dict) -> None:
    """Sets attributes on the current span (of job_span), when tracing is on."""
    if _tracer is not None:
        trace.get_current_span().set_attributes(attributes)


def submit_span(
    traceparent_header: str | None, name: str = "maas.submit"
) -> AbstractContextManager[str | None]:
    """What a front end (HTTP, gRPC) wraps a submit in: the caller's `traceparent` header
    checked, then a server span under it; yields the traceparent to keep with the job. Off, a
    bare nullcontext: this runs once per job submitted."""
    valid = valid_traceparent(traceparent_header)
    if _tracer is None:
        return _UNTRACED if valid is None else nullcontext(valid)
    return job_span(name, valid, SpanKind.SERVER)


def record_span(
    name: str,
    parent: str | None,
    start_ns: int,
    end_ns: int,
    attributes: dict | None = None,
    links: Sequence[str] = (),
) -> None:
    """A span of a step already timed (queue wait, batch, result write); tracing must be on."""
    span_links = [Link(trace.get_current_span(ctx).get_span_context()) for ctx in _contexts(links)]
    span = tracer().start_span(
        name, context=context_of(parent), start_time=start_ns, attributes=attributes, links=span_links
    )
    span.end(end_time=end_ns)


def _contexts(traceparents: Sequence[str]) -> list[Context]:
    return [c for c in (context_of(t) for t in traceparents) if c is not None]
