"""Every call of `Client` and `AsyncClient` (each test runs with both) against a real `maas api`,
`maas worker` (digits and pair) and `maas rq-worker`, started once for the module."""

import asyncio

import httpx
import numpy as np
import pytest
from maas_client import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidSignature,
    JobFailed,
    NotFound,
    Unauthorized,
)
from maas_client.webhooks import verify

from tests.client.conftest import (
    WEBHOOK_SECRET,
    call,
    close,
    digits_copy,
    digits_rows,
    new_client,
    onnxruntime_outputs,
    running_service,
)
from tests.conftest import DIGITS
from tests.support import onnx_models
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import Receiver

PAIR_FILE = "pair/1/model.onnx"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("client")
    repo = root / "models"
    digits_copy(repo, "digits")
    digits_copy(repo, "parked")  # served by no worker: its jobs stay queued
    onnx_models.two_in_two_out(repo / PAIR_FILE)
    with running_service(root, repo, worker_models="digits,pair", rq_worker=True, keys=True) as running:
        yield running


def assert_like_onnxruntime(outputs: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert outputs.keys() == expected.keys()
    for name, array in outputs.items():
        assert array.dtype == expected[name].dtype, name
        np.testing.assert_allclose(array, expected[name], rtol=1e-6, atol=1e-7)


async def test_job_outputs_are_numpy_arrays_of_the_models_dtypes_equal_to_onnxruntime(client, service):
    rows = digits_rows(3)
    expected = onnxruntime_outputs(DIGITS / "model.onnx", {"pixels": rows})
    job = await call(client.jobs.submit, "digits", rows, wait=20)  # a bare array: the one input
    assert job.status == "succeeded" and job.version == 1
    assert_like_onnxruntime(job.outputs, expected)

    pair = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([[1, 2], [3, 4]])}
    queued = await call(client.jobs.submit, "pair", pair, metadata={"who": "test"})
    outputs = await call(queued.result, timeout=20)  # long-polled
    assert_like_onnxruntime(outputs, onnxruntime_outputs(service.repo / PAIR_FILE, pair))
    assert outputs["total"].dtype == np.int64 and queued.metadata == {"who": "test"}

    listed = await call(client.jobs.submit, "digits", rows.tolist(), version=1, timeout_s=60)
    fetched = await call(client.jobs.wait, listed.id, 20)
    assert_like_onnxruntime(fetched.outputs, expected)
    assert (await call(client.jobs.get, listed.id)).status == "succeeded"


async def test_refusals_are_typed_errors_with_code_and_location(client, kind, service):
    with pytest.raises(NotFound) as unknown_model:
        await call(client.jobs.submit, "no-such-model", [[0.0] * 64])
    assert unknown_model.value.status == 404 and unknown_model.value.code == "model_not_found"
    with pytest.raises(InvalidInput) as bad_shape:
        await call(client.jobs.submit, "digits", {"pixels": [[1.0] * 63]})
    assert bad_shape.value.loc == ["inputs", "pixels"] and "[N, 64]" in bad_shape.value.message
    with pytest.raises(NotFound) as unknown_job:
        await call(client.jobs.get, "01M8JGKP0D4TVQ7RHSTBYNM2RK")
    assert unknown_job.value.code == "job_not_found"

    parked = await call(client.jobs.submit, "parked", digits_rows(1))
    assert parked.status == "queued"
    cancelled = await call(parked.cancel)
    assert cancelled.status == "cancelled"
    with pytest.raises(JobFailed) as failed:
        await call(cancelled.result, timeout=5)
    assert failed.value.code == "cancelled"
    with pytest.raises(Conflict):  # already ended
        await call(client.jobs.cancel, parked.id)

    page = await call(client.jobs.list, model="parked", status="cancelled", limit=100)
    assert parked.id in [job.id for job in page.jobs]
    other_tenant = new_client(kind, service.url, api_key=service.keys["other"])
    with pytest.raises(NotFound):  # another tenant's job
        await call(other_tenant.jobs.get, parked.id)
    assert parked.id not in [job.id for job in (await call(other_tenant.jobs.list, limit=100)).jobs]
    await close(other_tenant)


async def test_models_list_show_push_promote_rollback_configure_retire(client, kind, service):
    name = f"pushed-{kind}"
    assert "digits" in [m["name"] for m in await call(client.models.list)]
    assert (await call(client.models.show, "digits", 1))["signature"]["inputs"][0]["name"] == "pixels"
    keyless = new_client(kind, service.url, api_key="")
    with pytest.raises(Unauthorized):
        await call(keyless.models.push, name, DIGITS / "model.onnx")
    await close(keyless)
    no_admin = new_client(kind, service.url, api_key=service.keys["data"])
    with pytest.raises(Forbidden) as forbidden:
        await call(no_admin.models.push, name, DIGITS / "model.onnx")
    await close(no_admin)
    assert forbidden.value.status == 403 and "models:admin" in forbidden.value.message

    first = await call(client.models.push, name, DIGITS / "model.onnx", config={"max_batch_size": 8})
    assert first["version"] == 1 and first["config"]["max_batch_size"] == 8
    second = await call(client.models.push, name, str(DIGITS / "model.onnx"), alias="stable")
    assert (await call(client.models.show, name))["aliases"] == {"stable": second["version"]}
    moved = await call(client.models.promote, name, 1, "stable")
    assert (moved["version"], moved["previous"]) == (1, 2)
    back = await call(client.models.rollback, name, "stable")
    assert (back["version"], back["previous"]) == (2, 1)
    with pytest.raises(Conflict):  # `stable` points to it
        await call(client.models.retire, name, 2)
    await call(client.models.promote, name, 1, "stable")
    configured = await call(client.models.configure, name, 1, {"max_queue_delay_ms": 7})
    assert configured["config"]["max_queue_delay_ms"] == 7
    assert (await call(client.models.retire, name, 2))["version"] == 2
    with pytest.raises(NotFound):
        await call(client.jobs.submit, name, digits_rows(1), version=2)


