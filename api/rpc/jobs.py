"""maas.jobs.v1.Jobs: the /v1 job path over gRPC, through the same JobService (lanes, batches,
admission, idempotency keys, webhooks, tenants). Messages: api/rpc/stubs/maas_jobs.proto."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import orjson

from api.oip_types import datatype_of
from api.rpc.calls import Calls, traceparent_of
from api.rpc.stubs import maas_jobs_pb2 as pb
from api.rpc.stubs import maas_jobs_pb2_grpc as pb_grpc
from api.rpc.tensors import decode_tensors, little_endian_bytes
from api.schemas import JobCreate, WebhookCreate
from api.services.inference import version_arg
from api.services.jobs import JobService
from batching.jobs.record import JobRecord
from maas.core.access import Caller, Scope
from maas.core.errors import InvalidInputError


def job_message(record: JobRecord, replayed: bool = False) -> pb.Job:
    message = pb.Job(
        id=record.id,
        status=record.status.value,
        model=record.model,
        version=record.version,
        created_at=record.created_at,
        started_at=record.started_at or 0.0,
        finished_at=record.finished_at or 0.0,
        metadata_json=orjson.dumps(record.metadata).decode() if record.metadata is not None else "",
        webhook_state=_webhook_state(record),
        replayed=replayed,
        terminal=record.terminal,
    )
    for name, array in (record.outputs or {}).items():
        tensor = message.outputs[name]
        tensor.datatype, tensor.data = datatype_of(array.dtype), little_endian_bytes(array)
        tensor.shape.extend(array.shape)
    if record.error is not None:
        message.error.code, message.error.message = record.error.code, record.error.message
    if record.timings is not None:
        message.timings.queue_ms = record.timings.queue_ms
        message.timings.inference_ms = record.timings.inference_ms
        message.timings.batch_size = record.timings.batch_size
    if record.finished_at is not None:
        message.timings.total_ms = round((record.finished_at - record.created_at) * 1000, 3)
    return message


def _webhook_state(record: JobRecord) -> str:
    if record.webhook is None or record.webhook.state is None:
        return ""
    return record.webhook.state.value


def _metadata(text: str) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise InvalidInputError(f"metadata_json: not JSON ({e})", ("metadata_json",)) from None
    if not isinstance(value, dict):
        raise InvalidInputError("metadata_json: must be a JSON object", ("metadata_json",))
    return value


def job_create(request: pb.SubmitJobRequest) -> JobCreate:
    webhook = None
    if request.HasField("webhook"):
        events = list(request.webhook.events)
        webhook = WebhookCreate(url=request.webhook.url, **({"events": events} if events else {}))
    return JobCreate(
        model=request.model,
        version=version_arg(request.version),
        inputs=decode_tensors(request.inputs),
        timeout_s=request.timeout_s or None,
        metadata=_metadata(request.metadata_json),
        webhook=webhook,
        retention_s=request.retention_s or None,
    )


class JobsServicer(pb_grpc.JobsServicer):
    def __init__(self, jobs: JobService, calls: Calls, watch_interval_s: float):
        self.jobs, self.calls, self.watch_interval_s = jobs, calls, watch_interval_s

    async def SubmitJob(self, request: pb.SubmitJobRequest, context: grpc.aio.ServicerContext) -> pb.Job:
        async def submit(caller: Caller) -> pb.Job:
            key, traceparent = request.idempotency_key or None, traceparent_of(context)
            record, replayed = await self.jobs.submit(
                caller, job_create(request), key, request.wait_s, traceparent
            )
            return job_message(record, replayed)

        return await self.calls.run(context, Scope.JOBS_WRITE, submit)

    async def GetJob(self, request: pb.GetJobRequest, context: grpc.aio.ServicerContext) -> pb.Job:
        async def get(caller: Caller) -> pb.Job:
            return job_message(await self.jobs.read(caller, request.id, request.wait_s))

        return await self.calls.run(context, Scope.JOBS_READ, get)

    async def CancelJob(self, request: pb.CancelJobRequest, context: grpc.aio.ServicerContext) -> pb.Job:
        async def cancel(caller: Caller) -> pb.Job:
            return job_message(await self.jobs.cancel(caller, request.id))

        return await self.calls.run(context, Scope.JOBS_WRITE, cancel)

    async def WatchJob(
        self, request: pb.WatchJobRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Job]:
        try:
            caller = await self.calls.caller(context, Scope.JOBS_READ)
            async for record in self._changes(caller, request.id):
                yield job_message(record)
        except Exception as e:
            await self.calls.abort(context, e)
            raise

    async def _changes(self, caller: Caller, job_id: str) -> AsyncIterator[JobRecord]:
        """The job now, then at each change of status until terminal. Its end wakes this at
        once (the completion event); queued -> running publishes none, so it is looked for every
        watch_interval_s (or sooner, while events are down)."""
        last = None
        while True:
            await self.jobs.events.follow(job_id)
            with self.jobs.events.watch(job_id) as ended:
                record = await self.jobs.get(caller, job_id)
                if record.status is not last:
                    last = record.status
                    yield record
                if record.terminal:
                    return
                try:
                    await asyncio.wait_for(ended.wait(), self.watch_interval_s)
                except TimeoutError:
                    pass
