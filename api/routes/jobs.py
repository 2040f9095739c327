"""/v1/jobs: submit, list, read (with long-poll), cancel or purge, redeliver. Translates HTTP; JobService
does the work, within the caller's tenant."""

import re
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Header, Query, Request

from api.deps import AppSettings, Bodies, Jobs, JobsReader, JobsWriter
from api.guard import NO_FORM_BODY
from api.lean_route import LeanRoute
from api.openapi import json_body
from api.responses import NumpyJSONResponse
from api.schemas import ErrorBody, JobCreate, JobList, JobPublic
from batching.jobs.record import JobStatus
from batching.jobs.view import job_public
from maas.core.errors import InvalidInputError

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], route_class=LeanRoute)
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    413: {"model": ErrorBody},
    422: {"model": ErrorBody},
    503: {"model": ErrorBody},
}


def prefer_wait_s(prefer: str | None, max_wait_s: float) -> float:
    """Seconds asked for by `Prefer: wait=S` (RFC 7240), capped at max_wait_s; 0 if absent."""
    if not prefer:
        return 0.0
    match = _PREFER_WAIT.search(prefer)
    return min(float(match.group(1)), max_wait_s) if match else 0.0


def job_create(body: object) -> JobCreate:
    """The validated request; bare inputs that came as an array (a big body) are validated as
    a list would be, then put back."""
    if not isinstance(body, dict):
        raise InvalidInputError("body: expected a JSON object", ("body",))
    inputs = body.get("inputs")
    if not isinstance(inputs, np.ndarray):
        return JobCreate.model_validate(body)
    return JobCreate.model_validate({**body, "inputs": []}).model_copy(update={"inputs": inputs})


def _job_response(record, status_code: int, **headers: str) -> NumpyJSONResponse:
    return NumpyJSONResponse(job_public(record), status_code=status_code, headers=headers)


@router.post(
    "",
    status_code=202,
    responses={200: {"model": JobPublic}, 202: {"model": JobPublic}, **_ERRORS},
    openapi_extra=json_body(JobCreate),
    summary="Submit a job; with `Prefer: wait=S` answer 200 with the result if done in S s",
)
async def create_job(
    request: Request,
    jobs: Jobs,
    bodies: Bodies,
    settings: AppSettings,
    caller: JobsWriter,
    prefer: str | None = Header(None, description="`wait=S`: answer 200 if done within S s."),
    idempotency_key: str | None = Header(
        None, description="Retries with the same key and body return the original job."
    ),
    traceparent: str | None = Header(
        None, description="W3C trace context: the job's spans and its webhook POST join this trace."
    ),
) -> NumpyJSONResponse:
    job = job_create(await bodies.job(request))
    wait_s = prefer_wait_s(prefer, settings.max_wait_s)
    record, replayed = await jobs.submit(caller, job, idempotency_key, wait_s, traceparent)
    headers = {"Location": f"/v1/jobs/{record.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    if wait_s > 0:
        headers["Preference-Applied"] = f"wait={wait_s:g}"
    return _job_response(record, 200 if wait_s > 0 and record.terminal else 202, **headers)


@router.get("", responses={200: {"model": JobList}, **_ERRORS}, summary="The caller's jobs, newest first")
async def list_jobs(
    jobs: Jobs,
    caller: JobsReader,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this state.")] = None,
    model: str | None = Query(None, description="Only jobs of this model."),
    limit: int = Query(20, ge=1, le=1000),
    cursor: str | None = Query(None, description="`next_cursor` of the previous page."),
) -> NumpyJSONResponse:
    """Outputs are left out of lists (null); read a job for its outputs."""
    records, next_cursor = await jobs.list(caller, limit=limit, cursor=cursor, status=status, model=model)
    data = [{**job_public(r), "outputs": None} for r in records]
    return NumpyJSONResponse({"data": data, "next_cursor": next_cursor})


@router.get("/{job_id}", responses={200: {"model": JobPublic}, **_ERRORS})
async def read_job(
    job_id: str,
    jobs: Jobs,
    caller: JobsReader,
    wait: float = Query(
        0, ge=0, allow_inf_nan=False, description="Long-poll: seconds to wait for a terminal state."
    ),
) -> NumpyJSONResponse:
    return _job_response(await jobs.read(caller, job_id, wait), 200)


@router.delete(
    "/{job_id}",
    responses={200: {"model": JobPublic}, **_ERRORS},
    summary="Cancel a queued job; with `purge=true` erase an ended job's outputs and metadata",
    dependencies=[NO_FORM_BODY],
)
async def cancel_job(
    job_id: str,
    jobs: Jobs,
    caller: JobsWriter,
    purge: bool = Query(
        False,
        description="Erase its outputs, metadata and webhook now, keeping a tombstone "
        "(`purged_at`); a queued job is cancelled first, a running one is 409.",
    ),
) -> NumpyJSONResponse:
    record = await jobs.purge(caller, job_id) if purge else await jobs.cancel(caller, job_id)
    return _job_response(record, 200)


@router.post(
    "/{job_id}/webhook/redeliver",
    status_code=202,
    responses={202: {"model": JobPublic}, **_ERRORS},
    dependencies=[NO_FORM_BODY],
    summary="Queue a fresh delivery of the job's webhook event (same webhook-id)",
)
async def redeliver_webhook(job_id: str, jobs: Jobs, caller: JobsWriter) -> NumpyJSONResponse:
    return _job_response(await jobs.redeliver(caller, job_id), 202)
