"""What the /v2 tests share: a real `maas api` process on a free port (the official
`tritonclient` speaks real HTTP), real worker processes started when a test wants them, and the
models they use."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
import tritonclient.http.aio as aioclient

from batching import keys
from maas.cli.redis_server import free_port
from tests.conftest import REPO_ROOT
from tests.support.processes import MaasProcesses
from tests.support.waiting import wait_until

TFLITE_DIGITS = REPO_ROOT / "models" / "digits" / "2" / "model.tflite"


@pytest.fixture
def oip_repo(model_repo) -> Path:
    """The conftest repository plus a TFLite digits model and a lane that admits one row."""
    (model_repo / "tdigits" / "1").mkdir(parents=True)
    shutil.copy(TFLITE_DIGITS, model_repo / "tdigits" / "1" / "model.tflite")
    (model_repo / "narrow" / "1").mkdir(parents=True)
    shutil.copy(model_repo / "digits" / "1" / "model.onnx", model_repo / "narrow" / "1" / "model.onnx")
    (model_repo / "narrow" / "1" / "config.json").write_text(json.dumps({"max_queue_rows": 1}))
    return model_repo


@pytest.fixture
def served(settings, oip_repo, redis, tmp_path):
    """The API process (no worker yet) and what starts workers: (url, processes)."""
    # heartbeats 1 s apart: a worker busy loading models on a loaded machine stays live
    settings = settings.model_copy(update={"port": free_port(), "heartbeat_interval_s": 1.0})
    with MaasProcesses(settings, tmp_path) as processes:
        processes.start("api").wait_ready()
        yield f"127.0.0.1:{settings.port}", processes


@pytest.fixture
async def with_worker(served):
    url, processes = served
    await processes.ready("worker")
    return url


def triton(url: str) -> aioclient.InferenceServerClient:
    """The official client's asyncio flavour (the plain one runs on gevent, bound to a thread)."""
    return aioclient.InferenceServerClient(url, conn_timeout=60)


def tensor(name: str, array: np.ndarray, binary: bool) -> httpclient.InferInput:
    datatype = {"float32": "FP32", "int64": "INT64", "float64": "FP64", "int32": "INT32"}[array.dtype.name]
    given = httpclient.InferInput(name, list(array.shape), datatype)
    given.set_data_from_numpy(array, binary_data=binary)
    return given


async def queued_rows(redis, model: str, version: int, rows: int) -> None:
    """Waits until the version's lane holds `rows` rows (jobs queued while no worker runs)."""
    lane_rows = keys.lane_rows(keys.online_lane(model, version))

    async def holds() -> bool:
        return int(await redis.get(lane_rows) or 0) >= rows

    await wait_until(holds, 30, f"{rows} rows queued in {model}:{version}")


@pytest.fixture
async def client(with_worker):
    async with triton(with_worker) as client:
        yield client
