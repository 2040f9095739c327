"""gRPC tests: one real `maas api` (HTTP + gRPC on a free port) and one real batch worker per
module, talked to by the official clients only (tritonclient's, grpc_health's, the reflection
client) and by our job service's stubs. Nothing here imports our inference stubs
(api/rpc/server.py says why). The processes outlive a test, so these tests never flush Redis
(the `redis` fixture would pull it from under them): they use their own client."""

import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import redis
import redis.asyncio as aioredis
import tritonclient.grpc.aio as triton

from maas.cli.redis_server import free_port
from maas.core.settings import Settings
from tests.conftest import DIGITS, DIGITS_V2_DELAY_MS, REPO_ROOT
from tests.support import onnx_models
from tests.support.processes import MaasProcesses

SERVED_MODELS = "digits,pair,tdigits"  # `held` has no worker: its jobs stay queued
HELD_QUEUE_ROWS = 4
TFLITE_DIGITS = REPO_ROOT / "models" / "digits" / "2"  # model.tflite, float32 in and out


@dataclass(frozen=True)
class Served:
    processes: MaasProcesses
    settings: Settings
    repo: Path

    @property
    def grpc_url(self) -> str:  # host:port, as tritonclient and grpc channels take it
        return f"127.0.0.1:{self.settings.grpc_port}"


def rpc_repository(root: Path) -> Path:
    """digits 1 and 2 (2 waits DIGITS_V2_DELAY_MS for a batch), `pair` (two inputs and two
    outputs, one int64), `tdigits` (the demo's TFLite version, run by LiteRT), and `held` (no
    worker serves it; its lane holds HELD_QUEUE_ROWS rows)."""
    shutil.copytree(DIGITS, root / "digits" / "1")
    shutil.copytree(DIGITS, root / "digits" / "2")
    (root / "digits" / "2" / "config.json").write_text(
        json.dumps({"max_batch_size": 64, "max_queue_delay_ms": DIGITS_V2_DELAY_MS})
    )
    onnx_models.two_in_two_out(root / "pair" / "1" / "model.onnx")
    shutil.copytree(TFLITE_DIGITS, root / "tdigits" / "1")
    onnx_models.offset(root / "held" / "1" / "model.onnx", 1.0, {"max_queue_rows": HELD_QUEUE_ROWS})
    return root


@pytest.fixture(scope="module")
def served(redis_server, tmp_path_factory) -> AsyncIterator[Served]:
    root = tmp_path_factory.mktemp("rpc")
    settings = Settings(
        redis_url=redis_server.url,
        model_repository=rpc_repository(root / "models"),
        state_dir=root / "state",
        port=free_port(),
        grpc_port=free_port(),
        grpc_watch_interval_s=0.1,
        grpc_max_message_bytes=256 * 1024,
        heartbeat_interval_s=0.2,
        drain_timeout_s=5,
    )
    with redis.Redis.from_url(redis_server.url) as fresh:
        fresh.flushall()  # what earlier modules left (lanes, consumer groups) stays out of it
    with MaasProcesses(settings, root) as processes:
        processes.start("api").wait_ready()
        processes.start("worker", "--models", SERVED_MODELS).wait_ready()
        yield Served(processes, settings, root / "models")


@pytest.fixture
async def client(served) -> AsyncIterator[triton.InferenceServerClient]:
    async with triton.InferenceServerClient(served.grpc_url) as connected:
        yield connected


@pytest.fixture
async def own_redis(served) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(served.settings.redis_url)
    yield client
    await client.aclose()


def run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model run directly, for the expected answer."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))
