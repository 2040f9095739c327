"""The Open Inference Protocol (KServe v2) data plane, on plain values (no HTTP, no gRPC here):
REST `/v2` and gRPC both call these methods with numpy arrays (api/oip_types.py decodes them).

An inference is a job. `infer` submits it through JobService.submit, so it passes the same
admission (lane `max_queue_rows`, tenant caps, 429), audit, sealing and deadline as a `/v1` job
and rides the same lane and micro-batches; then it waits on the job's completion event. The wait
is bounded (MAAS_INFER_TIMEOUT_S, or the request's `timeout` parameter, up to MAAS_MAX_WAIT_S),
and the job's queue deadline is that same bound. At the end a job still queued is cancelled or,
past its deadline, expired (no one waits for its answer any more, so computing it would only
delay others), while one already running is left to finish, readable at /v1/jobs/{id} (a batch
cannot be stopped midway). The timeout error names the job and says which."""

import math
from dataclasses import dataclass

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from api.oip_types import datatype_of, output_names, v2_shape
from api.schemas import JobCreate
from api.services.health import HealthService
from api.services.jobs import JobService
from api.services.models import version_status, visible
from api.services.registry import AsyncRegistry
from batching.heartbeat import holders_by_version, live_worker_infos
from batching.jobs.record import JobRecord, JobStatus
from maas.core.access import Caller
from maas.core.errors import (
    InferTimeoutError,
    InvalidInputError,
    JobFailedError,
    JobLostError,
    JobStateError,
)
from maas.core.settings import Settings
from maas.core.signature import TensorSpec
from maas.models.registry import ModelVersion

SERVER_NAME = "maas"
SERVER_VERSION = "0.1.0"
EXTENSIONS = ["binary_tensor_data", "model_repository_metadata_readonly", "respond_async"]
PLATFORMS = {"onnxruntime": "onnxruntime_onnx", "litert": "tensorflow_lite"}
TIMEOUT_PARAMETER = "timeout"  # microseconds, as Triton's clients send it


@dataclass(frozen=True)
class InferResult:
    """A finished inference: the outputs asked for, in the order asked."""

    model_name: str
    model_version: str
    request_id: str | None
    job_id: str
    outputs: dict[str, np.ndarray]
    batch_size: int | None  # rows of the batch the job ran in


def version_arg(version: str | int | None) -> int | str | None:
    """A version from a path or message: a number, an alias, `latest`; empty is the latest."""
    if version is None or version == "":
        return None
    if isinstance(version, str) and version.isdigit():
        return int(version)
    return version


def tensor_metadata(spec: TensorSpec) -> dict:
    return {"name": spec.name, "datatype": datatype_of(spec.dtype), "shape": v2_shape(spec.shape)}


def platform_of(runtime: str) -> str:
    return PLATFORMS.get(runtime, runtime)


def check_datatypes(inputs: dict[str, np.ndarray], model: ModelVersion) -> None:
    """v2 asks for the model's exact datatype: an INT64 tensor is not cast to an FP32 input."""
    for spec in model.signature.inputs:
        given = inputs.get(spec.name)
        if given is not None and given.dtype != spec.dtype:
            raise InvalidInputError(
                f"inputs.{spec.name}: datatype {datatype_of(given.dtype)} does not match the "
                f"model's {datatype_of(spec.dtype)}",
                ("inputs", spec.name),
            )


