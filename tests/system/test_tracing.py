"""Traces through real processes (API, batch worker, rq worker), exported over OTLP/HTTP to a
collector the test runs: one job from submit -> queue wait -> batch inference (linked) -> result
write -> webhook delivery, whose POST carries the trace context; one bulk job from submit ->
split -> each chunk."""

import httpx
import numpy as np
import pytest

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
        return len(collector.named("maas.bulk_chunk")) == 3 and collector.named("maas.bulk_split")

    await wait_until(chunks_arrived, 60, "the bulk job's split and its 3 chunk spans at the collector")
    (submit,) = collector.named("maas.bulk_submit")
    (split,) = collector.named("maas.bulk_split")
    assert (submit.trace_id, submit.parent_span_id) == (CLIENT_TRACE_ID, "00f067aa0ba902b7")
    assert (split.service, split.parent_span_id) == ("maas-rq-worker", submit.span_id)
    chunks = collector.named("maas.bulk_chunk")
    assert {(c.service, c.trace_id, c.parent_span_id) for c in chunks} == {
        ("maas-worker", CLIENT_TRACE_ID, split.span_id)
    }
    assert sorted(c.attributes["maas.bulk.chunk"] for c in chunks) == [0, 1, 2]