async def test_bulk_jobs_submit_with_progress_wait_download_and_stream(client, kind, tmp_path):
    rows = digits_rows(40, seed=1)
    expected = onnxruntime_outputs(DIGITS / "model.onnx", {"pixels": rows})["probabilities"]
    seen = []
    bulk = await call(
        client.bulk.submit, rows, "digits", chunk_rows=16, progress=seen.append, wait=True, timeout=60
    )
    assert bulk.status == "succeeded" and bulk.counts == {"total": 40, "succeeded": 40, "failed": 0}
    uploads = [p for p in seen if p.stage == "uploading"]
    assert uploads and uploads[-1].done == uploads[-1].total and uploads[-1].unit == "bytes"
    assert (seen[-1].stage, seen[-1].done, seen[-1].total) == ("succeeded", 40, 40)
    path = await call(client.bulk.download, bulk.id, tmp_path / "out.npy")
    downloaded = np.load(path)
    assert downloaded.dtype == np.float32
    np.testing.assert_allclose(downloaded, expected, rtol=1e-6, atol=1e-7)
    if kind == "async":
        streamed = b"".join([block async for block in client.bulk.stream_output(bulk.id)])
    else:
        streamed = await asyncio.to_thread(lambda: b"".join(client.bulk.stream_output(bulk.id)))
    assert streamed == path.read_bytes()

    np.save(tmp_path / "rows.npy", rows[:5])
    from_file = await call(client.bulk.submit, tmp_path / "rows.npy", "digits", metadata={"n": 5})
    done = await call(client.bulk.wait, from_file.id, 60)
    assert done.status == "succeeded" and done.metadata == {"n": 5}
    assert await call(client.bulk.errors, done.id) == []
    assert {bulk.id, done.id} <= {b.id for b in await call(client.bulk.list, 50)}
    with pytest.raises(Conflict):  # ended
        await call(client.bulk.cancel, done.id)


async def test_webhook_verify_accepts_a_real_delivery_and_refuses_a_tampered_one(client):
    with Receiver() as receiver:
        url = f"http://127.0.0.1:{receiver.port}/hook"
        job = await call(client.jobs.submit, "digits", digits_rows(1), wait=20, webhook=url)
        await wait_until(lambda: receiver.calls, 30, "the webhook delivery")
    delivery = receiver.calls[0]
    delivered = client.webhooks.verify(delivery.raw, delivery.headers, WEBHOOK_SECRET)
    assert delivered["id"] == job.id and delivered["status"] == "succeeded"
    other = "whsec_" + "b3RoZXItc2VjcmV0LW9mLXRoZS1jbGllbnQtdGVzdHM="
    assert verify(delivery.raw, delivery.headers, [other, WEBHOOK_SECRET])["id"] == job.id  # rotation
    tampered = delivery.raw.replace(b'"succeeded"', b'"failed"', 1)
    with pytest.raises(InvalidSignature):
        verify(tampered, delivery.headers, WEBHOOK_SECRET)
    with pytest.raises(InvalidSignature):
        verify(delivery.raw, delivery.headers, other)


class LosesFirstSubmitAnswer:
    """Passes every request to the real server, but loses the answer to the first POST /v1/jobs
    after the server stored the job (as a dropped connection would): the client must retry."""

    def __init__(self):
        self.submits: list[tuple[httpx.Request, httpx.Response]] = []

    def record(self, request: httpx.Request, response: httpx.Response) -> None:
        if request.method == "POST" and request.url.path == "/v1/jobs":
            self.submits.append((request, response))
            if len(self.submits) == 1:
                raise httpx.ReadError("connection dropped before the answer", request=request)


class LosingTransport(httpx.HTTPTransport):
    def __init__(self, losses: LosesFirstSubmitAnswer):
        super().__init__()
        self.losses = losses

    def handle_request(self, request):
        response = super().handle_request(request)
        response.read()
        self.losses.record(request, response)
        return response


class AsyncLosingTransport(httpx.AsyncHTTPTransport):
    def __init__(self, losses: LosesFirstSubmitAnswer):
        super().__init__()
        self.losses = losses

    async def handle_async_request(self, request):
        response = await super().handle_async_request(request)
        await response.aread()
        self.losses.record(request, response)
        return response


async def test_a_submit_whose_answer_was_lost_is_retried_into_the_same_job(kind, service):
    losses = LosesFirstSubmitAnswer()
    transport = LosingTransport(losses) if kind == "sync" else AsyncLosingTransport(losses)
    client = new_client(kind, service.url, transport=transport, api_key=service.keys["admin"])
    job = await call(client.jobs.submit, "digits", digits_rows(1))
    await call(job.result, timeout=20)
    await close(client)
    (first_request, first), (retry_request, retried) = losses.submits
    assert first.status_code == 202 and first.json()["id"] == job.id  # the lost answer's job
    assert retried.headers["idempotent-replayed"] == "true"  # ... is what the retry got back
    key = first_request.headers["idempotency-key"]
    assert key and retry_request.headers["idempotency-key"] == key
    assert job.status == "succeeded"
