"""The gRPC server of the API process: grpc.aio on the API's own event loop (beside uvicorn),
serving the OIP inference service, the job service, grpc.health.v1 and server reflection on
MAAS_GRPC_PORT, over the same services (and so the same Redis connections, completion-event
subscription, key cache and registry) as HTTP.

maas/cli/app.py loads this module by name, only in a process that serves gRPC: our inference
stubs put the protocol's package `inference` in protobuf's default pool, where another OIP
client's (tritonclient's) would clash with it, so nothing else imports it."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from api.deps import Services
from api.errors import Redaction
from api.rpc.calls import Calls
from api.rpc.inference import InferenceServicer
from api.rpc.jobs import JobsServicer
from api.rpc.stubs import grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc, maas_jobs_pb2, maas_jobs_pb2_grpc
from maas.core.settings import Settings

log = logging.getLogger(__name__)
INFERENCE_SERVICE = grpc_predict_v2_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
JOBS_SERVICE = maas_jobs_pb2.DESCRIPTOR.services_by_name["Jobs"].full_name
READINESS_INTERVAL_S = 1.0


def address(settings: Settings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"{host}:{settings.grpc_port}"


def credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS like the HTTP side: the same certificate, key and client CA (mutual TLS)."""
    if not settings.tls_cert or not settings.tls_key:
        return None
    pair = (settings.tls_key.read_bytes(), settings.tls_cert.read_bytes())
    ca = settings.tls_client_ca.read_bytes() if settings.tls_client_ca else None
    return grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=ca is not None)


def build(settings: Settings, services: Services) -> tuple[grpc.aio.Server, health_aio.HealthServicer]:
    limit = settings.grpc_max_message_bytes
    server = grpc.aio.server(
        options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]
    )
    calls = Calls(services.auth, Redaction.of(settings))
    grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceServicer(services.inference, calls), server
    )
    maas_jobs_pb2_grpc.add_JobsServicer_to_server(
        JobsServicer(services.jobs, calls, settings.grpc_watch_interval_s), server
    )
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = (INFERENCE_SERVICE, JOBS_SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
    reflection.enable_server_reflection((*names, reflection.SERVICE_NAME), server)
    return server, health


async def _track_readiness(services: Services, health: health_aio.HealthServicer) -> None:
    """The server ("") is SERVING while this process runs; the inference and job services
    while Redis answers and a worker is alive (OIP ServerReady), NOT_SERVING otherwise."""
    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    await health.set("", serving)
    while True:
        status = serving if await services.inference.server_ready() else not_serving
        for name in (INFERENCE_SERVICE, JOBS_SERVICE):
            await health.set(name, status)
        await asyncio.sleep(READINESS_INTERVAL_S)


@contextlib.asynccontextmanager
async def serving(settings: Settings, services: Services) -> AsyncIterator[None]:
    """gRPC served for as long as the context lasts (the API's lifespan); in-flight calls get
    grpc_grace_s at the end."""
    server, health = build(settings, services)
    tls = credentials(settings)
    where = address(settings)
    port = server.add_secure_port(where, tls) if tls else server.add_insecure_port(where)
    await server.start()
    log.info("gRPC (OIP inference, jobs, health, reflection) on %s port %d", settings.host, port)
    readiness = asyncio.create_task(_track_readiness(services, health), name="grpc-readiness")
    try:
        yield
    finally:
        readiness.cancel()
        await health.enter_graceful_shutdown()
        await server.stop(settings.grpc_grace_s)
