"""maas.jobs.v1.Jobs over gRPC, against a real API and worker: submit, wait, watch to the end,
cancel, idempotent resubmit, queue full with RetryInfo, keys and scopes; and the standard
health and reflection services answering their standard clients; a job and OIP infers share
micro-batches."""

import asyncio

import grpc
import numpy as np
import pytest
import tritonclient.grpc.aio as triton
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from api.rpc.stubs import maas_jobs_pb2 as pb
from api.rpc.stubs import maas_jobs_pb2_grpc as pb_grpc
from maas.cli.redis_server import free_port
from maas.core.access import Scope
from tests.rpc.conftest import run_onnx
from tests.support.processes import MaasProcess
from tests.support.tenants import keyed, make_key
from tests.support.waiting import wait_until

ROW = np.arange(64, dtype=np.float32).reshape(1, 64) / 4


def tensor(array: np.ndarray) -> pb.Tensor:
    datatype = {"float32": "FP32", "int64": "INT64"}[array.dtype.name]
    return pb.Tensor(datatype=datatype, shape=array.shape, data=array.tobytes())


def array(message: pb.Tensor) -> np.ndarray:
    dtype = {"FP32": np.float32, "INT64": np.int64}[message.datatype]
    return np.frombuffer(message.data, dtype).reshape(message.shape)


def digits_job(**fields) -> pb.SubmitJobRequest:
    return pb.SubmitJobRequest(model="digits", version="1", inputs={"pixels": tensor(ROW)}, **fields)


def held_job(**fields) -> pb.SubmitJobRequest:
    """A job that stays queued: no worker serves `held`."""
    return pb.SubmitJobRequest(model="held", inputs={"x": tensor(np.zeros((1, 4), np.float32))}, **fields)


@pytest.fixture
async def jobs(served):
    async with grpc.aio.insecure_channel(served.grpc_url) as channel:
        yield pb_grpc.JobsStub(channel)


async def _refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return refused.value


async def test_submit_returns_at_once_and_watch_streams_to_the_end(jobs, served):
    submitted = await jobs.SubmitJob(digits_job(metadata_json='{"order": 7}'))
    assert submitted.id and submitted.status == "queued" and not submitted.terminal
    seen = [job async for job in jobs.WatchJob(pb.WatchJobRequest(id=submitted.id))]
    assert seen[-1].status == "succeeded" and seen[-1].terminal
    assert all(not job.terminal for job in seen[:-1])
    assert len({job.status for job in seen}) == len(seen)  # one message per change
    expected = run_onnx(served.repo / "digits" / "1" / "model.onnx", {"pixels": ROW})["probabilities"]
    np.testing.assert_allclose(array(seen[-1].outputs["probabilities"]), expected, rtol=1e-6)
    assert seen[-1].metadata_json == '{"order":7}' and seen[-1].timings.batch_size >= 1
    got = await jobs.GetJob(pb.GetJobRequest(id=submitted.id))
    assert got.status == "succeeded"


async def test_submit_with_wait_answers_the_ended_job(jobs):
    job = await jobs.SubmitJob(digits_job(wait_s=10))
    assert job.status == "succeeded" and job.outputs["probabilities"].shape == [1, 10]


async def test_cancel_ends_a_queued_job_and_its_watch(jobs):
    job = await jobs.SubmitJob(held_job())
    watch = jobs.WatchJob(pb.WatchJobRequest(id=job.id))
    first = await watch.read()
    assert first.status == "queued"
    cancelled = await jobs.CancelJob(pb.CancelJobRequest(id=job.id))
    assert cancelled.status == "cancelled"
    last = await asyncio.wait_for(watch.read(), 10)
    assert last.status == "cancelled" and last.terminal
    assert await watch.read() is grpc.aio.EOF


async def test_a_repeated_idempotency_key_returns_the_original_job(jobs):
    first = await jobs.SubmitJob(digits_job(idempotency_key="order-42"))
    again = await jobs.SubmitJob(digits_job(idempotency_key="order-42"))
    assert again.id == first.id and again.replayed and not first.replayed
    other = digits_job(idempotency_key="order-42")
    other.inputs["pixels"].CopyFrom(tensor(ROW * 2))
    changed = await _refused(jobs.SubmitJob(other))
    assert changed.code() is grpc.StatusCode.INVALID_ARGUMENT, changed.details()


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (pb.SubmitJobRequest(model="nope", inputs={"x": tensor(ROW)}), grpc.StatusCode.NOT_FOUND),
        (pb.SubmitJobRequest(model="digits", inputs={"pixels": tensor(ROW[:, :60])}), "INVALID_ARGUMENT"),
        (digits_job(metadata_json="[1, 2"), grpc.StatusCode.INVALID_ARGUMENT),
        (digits_job(webhook=pb.Webhook(url="ftp://example.com/x")), grpc.StatusCode.INVALID_ARGUMENT),
        (digits_job(webhook=pb.Webhook(url="https://example.com", events=["x"])), "INVALID_ARGUMENT"),
    ],
)
async def test_bad_submits_have_their_status(jobs, request_, code):
    code = getattr(grpc.StatusCode, code) if isinstance(code, str) else code
    error = await _refused(jobs.SubmitJob(request_))
    assert error.code() is code, error.details()


