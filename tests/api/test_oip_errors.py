"""/v2 refusals: every bad inference request gets the spec's `{"error": "..."}` with the status
the spec gives (never a 500), from a real `maas api` process (no worker: nothing here is
computed), through raw HTTP where the bytes themselves are the fault and through the official
client where it can send the fault."""

import json

import httpx
import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from maas.cli.redis_server import free_port
from maas.core.access import Scope
from tests.api.oip_fixtures import oip_repo, served, tensor, triton
from tests.conftest import in_process_api
from tests.support.tenants import bearer, keyed, make_key

__all__ = ["oip_repo", "served"]  # fixtures
ROW = np.arange(64, dtype=np.float32).reshape(1, 64)
INFER = "/v2/models/digits/versions/1/infer"


def pixels(shape=(1, 64), datatype="FP32", **extra) -> dict:
    return {"name": "pixels", "shape": list(shape), "datatype": datatype, **extra}


def binary_body(size: object, data: bytes) -> tuple[bytes, dict]:
    """pixels [1, 64] FP32 claiming `size` bytes of binary data, followed by `data`."""
    head = json.dumps({"inputs": [pixels(parameters={"binary_data_size": size})]}).encode()
    return head + data, {"Inference-Header-Content-Length": str(len(head))}


BAD_BODIES = [  # (path, body bytes, headers, status, what the message says)
    ("/v2/models/nope/infer", json.dumps({"inputs": [pixels(data=ROW.ravel().tolist())]}), {}, 404, "nope"),
    ("/v2/models/digits/versions/9/infer", json.dumps({"inputs": [pixels(data=[0] * 64)]}), {}, 404, "9"),
    (INFER, json.dumps({"inputs": [pixels((1, 63), data=[0.5] * 63)]}), {}, 400, "expected shape [N, 64]"),
    (INFER, json.dumps({"inputs": [pixels(data=[0.5] * 63)]}), {}, 400, "holds 64 elements, data has 63"),
    (
        INFER,
        json.dumps({"inputs": [pixels(datatype="INT64", data=[1] * 64)]}),
        {},
        400,
        "INT64 does not match",
    ),
    (INFER, json.dumps({"inputs": [pixels(datatype="BYTES", data=["a"] * 64)]}), {}, 400, "BYTES"),
    (INFER, json.dumps({"inputs": [pixels(data=["a"] * 64)]}), {}, 400, "non-numeric"),
    (INFER, json.dumps({"inputs": []}), {}, 400, "non-empty list"),
    (INFER, b"{not json", {}, 400, "malformed JSON"),
    (INFER, json.dumps({"inputs": [pixels(data=[0] * 64)], "outputs": [{"name": "x"}]}), {}, 400, "unknown"),
    (
        INFER,
        json.dumps({"inputs": [pixels(data=[0] * 64)], "parameters": {"timeout": "soon"}}),
        {},
        400,
        "timeout",
    ),
    # the binary extension: sizes that disagree with the shape or with the bytes sent
    (
        INFER,
        *binary_body(252, bytes(252)),
        400,
        "takes 256",
    ),
    (
        INFER,
        *binary_body(256, bytes(200)),
        400,
        "truncated",
    ),
    (
        INFER,
        *binary_body(256, bytes(260)),
        400,
        "trailing",
    ),
    (
        INFER,
        *binary_body(-1, b""),
        400,
        "non-negative",
    ),
    (INFER, b"{}", {"Inference-Header-Content-Length": "99"}, 400, "not a length within the body"),
    (INFER, b"{}" * 200_000, {}, 413, "exceeds the limit"),
    (INFER, b"{}", {"Content-Type": "text/plain"}, 415, "text/plain"),
]


async def test_each_bad_request_gets_its_status_and_the_spec_error_shape(served):
    url, _ = served
    async with httpx.AsyncClient(base_url=f"http://{url}", timeout=30) as api:
        for path, body, headers, status, said in BAD_BODIES:
            answer = await api.post(path, content=body, headers=headers)
            assert answer.status_code == status, (path, body[:200], answer.text)
            error = answer.json()
            assert list(error) == ["error"] and said in error["error"], (said, error)


async def test_the_official_client_sees_the_same_refusals(served):
    url, _ = served
    async with triton(url) as client:
        refusals = [
            (("nope", [tensor("pixels", ROW, True)]), "404"),
            (("digits", [tensor("pixels", ROW.astype(np.float64), True)], "1"), "400"),
            (("digits", [tensor("pixels", ROW[:, :10], False)], "1"), "400"),
        ]
        for args, status in refusals:
            with pytest.raises(InferenceServerException) as raised:
                await client.infer(*args)
            assert raised.value.status() == status, raised.value


async def test_queue_full_is_429_with_retry_after_and_async_infer_is_202_with_the_job(served):
    """`narrow` admits one queued row; no worker takes it."""
    url, _ = served
    body = json.dumps({"inputs": [pixels(data=[0.0] * 64)]})
    async with httpx.AsyncClient(base_url=f"http://{url}", timeout=30) as api:
        accepted = await api.post(
            "/v2/models/narrow/infer", content=body, headers={"Prefer": "respond-async"}
        )
        assert accepted.status_code == 202, accepted.text
        location = accepted.headers["location"]
        assert location == f"/v1/jobs/{accepted.json()['id']}"
        assert (await api.get(location)).json()["status"] == "queued"
        full = await api.post("/v2/models/narrow/infer", content=body)
        assert full.status_code == 429 and full.headers["retry-after"] == "1", full.text
        assert "error" in full.json()


async def test_an_infer_past_its_timeout_is_504_and_its_job_does_not_run(served):
    url, _ = served
    body = {"inputs": [pixels(data=[0.0] * 64)], "parameters": {"timeout": 300_000}}
    async with httpx.AsyncClient(base_url=f"http://{url}", timeout=30) as api:
        answer = await api.post(INFER, json=body)
        assert answer.status_code == 504, answer.text
        message = answer.json()["error"]
        assert "0.3 s" in message and ("cancelled" in message or "expired" in message)
        job_id = message.split("(job ")[1].split(")")[0]
        assert (await api.get(f"/v1/jobs/{job_id}")).json()["status"] in ("cancelled", "expired")


async def test_redis_down_is_503(settings):
    gone = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with in_process_api(gone, wait_subscribed=False) as api:
        answer = await api.post(INFER, json={"inputs": [pixels(data=[0.0] * 64)]})
        assert answer.status_code == 503, answer.text
        assert "Redis" in answer.json()["error"]
        assert (await api.get("/v2/health/ready")).status_code == 503


async def test_with_keys_v2_asks_the_v1_scopes_and_answers_in_the_spec_shape(settings, redis):
    reader = await make_key(redis, scopes=frozenset({Scope.MODELS_READ}))
    body = {"inputs": [pixels(data=[0.0] * 64)]}
    async with in_process_api(keyed(settings)) as api:
        assert (await api.get("/v2/health/live")).status_code == 200  # probes stay open
        anonymous = await api.get("/v2/models/digits")
        assert anonymous.status_code == 401 and list(anonymous.json()) == ["error"]
        assert (await api.get("/v2/models/digits", headers=bearer(reader))).status_code == 200
        refused = await api.post(INFER, json=body, headers=bearer(reader))
        assert refused.status_code == 403 and "jobs:write" in refused.json()["error"]
