"""Traces through real processes (API, batch worker, rq worker), exported over OTLP/HTTP to a
collector the test runs: one job from submit -> queue wait -> batch inference (linked) -> result
write -> webhook delivery, whose POST carries the trace context; one bulk job from submit ->
split -> each chunk; and a /v2 infer, a gRPC ModelInfer and a gRPC SubmitJob, each a job tree
under its caller's trace."""

import asyncio

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc.aio as triton

from api.rpc.stubs import maas_jobs_pb2 as jobs_pb
from api.rpc.stubs import maas_jobs_pb2_grpc as jobs_grpc
from maas.cli.redis_server import free_port
from tests.support.bulk_helpers import npy
from tests.support.otlp_collector import OtlpCollector
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import Receiver

CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_TRACEPARENT = f"00-{CLIENT_TRACE_ID}-00f067aa0ba902b7-01"
BULK_ROWS = 30
JOB_SPANS = ("maas.submit", "maas.queue_wait", "maas.result_write", "maas.webhook_delivery")


@pytest.fixture
def collector():
    with OtlpCollector() as running:
        yield running


@pytest.fixture
def settings(settings, collector, monkeypatch):
    # The SDK's batch processor reads its delay itself: export within 100 ms, not 5 s.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    return settings.model_copy(
        update={
            "port": free_port(),
            "grpc_port": free_port(),
            "otel_exporter_otlp_endpoint": collector.endpoint,
            "webhook_secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            "webhook_allow_http": True,
            "webhook_allowed_networks": ["127.0.0.0/8"],
        }
    )


async def test_one_job_is_traced_from_submit_to_webhook(settings, processes, collector):
    await processes.ready("api")
    await processes.ready("worker")
    await processes.ready("rq-worker")
    with Receiver() as receiver:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}", timeout=30) as client:
            job = {
                "model": "digits",
                "version": 1,
                "inputs": [[0.0] * 64],
                "webhook": {"url": f"http://127.0.0.1:{receiver.port}/hook"},
            }
            submitted = await client.post("/v1/jobs", json=job, headers={"traceparent": CLIENT_TRACEPARENT})
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["id"]

        def spans_arrived():
            names = {s.name for s in collector.spans if s.trace_id == CLIENT_TRACE_ID}
            return set(JOB_SPANS) <= names and collector.named("maas.batch_inference") and receiver.calls

        await wait_until(spans_arrived, 30, "every span of the job at the collector and the webhook sent")

    # Other submits (a readiness check's job) have traces of their own.
    (submit,) = [s for s in collector.named("maas.submit") if s.trace_id == CLIENT_TRACE_ID]
    assert (submit.service, submit.trace_id) == ("maas-api", CLIENT_TRACE_ID)
    assert submit.parent_span_id == "00f067aa0ba902b7"  # under the client's span
    children = {}
    for name in ("maas.queue_wait", "maas.result_write", "maas.webhook_delivery"):
        (span,) = [s for s in collector.named(name) if s.attributes.get("maas.job.id", job_id) == job_id]
        assert (span.trace_id, span.parent_span_id) == (CLIENT_TRACE_ID, submit.span_id), name
        children[name] = span
    assert children["maas.queue_wait"].service == children["maas.result_write"].service == "maas-worker"
    assert children["maas.webhook_delivery"].service == "maas-rq-worker"
    assert children["maas.queue_wait"].end_ns <= children["maas.result_write"].start_ns

    # The batch that ran the job is linked to its submit span (one batch, many parents); other
    # batches (a readiness check's job) link nothing of this trace.
    ours = (CLIENT_TRACE_ID, submit.span_id)
    (batch,) = [b for b in collector.named("maas.batch_inference") if ours in b.links]
    assert batch.attributes["maas.model"] == "digits" and batch.attributes["maas.batch.rows"] == 1

    (call,) = receiver.calls
    delivery = children["maas.webhook_delivery"]
    assert call.headers["traceparent"] == f"00-{CLIENT_TRACE_ID}-{delivery.span_id}-01"
    assert delivery.attributes["http.response.status_code"] == 200