async def test_unknown_jobs_are_not_found(jobs):
    for job_id in ("01M8KKAZ7DADNVCC7MK5PCR88R", "not-an-id"):
        error = await _refused(jobs.GetJob(pb.GetJobRequest(id=job_id)))
        assert error.code() is grpc.StatusCode.NOT_FOUND


async def test_a_full_lane_is_resource_exhausted_with_retry_info(jobs):
    """`held`'s lane holds 4 rows and nothing drains it."""
    for _ in range(10):
        try:
            await jobs.SubmitJob(held_job())
        except grpc.aio.AioRpcError as e:
            error = e
            break
    else:
        pytest.fail("the held lane never filled")
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
    trailing = dict(error.trailing_metadata())
    assert int(trailing["retry-after"]) >= 1
    status = status_pb2.Status.FromString(trailing["grpc-status-details-bin"])
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry) and retry.retry_delay.seconds >= 1


async def test_health_and_reflection_answer_standard_clients(served):
    async with grpc.aio.insecure_channel(served.grpc_url) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        server = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert server.status == health_pb2.HealthCheckResponse.SERVING

        async def inference_serving() -> bool:
            asked = health_pb2.HealthCheckRequest(service="inference.GRPCInferenceService")
            answer = await health.Check(asked)
            return answer.status == health_pb2.HealthCheckResponse.SERVING

        await wait_until(inference_serving, 10, "the inference service SERVING")
    with grpc.insecure_channel(served.grpc_url) as channel:
        reflected = ProtoReflectionDescriptorDatabase(channel)
        services = set(reflected.get_services())
        assert {"inference.GRPCInferenceService", "maas.jobs.v1.Jobs", "grpc.health.v1.Health"} <= services
        proto = reflected.FindFileContainingSymbol("inference.GRPCInferenceService")
        methods = {m.name for m in proto.service[0].method}
        assert methods == {
            *("ServerLive", "ServerReady", "ModelReady"),
            *("ServerMetadata", "ModelMetadata", "ModelInfer"),
        }


async def test_keys_and_scopes_apply_to_grpc(served, own_redis, tmp_path):
    """The same keys as HTTP, in `authorization` metadata; tenants see only their own jobs."""
    settings = keyed(served.settings, port=free_port(), grpc_port=free_port())
    writer = await make_key(own_redis, "acme", frozenset({Scope.JOBS_WRITE, Scope.JOBS_READ}))
    reader = await make_key(own_redis, "acme", frozenset({Scope.JOBS_READ}))
    stranger = await make_key(own_redis, "globex", frozenset({Scope.JOBS_READ}))
    with MaasProcess("api", tmp_path / "keyed-api.log", settings):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{settings.grpc_port}") as channel:
            stub = pb_grpc.JobsStub(channel)
            anonymous = await _refused(stub.SubmitJob(digits_job()))
            assert anonymous.code() is grpc.StatusCode.UNAUTHENTICATED
            weak = await _refused(stub.SubmitJob(digits_job(), metadata=_bearer(reader)))
            assert weak.code() is grpc.StatusCode.PERMISSION_DENIED
            job = await stub.SubmitJob(digits_job(wait_s=10), metadata=_bearer(writer))
            assert job.status == "succeeded"
            hidden = await _refused(stub.GetJob(pb.GetJobRequest(id=job.id), metadata=_bearer(stranger)))
            assert hidden.code() is grpc.StatusCode.NOT_FOUND


def _bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


async def test_a_job_and_oip_infers_share_micro_batches(jobs, client):
    """While 16 callers keep single-row infers flowing into digits 2 (which waits 30 ms for
    company), a job submitted into the same lane runs in a batch of more than its own row, and
    nothing else is in flight, so with them."""
    pixels = triton.InferInput("pixels", [1, 64], "FP32")
    pixels.set_data_from_numpy(ROW)
    flowing, done = asyncio.Event(), asyncio.Event()

    async def caller() -> None:
        while not done.is_set():
            await client.infer("digits", [pixels], model_version="2")
            flowing.set()

    callers = [asyncio.create_task(caller()) for _ in range(16)]
    try:
        await asyncio.wait_for(flowing.wait(), 30)
        job = pb.SubmitJobRequest(model="digits", version="2", inputs={"pixels": tensor(ROW)}, wait_s=20)
        ended = await jobs.SubmitJob(job)
    finally:
        done.set()
        await asyncio.gather(*callers)
    assert ended.status == "succeeded" and ended.timings.batch_size > 1, ended.timings
