"""/v2 (Open Inference Protocol over REST) with the official, unmodified `tritonclient[http]`
against real `maas api` and `maas worker` processes: metadata and readiness, JSON and binary
tensors both ways equal to the runtimes called directly, and inferences batched like jobs."""

import asyncio

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
from ai_edge_litert.interpreter import Interpreter
from tritonclient.utils import InferenceServerException

from tests.api.oip_fixtures import (
    TFLITE_DIGITS,
    client,
    oip_repo,
    queued_rows,
    served,
    tensor,
    triton,
    with_worker,
)
from tests.conftest import DIGITS
from tests.support.waiting import wait_until

__all__ = ["oip_repo", "served", "client", "with_worker"]  # fixtures
ROWS = np.random.default_rng(7).random((64, 64), dtype=np.float32) * 16


def onnx_direct(path, feeds: dict) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))


async def test_metadata_and_readiness(client):
    assert await client.is_server_live()
    await wait_until(client.is_server_ready, 30, "server ready (a worker's heartbeat)")
    assert (await client.get_server_metadata())["name"] == "maas"
    pair = await client.get_model_metadata("pair")
    assert pair["versions"] == ["1"] and pair["platform"] == "onnxruntime_onnx"
    assert pair["inputs"] == [
        {"name": "a", "datatype": "FP32", "shape": [-1, 3]},
        {"name": "b", "datatype": "INT64", "shape": [-1, 2]},
    ]
    assert pair["outputs"][1] == {"name": "total", "datatype": "INT64", "shape": [-1, 1]}
    digits = await client.get_model_metadata("digits", "1")
    assert digits["versions"] == ["1"] and digits["inputs"][0]["shape"] == [-1, 64]
    # the worker is up before its models are loaded: ready comes with the version's real status
    await wait_until(lambda: client.is_model_ready("pair", "1"), 30, "pair v1 ready")
    assert await client.is_model_ready("digits")
    assert not await client.is_model_ready("nope")
    assert not await client.is_model_ready("pair", "7")
    try:
        await client.get_model_metadata("nope")
        raise AssertionError("metadata of an unknown model")
    except InferenceServerException as e:
        assert e.status() == "404" and "nope" in e.message()


async def test_demo_model_json_and_binary_both_ways_equal_onnxruntime(client):
    expected = onnx_direct(DIGITS / "model.onnx", {"pixels": ROWS})["probabilities"]
    for binary_in in (False, True):
        for binary_out in (False, True):
            wanted = [client_output("probabilities", binary_out)]
            result = await client.infer(
                "digits",
                [tensor("pixels", ROWS, binary_in)],
                "1",
                outputs=wanted,
                request_id=f"r-{binary_in}-{binary_out}",
            )
            np.testing.assert_allclose(result.as_numpy("probabilities"), expected, rtol=1e-6, atol=1e-7)
            response = result.get_response()
            assert response["id"] == f"r-{binary_in}-{binary_out}"
            assert response["model_name"] == "digits" and response["model_version"] == "1"
            assert ("data" in response["outputs"][0]) is not binary_out


def client_output(name: str, binary: bool) -> httpclient.InferRequestedOutput:
    return httpclient.InferRequestedOutput(name, binary_data=binary)


async def test_two_inputs_two_outputs_with_int64_and_output_selection(client, model_repo):
    a = np.arange(12, dtype=np.float32).reshape(4, 3) - 5.5
    b = np.array([[3, 4], [2**40, -7], [0, 0], [-(2**50), 1]], dtype=np.int64)
    expected = onnx_direct(model_repo / "pair" / "1" / "model.onnx", {"a": a, "b": b})
    for binary in (False, True):
        inputs = [tensor("a", a, binary), tensor("b", b, not binary)]  # mixed: one JSON, one binary
        result = await client.infer("pair", inputs)  # no outputs named: every one, binary
        np.testing.assert_array_equal(result.as_numpy("doubled"), expected["doubled"])
        np.testing.assert_array_equal(result.as_numpy("total"), expected["total"])
        assert result.as_numpy("total").dtype == np.int64
        only = await client.infer("pair", inputs, outputs=[client_output("total", binary)])
        assert [o["name"] for o in only.get_response()["outputs"]] == ["total"]
        np.testing.assert_array_equal(only.as_numpy("total"), expected["total"])


async def test_a_tflite_model_answers_like_an_onnx_one_and_a_model_error_is_400(client):
    metadata = await client.get_model_metadata("tdigits")
    assert metadata["platform"] == "tensorflow_lite" and metadata["inputs"][0]["shape"] == [-1, 64]
    result = await client.infer("tdigits", [tensor("pixels", ROWS[:5], True)])
    runner = Interpreter(model_path=str(TFLITE_DIGITS)).get_signature_runner("serving_default")
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), runner(pixels=ROWS[:5])["probabilities"], atol=1e-6
    )
    # onnxruntime raises on an index past `lookup`'s table: that job fails alone, a 400 not a 500
    with pytest.raises(InferenceServerException) as raised:
        await client.infer("lookup", [tensor("index", np.array([[9]], dtype=np.int64), True)])
    assert raised.value.status() == "400" and "failed" in raised.value.message()


async def test_infers_queued_together_coalesce_into_one_batch(served, redis):
    """Inferences sent while no worker runs are all queued; the worker then batches them."""
    url, processes = served
    async with triton(url) as client:
        calls = [
            client.infer("digits", [tensor("pixels", ROWS[i : i + 1], i % 2 == 0)], "2") for i in range(12)
        ]
        answers = asyncio.gather(*calls)
        await queued_rows(redis, "digits", 2, 12)
        await processes.ready("worker")
        sizes = [r.get_response()["parameters"]["batch_size"] for r in await answers]
    assert max(sizes) > 1, sizes
    assert sum(1 / s for s in sizes) < 12  # fewer batches than inferences


async def test_a_v1_job_and_a_v2_infer_share_a_batch(served, redis):
    url, processes = served
    async with triton(url) as client, httpx.AsyncClient(base_url=f"http://{url}") as api:
        job = await api.post("/v1/jobs", json={"model": "digits", "version": 2, "inputs": ROWS[:3].tolist()})
        assert job.status_code == 202, job.text
        infer = asyncio.ensure_future(client.infer("digits", [tensor("pixels", ROWS[3:5], True)], "2"))
        await queued_rows(redis, "digits", 2, 5)
        await processes.ready("worker")
        result = await infer
        ended = (await api.get(f"/v1/jobs/{job.json()['id']}", params={"wait": 10})).json()
    assert result.get_response()["parameters"]["batch_size"] == 5
    assert ended["status"] == "succeeded" and ended["timings"]["batch_size"] == 5
