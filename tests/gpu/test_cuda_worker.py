"""A worker on a real GPU: the core path on `cuda:0` equal to CPU onnxruntime, jobs batched on the
device, IO binding equal to a plain run, an out-of-memory on the device failing only the job that
needs too much, two workers sharing one GPU. Skipped where no GPU exists (tests/gpu/conftest.py)."""

import asyncio
import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import DIGITS, WorkerHandle
from tests.support.onnx_models import _save
from tests.support.waiting import wait_until
from tests.worker.test_jobs_through_queue import digits_rows, submit

pytestmark = pytest.mark.gpu
WIDE_OUT = 1 << 18  # 1 MiB of float32 output per row


def wide_model(path, config: dict) -> None:
    """x: float32 [N, 8] -> y: float32 [N, 262144]: 8 MiB of weights, 1 MiB of output per row,
    so a job of a few hundred rows outgrows a small arena while one row fits."""
    weight = np.random.default_rng(0).standard_normal((8, WIDE_OUT)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "wide",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", WIDE_OUT])],
        [numpy_helper.from_array(weight, "w")],
    )
    _save(graph, path, config)


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"device": "cuda:0", "max_body_bytes": 4 * 1024 * 1024})


@pytest.fixture
def gpu_repo(model_repo):
    for version, bind in ((3, True), (4, False)):
        (model_repo / "digits" / str(version)).mkdir()
        shutil.copy(DIGITS / "model.onnx", model_repo / "digits" / str(version) / "model.onnx")
        config = {"max_queue_delay_ms": 50, "onnxruntime": {"io_binding": bind}}
        (model_repo / "digits" / str(version) / "config.json").write_text(json.dumps(config))
    limited = {"max_batch_size": 4096, "onnxruntime": {"cuda": {"gpu_mem_limit_mb": 96}}}
    wide_model(model_repo / "wide" / "1" / "model.onnx", limited)
    return model_repo


def cpu_run(rows: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(DIGITS / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, {"pixels": rows})[0]


async def test_jobs_on_the_gpu_equal_cpu_onnxruntime_and_share_batches(gpu_repo, api, worker):
    rows = digits_rows(64)
    jobs = await asyncio.gather(
        *(
            submit(api, {"model": "digits", "version": 3, "inputs": rows[i : i + 4].tolist()})
            for i in range(0, 64, 4)
        )
    )
    assert all(job["status"] == "succeeded" for job in jobs), jobs
    got = np.concatenate([np.asarray(job["outputs"]["probabilities"], np.float32) for job in jobs])
    np.testing.assert_allclose(got, cpu_run(rows), rtol=1e-4, atol=1e-5)
    assert max(job["timings"]["batch_size"] for job in jobs) > 4
    held = (await api.get("/v1/models/digits/versions/3")).json()["workers"]
    assert [(w["provider"], w["device"], w["io_binding"]) for w in held] == [
        ("CUDAExecutionProvider", "cuda:0", True)
    ]


async def test_io_binding_and_plain_runs_agree_on_the_gpu(gpu_repo, api, worker):
    rows = digits_rows(32).tolist()
    bound = await submit(api, {"model": "digits", "version": 3, "inputs": rows})
    plain = await submit(api, {"model": "digits", "version": 4, "inputs": rows})
    np.testing.assert_allclose(
        np.asarray(bound["outputs"]["probabilities"]),
        np.asarray(plain["outputs"]["probabilities"]),
        atol=1e-6,
    )


async def test_a_device_out_of_memory_fails_only_the_job_that_needs_too_much(gpu_repo, api, worker):
    x = np.random.default_rng(1).random((1, 8), np.float32)
    big = api.post(
        "/v1/jobs",
        json={"model": "wide", "inputs": np.repeat(x, 400, 0).tolist()},
        headers={"Prefer": "wait=30"},
    )
    small = submit(api, {"model": "wide", "inputs": x.tolist()}, wait_s=30)
    big_job, small_job = await asyncio.gather(big, small)
    assert big_job.json()["status"] == "failed"
    assert big_job.json()["error"]["code"] == "device_out_of_memory"
    assert small_job["status"] == "succeeded"
    again = await submit(api, {"model": "wide", "inputs": x.tolist()}, wait_s=30)
    assert again["status"] == "succeeded"  # the worker goes on serving


async def test_two_workers_share_one_gpu(gpu_repo, settings, api, worker):
    second = WorkerHandle(settings)
    await second.start()
    try:

        async def both_ready():
            held = (await api.get("/v1/models/digits/versions/1")).json()["workers"]
            ready = [w for w in held if w["state"] == "ready" and w["device"] == "cuda:0"]
            return ready if len(ready) == 2 else None

        await wait_until(both_ready, 60, "both GPU workers ready on digits v1")
        jobs = await asyncio.gather(
            *(
                submit(api, {"model": "digits", "version": 1, "inputs": digits_rows(2).tolist()})
                for _ in range(20)
            )
        )
        assert all(job["status"] == "succeeded" for job in jobs)
    finally:
        await second.stop()
