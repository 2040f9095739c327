"""The Open Inference Protocol over gRPC with tritonclient's gRPC client, unchanged: metadata,
readiness, infer with raw and typed tensors (results equal to onnxruntime's), coalescing into
batches, and the status of each bad input."""

import asyncio

import grpc
import numpy as np
import pytest
import tritonclient.grpc.aio as triton
from ai_edge_litert.interpreter import Interpreter
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from tests.rpc.conftest import run_onnx
from tests.support.waiting import wait_until


async def test_server_and_model_metadata_and_readiness(client):
    """Readiness follows the worker's heartbeats, so it is waited for, not assumed."""
    assert await client.is_server_live()
    await wait_until(client.is_server_ready, 10, "ServerReady")
    server = await client.get_server_metadata(as_json=True)
    assert server["name"] == "maas" and "binary_tensor_data" in server["extensions"]
    model = await client.get_model_metadata("digits", as_json=True)
    assert model["name"] == "digits" and sorted(model["versions"]) == ["1", "2"]
    assert model["platform"] == "onnxruntime_onnx"
    assert [(t["datatype"], t["shape"]) for t in model["inputs"]] == [("FP32", ["-1", "64"])]
    pair = await client.get_model_metadata("pair", "1", as_json=True)
    assert {t["name"]: t["datatype"] for t in pair["outputs"]} == {"doubled": "FP32", "total": "INT64"}
    await wait_until(lambda: client.is_model_ready("digits"), 10, "ModelReady digits (latest)")
    await wait_until(lambda: client.is_model_ready("pair", "1"), 10, "ModelReady pair 1")
    assert not await client.is_model_ready("held")  # valid, but no worker holds it
    missing = await _refused(client.is_model_ready("nope"))
    assert missing.status() == "StatusCode.NOT_FOUND"


def _inputs(arrays: dict[str, np.ndarray]) -> list[triton.InferInput]:
    inputs = []
    for name, array in arrays.items():
        tensor = triton.InferInput(name, list(array.shape), "FP32" if array.dtype == np.float32 else "INT64")
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


async def test_infer_raw_tensors_equal_onnxruntime(client, served):
    rng = np.random.default_rng(7)
    digits = rng.random((5, 64), dtype=np.float32) * 16
    result = await client.infer("digits", _inputs({"pixels": digits}), model_version="1", request_id="r-1")
    expected = run_onnx(served.repo / "digits" / "1" / "model.onnx", {"pixels": digits})
    response = result.get_response()
    assert response.id == "r-1" and response.model_version == "1"
    for name, array in expected.items():
        np.testing.assert_allclose(result.as_numpy(name), array, rtol=1e-6)
    pair = {"a": rng.random((3, 3), dtype=np.float32), "b": rng.integers(-9, 9, (3, 2), dtype=np.int64)}
    result = await client.infer("pair", _inputs(pair), outputs=[triton.InferRequestedOutput("total")])
    assert [o.name for o in result.get_response().outputs] == ["total"]
    total = result.as_numpy("total")
    assert total.dtype == np.int64
    np.testing.assert_array_equal(total, run_onnx(served.repo / "pair" / "1" / "model.onnx", pair)["total"])


async def test_a_tflite_model_answers_like_an_onnx_one(client, served):
    """`tdigits` is a .tflite version: metadata says so, and infers equal LiteRT run directly."""
    metadata = await client.get_model_metadata("tdigits", as_json=True)
    assert metadata["platform"] == "tensorflow_lite"
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == [
        ("pixels", "FP32", ["-1", "64"])
    ]
    rows = np.random.default_rng(3).random((3, 64), dtype=np.float32) * 16
    result = await client.infer("tdigits", _inputs({"pixels": rows}))
    runner = Interpreter(str(served.repo / "tdigits" / "1" / "model.tflite")).get_signature_runner()
    expected = np.concatenate([runner(pixels=row[None])["probabilities"] for row in rows])
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, rtol=1e-5, atol=1e-6)


async def test_infer_typed_contents_answers_typed_contents(served):
    """tritonclient sends raw bytes; the protocol's typed `contents` go through its own
    messages and stub (tritonclient.grpc.service_pb2), as any other OIP client would send them."""
    a = np.array([[1.5, -2.0, 3.25], [0.0, 1.0, 2.0]], np.float32)
    b = np.array([[2**40, 1], [-5, 7]], np.int64)
    request = service_pb2.ModelInferRequest(model_name="pair", id="typed")
    request.inputs.add(name="a", datatype="FP32", shape=[2, 3]).contents.fp32_contents.extend(a.ravel())
    request.inputs.add(name="b", datatype="INT64", shape=[2, 2]).contents.int64_contents.extend(b.ravel())
    async with grpc.aio.insecure_channel(served.grpc_url) as channel:
        response = await service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
    assert not response.raw_output_contents and response.id == "typed"
    outputs = {o.name: o for o in response.outputs}
    expected = run_onnx(served.repo / "pair" / "1" / "model.onnx", {"a": a, "b": b})
    doubled = np.array(outputs["doubled"].contents.fp32_contents, np.float32)
    doubled = doubled.reshape(outputs["doubled"].shape)
    total = np.array(outputs["total"].contents.int64_contents, np.int64).reshape(outputs["total"].shape)
    np.testing.assert_array_equal(doubled, expected["doubled"])
    np.testing.assert_array_equal(total, expected["total"])  # 2**40 + 1: no float round trip
    assert outputs["total"].datatype == "INT64"


