"""`maas serve --grpc-port` serves gRPC from its API child: health, then an inference through
tritonclient, end to end through the embedded Redis and the worker it started."""

import grpc
import numpy as np
import tritonclient.grpc.aio as triton
from grpc_health.v1 import health_pb2, health_pb2_grpc

from maas.cli.redis_server import free_port
from tests.support.waiting import wait_until
from tests.system.serving import READY, ServeProcess


async def test_maas_serve_starts_grpc_on_its_port(tmp_path, model_repo):
    port, grpc_port = free_port(), free_port()
    args = ["--port", str(port), "--grpc-port", str(grpc_port), "--state-dir", str(tmp_path / "state")]
    serve = ServeProcess(tmp_path / "serve.log", [*args, "--model-repository", str(model_repo)])
    try:
        serve.wait_for(READY)
        async with triton.InferenceServerClient(f"127.0.0.1:{grpc_port}") as client:
            await wait_until(client.is_server_ready, 30, "ServerReady through maas serve")
            pixels = triton.InferInput("pixels", [1, 64], "FP32")
            pixels.set_data_from_numpy(np.ones((1, 64), np.float32))
            result = await client.infer("digits", [pixels], model_version="1")
            assert result.as_numpy("probabilities").shape == (1, 10)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            asked = health_pb2.HealthCheckRequest(service="")
            answer = await health_pb2_grpc.HealthStub(channel).Check(asked)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        serve.stop()
