"""gRPC takes the API's TLS settings: with --tls-client-ca (mutual TLS) a client with a
certificate the CA signed is served, one without is refused."""

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from maas.cli.redis_server import free_port
from tests.support.processes import MaasProcess
from tests.system.tls import make_certificates

READY = "gRPC (OIP inference, jobs, health, reflection)"


def _credentials(certs, with_certificate: bool) -> grpc.ChannelCredentials:
    root = certs.ca.read_bytes()
    if not with_certificate:
        return grpc.ssl_channel_credentials(root_certificates=root)
    key, chain = certs.client_key.read_bytes(), certs.client_cert.read_bytes()
    return grpc.ssl_channel_credentials(root_certificates=root, private_key=key, certificate_chain=chain)


async def _check(target: str, credentials: grpc.ChannelCredentials) -> int:
    async with grpc.aio.secure_channel(target, credentials) as channel:
        asked = health_pb2.HealthCheckRequest(service="")
        return (await health_pb2_grpc.HealthStub(channel).Check(asked, timeout=10)).status


async def test_grpc_serves_mutual_tls_with_the_apis_certificates(settings, tmp_path):
    certs = make_certificates(tmp_path / "certs")
    tls = {"tls_cert": certs.server_cert, "tls_key": certs.server_key, "tls_client_ca": certs.ca}
    served = settings.model_copy(update={"port": free_port(), "grpc_port": free_port(), **tls})
    async with MaasProcess("api", tmp_path / "api.log", served, ready_marker=READY):
        target = f"127.0.0.1:{served.grpc_port}"
        assert await _check(target, _credentials(certs, True)) == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _check(target, _credentials(certs, False))
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
