"""The transport-free Open Inference Protocol data plane (api/services/inference.py, with the
tensor decoding of api/oip_types.py), called as REST and gRPC call it: on numpy arrays, against a
real worker and Redis."""

import numpy as np
import onnxruntime as ort
import orjson
import pytest

from api.app import create_app
from api.oip_rest import parse_infer, render_infer
from api.oip_types import DATATYPES, from_bytes, from_list, v2_shape
from api.services.inference import InferResult
from batching.keys import DEFAULT_TENANT
from maas.core.access import ALL_SCOPES, Caller
from maas.core.errors import InferTimeoutError, InvalidInputError, ModelNotFoundError

CALLER = Caller(DEFAULT_TENANT, "", "test", ALL_SCOPES)


@pytest.fixture
async def inference(settings, redis):
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app.state.services.inference


def test_tensors_decode_from_bytes_and_lists_and_refuse_mismatches():
    raw = np.arange(6, dtype="<f4").tobytes()
    assert from_bytes("a", "FP32", [2, 3], raw).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert from_list("b", "INT64", [2, 1], [7, 8]).dtype == np.int64
    assert from_list("b", "INT64", [1, 2], [[7, 8]]).shape == (1, 2)
    assert v2_shape((None, 3, None)) == [-1, 3, -1]
    bad = [
        lambda: from_bytes("a", "FP32", [2, 3], raw[:-1]),  # truncated
        lambda: from_bytes("a", "FP32", [2, 3], raw + b"\0"),  # trailing
        lambda: from_bytes("a", "BYTES", [1], b"x"),
        lambda: from_bytes("a", "FP33", [1], b"x"),
        lambda: from_bytes("a", "FP32", [-1, 3], raw),
        lambda: from_bytes("a", "FP32", [2**62, 2**62, 0, 2**62], b""),
        lambda: from_bytes("a", "BOOL", [1], b"\x07"),
        lambda: from_list("b", "INT64", [2], [1.5, 2]),
        lambda: from_list("b", "INT8", [1], [300]),
        lambda: from_list("b", "FP32", [3], [1.0, 2.0]),
    ]
    for call in bad:
        with pytest.raises(InvalidInputError):
            call()


async def test_metadata_and_readiness_come_from_the_repository_and_workers(inference, worker):
    meta = await inference.model_metadata(CALLER, "pair")
    assert meta["platform"] == "onnxruntime_onnx" and meta["versions"] == ["1"]
    assert meta["inputs"] == [
        {"name": "a", "datatype": "FP32", "shape": [-1, 3]},
        {"name": "b", "datatype": "INT64", "shape": [-1, 2]},
    ]
    assert (await inference.model_metadata(CALLER, "digits", "2"))["versions"] == ["2"]
    assert await inference.server_ready()
    assert await inference.model_ready(CALLER, "pair", "1")
    with pytest.raises(ModelNotFoundError):
        await inference.model_metadata(CALLER, "nope")
    with pytest.raises(ModelNotFoundError):
        await inference.model_ready(CALLER, "pair", "9")


async def test_infer_answers_the_outputs_asked_for_equal_to_onnxruntime(inference, worker, model_repo):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([[1, 2], [3, 4]], dtype=np.int64)
    result = await inference.infer(CALLER, "pair", None, "r-1", {"a": a, "b": b}, ["total"], {})
    session = ort.InferenceSession(str(model_repo / "pair" / "1" / "model.onnx"))
    expected = dict(zip(["doubled", "total"], session.run(None, {"a": a, "b": b}), strict=True))
    assert list(result.outputs) == ["total"] and result.request_id == "r-1"
    np.testing.assert_array_equal(result.outputs["total"], expected["total"])
    with pytest.raises(InvalidInputError, match="datatype INT32 does not match"):
        await inference.infer(CALLER, "pair", None, None, {"a": a, "b": b.astype(np.int32)})
    with pytest.raises(InvalidInputError, match="outputs: unknown"):
        await inference.infer(CALLER, "pair", None, None, {"a": a, "b": b}, ["nope"])


async def test_a_queued_inference_past_its_timeout_is_cancelled(inference, redis):
    """No worker: the job stays queued, so the timeout cancels it."""
    pixels = np.zeros((1, 64), dtype=np.float32)
    with pytest.raises(InferTimeoutError, match="cancelled|expired, uncomputed") as raised:
        await inference.infer(CALLER, "digits", "1", None, {"pixels": pixels}, None, {"timeout": 200_000})
    job_id = raised.value.message.split("(job ")[1].split(")")[0]
    assert (await inference.jobs.get(CALLER, job_id)).status.value in ("cancelled", "expired")


def test_every_datatype_round_trips_through_the_rest_encoding_json_and_binary():
    """Each v2 datatype, sent as binary and as JSON, decodes to the same array, and answers
    back (JSON `data` or binary bytes) as the client would read it."""
    for datatype, dtype in DATATYPES.items():
        array = (np.arange(6) % 2).astype(dtype).reshape(2, 3)
        head = {"name": "x", "datatype": datatype, "shape": [2, 3]}
        sized = {**head, "parameters": {"binary_data_size": array.nbytes}}
        header = orjson.dumps({"id": "i", "inputs": [sized]})
        binary = parse_infer(header + array.tobytes(), len(header))
        as_json = parse_infer(orjson.dumps({"inputs": [{**head, "data": array.ravel().tolist()}]}), None)
        for parsed in (binary, as_json):
            np.testing.assert_array_equal(parsed.inputs["x"], array)
            assert parsed.inputs["x"].dtype == dtype
        result = InferResult("m", "1", "i", "job", {"y": array}, 2)
        body, json_bytes = render_infer(result, binary)
        assert json_bytes is None and orjson.loads(body)["outputs"][0]["data"] == array.ravel().tolist()
        binary.binary_default = True
        body, json_bytes = render_infer(result, binary)
        answer = orjson.loads(body[:json_bytes])
        assert answer["id"] == "i" and answer["outputs"][0]["datatype"] == datatype
        assert np.array_equal(np.frombuffer(body[json_bytes:], dtype).reshape(2, 3), array)