async def test_concurrent_infers_coalesce_into_batches(client):
    """Single-row infers on digits 2 (which waits 30 ms for company) share micro-batches: the
    response says the size of the batch each ran in."""
    row = np.ones((1, 64), np.float32)

    async def one() -> int:
        result = await client.infer("digits", _inputs({"pixels": row}), model_version="2")
        return result.get_response().parameters["batch_size"].int64_param

    sizes = await asyncio.gather(*(one() for _ in range(24)))
    assert max(sizes) > 1, sizes


async def _refused(call) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as refused:
        await call
    return refused.value


@pytest.mark.parametrize(
    ("model", "arrays", "version", "code"),
    [
        ("nope", {"pixels": np.zeros((1, 64), np.float32)}, "", "StatusCode.NOT_FOUND"),
        ("digits", {"pixels": np.zeros((1, 64), np.float32)}, "9", "StatusCode.NOT_FOUND"),
        ("digits", {"pixels": np.zeros((1, 63), np.float32)}, "", "StatusCode.INVALID_ARGUMENT"),
        ("digits", {"pixels": np.zeros((1, 64), np.int64)}, "", "StatusCode.INVALID_ARGUMENT"),
        ("digits", {"other": np.zeros((1, 64), np.float32)}, "", "StatusCode.INVALID_ARGUMENT"),
        ("pair", {"a": np.zeros((1, 3), np.float32)}, "", "StatusCode.INVALID_ARGUMENT"),
    ],
)
async def test_bad_inputs_have_their_status(client, model, arrays, version, code):
    error = await _refused(client.infer(model, _inputs(arrays), model_version=version))
    assert error.status() == code, error.message()


async def test_bad_raw_bytes_unknown_outputs_and_bytes_are_invalid_arguments(served, client):
    async def call(request) -> grpc.aio.AioRpcError:
        async with grpc.aio.insecure_channel(served.grpc_url) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
        return refused.value

    short = service_pb2.ModelInferRequest(model_name="digits", raw_input_contents=[b"\0" * 255])
    short.inputs.add(name="pixels", datatype="FP32", shape=[1, 64])
    strings = service_pb2.ModelInferRequest(model_name="digits")
    strings.inputs.add(name="pixels", datatype="BYTES", shape=[1, 1]).contents.bytes_contents.append(b"x")
    half = service_pb2.ModelInferRequest(model_name="digits")
    half.inputs.add(name="pixels", datatype="FP16", shape=[1, 64])
    for request, said in ((short, "takes 256 bytes, got 255"), (strings, "BYTES"), (half, "FP16")):
        error = await call(request)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT and said in error.details()
    unknown = await _refused(
        client.infer(
            "digits",
            _inputs({"pixels": np.zeros((1, 64), np.float32)}),
            outputs=[triton.InferRequestedOutput("nope")],
        )
    )
    assert unknown.status() == "StatusCode.INVALID_ARGUMENT"


async def test_a_message_over_the_limit_is_refused_and_the_server_stays_up(client):
    """grpc_max_message_bytes is 256 KiB here: 128 rows of 64 FP32 fit, 2,048 do not."""
    big = np.zeros((2048, 64), np.float32)
    error = await _refused(client.infer("digits", _inputs({"pixels": big})))
    assert error.status() == "StatusCode.RESOURCE_EXHAUSTED", error.message()
    assert await client.is_server_live()
    fits = _inputs({"pixels": np.zeros((128, 64), np.float32)})
    result = await client.infer("digits", fits, model_version="1")
    assert result.as_numpy("probabilities").shape == (128, 10)


async def test_an_inference_past_its_timeout_is_deadline_exceeded(client):
    """`held` has no worker: its inference waits out the request's timeout (microseconds)."""
    x = np.zeros((1, 4), np.float32)
    error = await _refused(client.infer("held", _inputs({"x": x}), timeout=200_000))
    assert error.status() == "StatusCode.DEADLINE_EXCEEDED", error.message()
    assert "infer_timeout" in error.message()
