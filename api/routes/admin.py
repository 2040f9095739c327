"""/v1/admin: the operator's overview of every lane, worker and failure (the dashboard reads it),
and redelivery of any tenant's failed webhook, a job's or a bulk job's. All need models:admin."""

from typing import Any

from fastapi import APIRouter

from api.deps import ModelsAdmin, Operations
from api.guard import NO_FORM_BODY
from api.responses import NumpyJSONResponse
from api.schemas import ErrorBody

router = APIRouter(prefix="/v1/admin", tags=["admin"])
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}}


@router.get(
    "/overview", responses=_ERRORS, summary="Lanes, workers, rq queues, dead letters, failed webhooks"
)
async def overview(operations: Operations, caller: ModelsAdmin) -> NumpyJSONResponse:
    """Read from Redis now, in a few pipelined round trips (no key scans)."""
    return NumpyJSONResponse(await operations.overview(caller))


_REDELIVER_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    429: {"model": ErrorBody},
}


@router.post(
    "/jobs/{job_id}/webhook/redeliver",
    status_code=202,
    responses=_REDELIVER_ERRORS,
    dependencies=[NO_FORM_BODY],
    summary="Queue a fresh delivery of any tenant's job's webhook event (same webhook-id)",
)
async def redeliver(job_id: str, operations: Operations, caller: ModelsAdmin) -> NumpyJSONResponse:
    await operations.redeliver(caller, job_id)
    return NumpyJSONResponse({"job_id": job_id, "redelivery": "queued"}, 202)


@router.post(
    "/bulk-jobs/{bulk_id}/webhook/redeliver",
    status_code=202,
    responses=_REDELIVER_ERRORS,
    dependencies=[NO_FORM_BODY],
    summary="Queue a fresh delivery of any tenant's bulk job's webhook event (same webhook-id)",
)
async def redeliver_bulk(bulk_id: str, operations: Operations, caller: ModelsAdmin) -> NumpyJSONResponse:
    await operations.redeliver_bulk(caller, bulk_id)
    return NumpyJSONResponse({"bulk_id": bulk_id, "redelivery": "queued"}, 202)
