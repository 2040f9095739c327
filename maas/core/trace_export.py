"""The OpenTelemetry SDK with its OTLP/HTTP exporter: loaded by name from maas.core.tracing only
when export is configured (the `tracing` extra), so processes without it never import the SDK."""

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def install(traces_url: str, service_name: str) -> trace.Tracer:
    """Spans batched in the background and POSTed to `traces_url`, as service `service_name`
    (the role: maas-api, maas-worker, maas-rq-worker) plus OTEL_RESOURCE_ATTRIBUTES."""
    resource = Resource.create({SERVICE_NAME: service_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url)))
    trace.set_tracer_provider(provider)
    return trace.get_tracer("maas")