@dataclass
class InferenceService:
    settings: Settings
    registry: AsyncRegistry
    jobs: JobService
    health: HealthService
    redis: aioredis.Redis

    def server_metadata(self) -> dict:
        return {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": EXTENSIONS}

    async def server_ready(self) -> bool:
        """Ready when Redis answers and at least one worker sent a heartbeat recently."""
        try:
            return await self.health.live_workers() > 0
        except RedisError:
            return False

    async def model(self, caller: Caller, name: str, version: str | int | None) -> ModelVersion:
        """The version the caller may see (404 for an unknown or hidden model or version)."""
        return visible(await self.registry.get(name, version_arg(version)), caller)

    async def model_metadata(self, caller: Caller, name: str, version: str | int | None = None) -> dict:
        model = await self.model(caller, name, version)
        versions = [model.version] if version_arg(version) is not None else await self.registry.versions(name)
        return {
            "name": model.name,
            "versions": [str(v) for v in versions],
            "platform": platform_of(model.runtime),
            "inputs": [tensor_metadata(s) for s in model.signature.inputs],
            "outputs": [tensor_metadata(s) for s in model.signature.outputs],
        }

    async def model_ready(self, caller: Caller, name: str, version: str | int | None = None) -> bool:
        """True when a live worker holds the version loaded (its status is `ready`)."""
        model = await self.model(caller, name, version)
        held = holders_by_version(await live_worker_infos(self.redis, self.settings.heartbeat_interval_s))
        return version_status(model, held.get(f"{model.name}:{model.version}", [])) == "ready"

    def timeout_s(self, parameters: dict | None, timeout_s: float | None = None) -> float:
        """How long an inference waits: the request's `timeout` parameter (microseconds) or
        MAAS_INFER_TIMEOUT_S, no longer than a transport's own deadline (timeout_s) nor
        MAAS_MAX_WAIT_S."""
        wanted = self.settings.infer_timeout_s
        asked = (parameters or {}).get(TIMEOUT_PARAMETER)
        if asked is not None:
            if not isinstance(asked, int | float) or isinstance(asked, bool) or not 0 < asked < math.inf:
                raise InvalidInputError(
                    "parameters.timeout: a positive number of microseconds", ("parameters", "timeout")
                )
            wanted = asked / 1e6
        if timeout_s is not None:
            wanted = min(wanted, timeout_s)
        return min(wanted, self.settings.max_wait_s)

    async def submit(
        self,
        caller: Caller,
        model: str,
        version: str | int | None,
        inputs: dict[str, np.ndarray],
        timeout_s: float | None = None,
        traceparent: str | None = None,
    ) -> JobRecord:
        """Queues the inference as a job and answers at once (the async extension): its queue
        deadline is timeout_s, or MAAS_MAX_QUEUE_TIME_S."""
        served = await self.model(caller, model, version)
        return await self._queue(caller, served, inputs, timeout_s, traceparent)

    async def _queue(
        self,
        caller: Caller,
        served: ModelVersion,
        inputs: dict[str, np.ndarray],
        timeout_s: float | None,
        traceparent: str | None,
        wait_s: float = 0.0,
    ) -> JobRecord:
        """The queued job; with wait_s, as it is once ended or after wait_s (the `/v1` wait: its
        end is watched before it is written, so a job that ends in time needs no read).
        `traceparent`: the caller's W3C trace context (HTTP header or gRPC metadata), kept with
        the job like a /v1 submit's, so its spans join the caller's trace."""
        check_datatypes(inputs, served)
        job = JobCreate(model=served.name, version=served.version, inputs=inputs, timeout_s=timeout_s)
        record, _ = await self.jobs.submit(caller, job, wait_s=wait_s, traceparent=traceparent)
        return record

    async def infer(
        self,
        caller: Caller,
        model: str,
        version: str | int | None,
        request_id: str | None,
        inputs: dict[str, np.ndarray],
        outputs: list[str] | None = None,
        parameters: dict | None = None,
        timeout_s: float | None = None,
        traceparent: str | None = None,
    ) -> InferResult:
        """Runs the inference as a job in the version's lane and answers its outputs (those
        named in `outputs`, else all); InferTimeoutError past its timeout (see the module)."""
        wait_s = self.timeout_s(parameters, timeout_s)
        served = await self.model(caller, model, version)
        names = output_names(outputs, [s.name for s in served.signature.outputs])
        record = await self._queue(caller, served, inputs, wait_s, traceparent, wait_s)
        if not record.terminal:
            record = await self._give_up(caller, record, wait_s)
        return _result(record, names, request_id, wait_s)

    async def _give_up(self, caller: Caller, record: JobRecord, wait_s: float) -> JobRecord:
        """Cancels the job if still queued and raises the timeout; a job that ended meanwhile
        is answered after all."""
        try:
            await self.jobs.cancel(caller, record.id)
            fate = "it was still queued and is cancelled"
        except JobStateError:
            record = await self.jobs.get(caller, record.id)
            if record.terminal:
                return record
            fate = f"it is running and will finish: read it at /v1/jobs/{record.id}"
        raise InferTimeoutError(f"inference did not finish within {wait_s:g} s (job {record.id}); {fate}")


def _result(record: JobRecord, names: list[str], request_id: str | None, wait_s: float) -> InferResult:
    """The outputs of an ended job, or the error its end means for the inference."""
    if record.status is JobStatus.SUCCEEDED and record.outputs is not None:
        return InferResult(
            model_name=record.model,
            model_version=str(record.version),
            request_id=request_id,
            job_id=record.id,
            outputs={name: record.outputs[name] for name in names},
            batch_size=record.timings.batch_size if record.timings else None,
        )
    error = record.error
    if record.status is JobStatus.FAILED and error is not None:
        message = f"job {record.id} failed: {error.message}"
        if error.code == "dead_lettered":
            raise JobLostError(message, error.code)
        raise JobFailedError(message, error.code)
    if record.status is JobStatus.EXPIRED:
        raise InferTimeoutError(
            f"inference was not started within {wait_s:g} s (job {record.id}); it expired, uncomputed"
        )
    raise JobStateError(f"job {record.id} is {record.status.value} (cancelled or purged meanwhile)")