async def test_a_bulk_job_is_traced_through_its_split_and_chunks(settings, processes, collector):
    await processes.ready("api")
    await processes.ready("rq-worker")
    await processes.ready("worker")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}", timeout=30) as client:
        files = {"file": ("rows.npy", npy(np.zeros((BULK_ROWS, 64), np.float32)))}
        data = {"model": "digits", "version": "1", "chunk_rows": str(BULK_ROWS // 3)}
        headers = {"traceparent": CLIENT_TRACEPARENT}
        submitted = await client.post("/v1/bulk-jobs", data=data, files=files, headers=headers)
        assert submitted.status_code == 202, submitted.text

    def chunks_arrived():
        split_and_chunks = len(collector.named("maas.bulk_chunk")) == 3 and collector.named("maas.bulk_split")
        return split_and_chunks and collector.named("maas.bulk_submit")  # exported by another process

    await wait_until(chunks_arrived, 60, "the bulk job's submit, split and 3 chunk spans at the collector")
    (submit,) = collector.named("maas.bulk_submit")
    (split,) = collector.named("maas.bulk_split")
    assert (submit.trace_id, submit.parent_span_id) == (CLIENT_TRACE_ID, "00f067aa0ba902b7")
    assert (split.service, split.parent_span_id) == ("maas-rq-worker", submit.span_id)
    chunks = collector.named("maas.bulk_chunk")
    assert {(c.service, c.trace_id, c.parent_span_id) for c in chunks} == {
        ("maas-worker", CLIENT_TRACE_ID, split.span_id)
    }
    assert sorted(c.attributes["maas.bulk.chunk"] for c in chunks) == [0, 1, 2]


# One trace per front end: (trace id, the caller's span id), as its traceparent names them.
FRONT_ENDS = {
    "v2-rest": ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
    "grpc-infer": ("5b8aa5a2d2c872e8321cf37308d69df2", "051581bf3cb55c13"),
    "grpc-submit": ("1bc4e2bd2e8d4bd8a0d3c6b3a5e0f9d7", "a1b2c3d4e5f60718"),
}
ROW = np.zeros((1, 64), np.float32)


def traceparent(front_end: str) -> str:
    trace_id, span_id = FRONT_ENDS[front_end]
    return f"00-{trace_id}-{span_id}-01"


async def _v2_infer(settings) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}", timeout=30) as client:
        body = {"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]}
        headers = {"traceparent": traceparent("v2-rest")}
        answer = await client.post("/v2/models/digits/versions/1/infer", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()["parameters"]["job_id"]


async def _grpc_infer(url: str) -> str:
    async with triton.InferenceServerClient(url) as client:
        pixels = triton.InferInput("pixels", [1, 64], "FP32")
        pixels.set_data_from_numpy(ROW)
        headers = {"traceparent": traceparent("grpc-infer")}
        result = await client.infer("digits", [pixels], model_version="1", headers=headers)
        return result.get_response().parameters["maas_job_id"].string_param


async def _grpc_submit(url: str) -> str:
    async with grpc.aio.insecure_channel(url) as channel:
        tensor = jobs_pb.Tensor(datatype="FP32", shape=[1, 64], data=ROW.tobytes())
        request = jobs_pb.SubmitJobRequest(model="digits", version="1", inputs={"pixels": tensor}, wait_s=20)
        metadata = (("traceparent", traceparent("grpc-submit")),)
        job = await jobs_grpc.JobsStub(channel).SubmitJob(request, metadata=metadata)
        assert job.status == "succeeded", job
        return job.id


def _check_job_tree(collector: OtlpCollector, front_end: str, job_id: str) -> None:
    """The job's submit span under the caller's span, its worker spans under the submit span,
    and the batch that ran it linked to the submit span."""
    trace_id, caller_span = FRONT_ENDS[front_end]
    (submit,) = [s for s in collector.named("maas.submit") if s.trace_id == trace_id]
    assert (submit.service, submit.parent_span_id) == ("maas-api", caller_span), front_end
    for name in ("maas.queue_wait", "maas.result_write"):
        (span,) = [s for s in collector.named(name) if s.attributes.get("maas.job.id") == job_id]
        assert (span.trace_id, span.parent_span_id) == (trace_id, submit.span_id), (front_end, name)
    linked = [b for b in collector.named("maas.batch_inference") if (trace_id, submit.span_id) in b.links]
    assert len(linked) == 1, front_end


async def test_v2_and_grpc_submits_join_the_callers_trace(settings, processes, collector):
    await processes.ready("api")
    await processes.ready("worker")
    url = f"127.0.0.1:{settings.grpc_port}"
    async with grpc.aio.insecure_channel(url) as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)  # the gRPC server starts beside uvicorn
    job_ids = {
        "v2-rest": await _v2_infer(settings),
        "grpc-infer": await _grpc_infer(url),
        "grpc-submit": await _grpc_submit(url),
    }

    def trees_arrived():
        written = {s.attributes.get("maas.job.id") for s in collector.named("maas.result_write")}
        linked = {trace for b in collector.named("maas.batch_inference") for trace, _ in b.links}
        submitted = {s.trace_id for s in collector.named("maas.submit")}  # the API exports these
        traces = {trace for trace, _ in FRONT_ENDS.values()}
        return set(job_ids.values()) <= written and traces <= linked and traces <= submitted

    await wait_until(trees_arrived, 30, "each front end's job's spans and its batch at the collector")
    for front_end, job_id in job_ids.items():
        _check_job_tree(collector, front_end, job_id)
