"""/v1/bulk-jobs: submit a file for offline scoring, follow it, cancel it, download its output
and errors. Translates HTTP; BulkService does the work."""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import StreamingResponse

from api.deps import AppSettings, Bulk, BulkReader, BulkWriter
from api.responses import NumpyJSONResponse
from api.schemas import ErrorBody
from api.schemas_bulk import BulkJobCreate, BulkJobList, BulkJobPublic
from api.services.bulk import MEDIA_TYPES
from batching.bulk.record import bulk_public
from maas.core.errors import InvalidInputError, PayloadTooLargeError

router = APIRouter(prefix="/v1/bulk-jobs", tags=["bulk jobs"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    410: {"model": ErrorBody},
    413: {"model": ErrorBody},
    422: {"model": ErrorBody},
    503: {"model": ErrorBody},
}


def _json_field(name: str, text: str | None) -> object:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise InvalidInputError(f"{name}: malformed JSON: {e}", (name,)) from e


def _version(text: str | None) -> int | str | None:
    return int(text) if text is not None and text.isdigit() else text


@router.post(
    "",
    status_code=202,
    responses={202: {"model": BulkJobPublic}, **_ERRORS},
    summary="Submit a JSONL, .npy or .npz file (upload, or a server-side path) for scoring",
)
async def create_bulk_job(
    request: Request,
    bulk: Bulk,
    settings: AppSettings,
    caller: BulkWriter,
    model: str = Form(description="Model name."),
    file: Annotated[UploadFile | None, File(description=".jsonl, .npy or .npz")] = None,
    version: str | None = Form(None, description="A version, `latest` or an alias."),
    format: str | None = Form(None, description="jsonl, npy or npz; default: the file's suffix."),
    path: str | None = Form(None, description="A server-side file (when the server allows it)."),
    chunk_rows: int | None = Form(None, description="Rows per chunk."),
    retention_s: int | None = Form(None, description="Keep files and record this long after it ends."),
    webhook: str | None = Form(None, description='JSON: {"url": ..., "events": [...]}'),
    metadata: str | None = Form(None, description="JSON object, returned with the bulk job."),
) -> NumpyJSONResponse:
    declared = request.headers.get("content-length")
    limit = settings.bulk_max_upload_bytes
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise PayloadTooLargeError(f"body of {declared} bytes exceeds the limit of {limit}")
    body = BulkJobCreate.model_validate(
        {
            "model": model,
            "version": _version(version),
            "format": format,
            "path": path,
            "chunk_rows": chunk_rows,
            "retention_s": retention_s,
            "webhook": _json_field("webhook", webhook),
            "metadata": _json_field("metadata", metadata),
        }
    )
    if file is not None and path is not None:
        raise InvalidInputError("file: give a file or a path, not both", ("path",))
    filename = file.filename if file is not None else (path or "")
    record = await bulk.submit(caller, body, file.file if file is not None else None, filename or "")
    return NumpyJSONResponse(
        bulk_public(record), status_code=202, headers={"Location": f"/v1/bulk-jobs/{record.id}"}
    )


@router.get("", response_model=BulkJobList)
async def list_bulk_jobs(
    bulk: Bulk,
    caller: BulkReader,
    limit: int = Query(20, ge=1, le=1000),
    before: float | None = Query(None, description="Only jobs created before (epoch seconds)."),
) -> NumpyJSONResponse:
    records = await bulk.recent(caller, limit=limit, before=before)
    return NumpyJSONResponse({"data": [bulk_public(r) for r in records]})


@router.get("/{bulk_id}", responses={200: {"model": BulkJobPublic}, **_ERRORS})
async def read_bulk_job(bulk_id: str, bulk: Bulk, caller: BulkReader) -> NumpyJSONResponse:
    return NumpyJSONResponse(bulk_public(await bulk.get(caller, bulk_id)))


@router.post("/{bulk_id}/cancel", responses={200: {"model": BulkJobPublic}, **_ERRORS})
async def cancel_bulk_job(bulk_id: str, bulk: Bulk, caller: BulkWriter) -> NumpyJSONResponse:
    return NumpyJSONResponse(bulk_public(await bulk.cancel(caller, bulk_id)))


@router.delete(
    "/{bulk_id}",
    responses={200: {"model": BulkJobPublic}, **_ERRORS},
    summary="Delete an ended job's files now; its record stays (deleted_at) until its retention ends",
)
async def delete_bulk_job(bulk_id: str, bulk: Bulk, caller: BulkWriter) -> NumpyJSONResponse:
    return NumpyJSONResponse(bulk_public(await bulk.delete(caller, bulk_id)))


@router.get(
    "/{bulk_id}/output",
    responses=_ERRORS,
    summary="The results in input order: JSONL, or .npy/.npz like the input",
)
async def bulk_output(
    bulk_id: str,
    bulk: Bulk,
    caller: BulkReader,
    format: str | None = Query(None, description="jsonl (any job), npy or npz (array jobs)."),
) -> StreamingResponse:
    fmt, stream = await bulk.output(caller, bulk_id, format)
    disposition = f'attachment; filename="{bulk_id}.{fmt}"'
    return StreamingResponse(
        stream, media_type=MEDIA_TYPES[fmt], headers={"Content-Disposition": disposition}
    )


@router.get(
    "/{bulk_id}/errors",
    responses=_ERRORS,
    summary="One JSONL line per failed row: its id, its row number and the reason",
)
async def bulk_errors(bulk_id: str, bulk: Bulk, caller: BulkReader) -> StreamingResponse:
    return StreamingResponse(await bulk.errors(caller, bulk_id), media_type=MEDIA_TYPES["jsonl"])
