"""Where a worker runs each version, and that it says so: `--device cpu|cuda|cuda:N`, the GPU
options a model config may carry, IO binding (checked here on the CPU, where it runs the same
code), and a GPU worker without a usable CUDA provider refusing the version with its reason
rather than running it on the CPU. The GPU itself is exercised in tests/gpu."""

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from maas.cli.app import app
from maas.core.devices import Device
from maas.core.settings import Settings
from maas.models.gpu_options import CudaOptions, TensorRtOptions
from tests.conftest import DIGITS
from tests.support.waiting import wait_until
from tests.worker.test_jobs_through_queue import digits_rows, direct, submit

CUDA_BUILD = "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("cpu", "cpu"), ("cuda", "cuda:0"), ("CUDA:3", "cuda:3"), (" cuda:12 ", "cuda:12")],
)
def test_a_device_parses_to_its_canonical_form(text, canonical):
    assert str(Device.parse(text)) == canonical


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:-1", "cpu:0", "cuda:1:2", ""])
def test_an_unknown_device_is_refused_saying_what_is_accepted(text):
    with pytest.raises(ValueError, match="expected cpu, cuda or cuda:N"):
        Device.parse(text)
    with pytest.raises(ValidationError, match="device"):
        Settings(device=text)


def test_settings_keep_the_canonical_device():
    assert Settings(device="cuda").device == "cuda:0"


def test_the_worker_command_refuses_a_bad_device_before_starting():
    result = CliRunner().invoke(app, ["worker", "--device", "tpu:0"])
    assert result.exit_code == 2
    assert "cuda:N" in result.output


def test_cuda_and_tensorrt_options_become_provider_options():
    cuda = CudaOptions(
        gpu_mem_limit_mb=512, cudnn_conv_algo_search="EXHAUSTIVE", do_copy_in_default_stream=False
    )
    assert cuda.provider_options(2) == {
        "device_id": "2",
        "arena_extend_strategy": "kSameAsRequested",
        "cudnn_conv_algo_search": "EXHAUSTIVE",
        "do_copy_in_default_stream": "0",
        "gpu_mem_limit": str(512 * 1024 * 1024),
    }
    trt = TensorRtOptions(enabled=True, fp16=True).provider_options(1, "/state/tensorrt/m/3")
    assert trt == {
        "device_id": "1",
        "trt_fp16_enable": "1",
        "trt_engine_cache_enable": "1",
        "trt_engine_cache_path": "/state/tensorrt/m/3",
    }


async def test_a_bad_gpu_option_in_a_config_patch_is_a_422_naming_it(api):
    response = await api.patch(
        "/v1/models/digits/versions/1/config",
        json={"onnxruntime": {"cuda": {"cudnn_conv_algo_search": "FASTEST"}}},
    )
    assert response.status_code == 422, response.text
    assert "cudnn_conv_algo_search" in response.text


async def _placements(api, name: str, version: int) -> list[dict]:
    body = (await api.get(f"/v1/models/{name}/versions/{version}")).json()
    return [w for w in body["workers"] if w["state"] in ("ready", "failed")]


async def test_a_cpu_worker_says_what_each_version_runs_on(api, worker):
    job = await submit(api, {"model": "digits", "version": 1, "inputs": digits_rows(2).tolist()})
    assert job["status"] == "succeeded", job
    (held,) = await wait_until(lambda: _placements(api, "digits", 1), 10, "digits v1 reported")
    assert held["state"] == "ready"
    assert (held["runtime"], held["provider"], held["device"], held["io_binding"]) == (
        "onnxruntime",
        "CPUExecutionProvider",
        "cpu",
        False,
    )


@pytest.fixture
def io_bound_repo(model_repo):
    version = model_repo / "digits" / "3"
    version.mkdir()
    shutil.copy(DIGITS / "model.onnx", version / "model.onnx")
    config = {"max_queue_delay_ms": 50, "onnxruntime": {"io_binding": True}}
    (version / "config.json").write_text(json.dumps(config))
    return model_repo


async def test_io_binding_gives_the_results_of_a_plain_run(io_bound_repo, api, worker):
    rows = digits_rows(24)
    jobs = [
        await submit(api, {"model": "digits", "version": 3, "inputs": rows[i : i + 8].tolist()})
        for i in range(0, 24, 8)
    ]
    assert all(job["status"] == "succeeded" for job in jobs), jobs
    (expected,) = direct(DIGITS / "model.onnx", {"pixels": rows})
    got = np.concatenate([np.asarray(job["outputs"]["probabilities"], np.float32) for job in jobs])
    np.testing.assert_array_equal(got, expected)
    (held,) = await wait_until(lambda: _placements(api, "digits", 3), 10, "digits v3 reported")
    assert held["io_binding"] is True


@pytest.mark.skipif(CUDA_BUILD, reason="this onnxruntime has CUDA: tests/gpu covers a real GPU worker")
async def test_a_gpu_worker_without_cuda_refuses_versions_instead_of_running_on_the_cpu(
    settings, api, worker_handle
):
    worker_handle.settings = settings.model_copy(update={"device": "cuda:1"})
    await worker_handle.start()

    async def refused():
        placements = await _placements(api, "digits", 1)
        return placements if placements and placements[0]["state"] == "failed" else None

    (held,) = await wait_until(refused, 30, "digits v1 refused on the GPU worker")
    assert "CUDAExecutionProvider unavailable" in held["error"]
    assert "gpu" in held["error"]
    body = (await api.get("/v1/models/digits/versions/1")).json()
    assert body["status"] == "failed"
