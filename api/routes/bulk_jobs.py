"""/v1/bulk-jobs: submit a file for offline scoring, follow it, cancel it, download its output
and errors. Translates HTTP; BulkService does the work."""

from typing import Any, Literal

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import FormData

from api.deps import AppSettings, Bulk, BulkReader, BulkWriter
from api.forms import FormLimits, check_known_fields, file_field, received_form, text_field
from api.guard import NO_FORM_BODY
from api.responses import NumpyJSONResponse
from api.schemas import ErrorBody
from api.schemas_bulk import BulkJobCreate, BulkJobList, BulkJobPublic
from api.services.bulk import MEDIA_TYPES
from batching.bulk.record import bulk_public
from maas.core.errors import InvalidInputError, PayloadTooLargeError
from maas.core.settings import Settings

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


FORM_FIELDS = {
    "model": "Model name.",
    "version": "A version, `latest` or an alias.",
    "format": "jsonl, npy or npz; default: the file's suffix.",
    "path": "A server-side file instead of an upload (when the server allows it).",
    "chunk_rows": "Rows per chunk.",
    "retention_s": "Keep its files and record this long after it ends, seconds.",
    "webhook": 'JSON: {"url": ..., "events": [...]}',
    "metadata": "JSON object, returned with the bulk job.",
}
WANTED = "a `model` field and a `file` part (.jsonl, .npy or .npz) or a `path` field"
_FORM_SCHEMA = {
    "type": "object",
    "required": ["model"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": ".jsonl, .npy or .npz"},
        **{name: {"type": "string", "description": text} for name, text in FORM_FIELDS.items()},
    },
}


def form_limits(settings: Settings) -> FormLimits:
    limit = settings.bulk_max_upload_bytes
    field_bytes = max(64 * 1024, settings.max_metadata_bytes + 1024)
    return FormLimits(
        file_bytes=limit,
        too_large=lambda: PayloadTooLargeError(
            f"file: the upload exceeds the bulk input limit of {limit} bytes (MAAS_BULK_MAX_UPLOAD_BYTES)"
        ),
        field_bytes=field_bytes,
        max_fields=len(FORM_FIELDS),
        slack_bytes=64 * 1024 + len(FORM_FIELDS) * field_bytes,
        urlencoded=True,  # a submit naming a server-side `path` carries no file
    )


def _request_of(form: FormData) -> BulkJobCreate:
    check_known_fields(form, ("file", *FORM_FIELDS))
    fields = {name: text_field(form, name) for name in FORM_FIELDS}
    return BulkJobCreate.model_validate(
        {
            **fields,
            "version": _version(fields["version"]),
            "webhook": _json_field("webhook", fields["webhook"]),
            "metadata": _json_field("metadata", fields["metadata"]),
        }
    )


@router.post(
    "",
    status_code=202,
    responses={202: {"model": BulkJobPublic}, **_ERRORS},
    summary="Submit a JSONL, .npy or .npz file (upload, or a server-side path) for scoring",
    openapi_extra={
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _FORM_SCHEMA}}}
    },
)
async def create_bulk_job(
    request: Request,
    bulk: Bulk,
    settings: AppSettings,
    caller: BulkWriter,
    traceparent: str | None = Header(None, description="W3C trace context: split and chunk spans join it."),
) -> NumpyJSONResponse:
    """The form is read as it streams in: past MAAS_BULK_MAX_UPLOAD_BYTES (declared or not) the
    answer is a 413 at once."""
    async with received_form(request, form_limits(settings), WANTED) as form:
        body = _request_of(form)
        file = file_field(form, "file")
        if file is not None and body.path is not None:
            raise InvalidInputError("file: give a file or a path, not both", ("path",))
        filename = file.filename if file is not None else (body.path or "")
        upload = file.file if file is not None else None
        record = await bulk.submit(caller, body, upload, filename or "", traceparent)
    return NumpyJSONResponse(
        bulk_public(record), status_code=202, headers={"Location": f"/v1/bulk-jobs/{record.id}"}
    )


@router.get("", response_model=BulkJobList)
async def list_bulk_jobs(
    bulk: Bulk,
    caller: BulkReader,
    limit: int = Query(20, ge=1, le=1000),
    before: float | None = Query(
        None, allow_inf_nan=False, description="Only jobs created before (epoch seconds)."
    ),
) -> NumpyJSONResponse:
    records = await bulk.recent(caller, limit=limit, before=before)
    return NumpyJSONResponse({"data": [bulk_public(r) for r in records]})


@router.get("/{bulk_id}", responses={200: {"model": BulkJobPublic}, **_ERRORS})
async def read_bulk_job(bulk_id: str, bulk: Bulk, caller: BulkReader) -> NumpyJSONResponse:
    return NumpyJSONResponse(bulk_public(await bulk.get(caller, bulk_id)))


@router.post(
    "/{bulk_id}/cancel", responses={200: {"model": BulkJobPublic}, **_ERRORS}, dependencies=[NO_FORM_BODY]
)
async def cancel_bulk_job(bulk_id: str, bulk: Bulk, caller: BulkWriter) -> NumpyJSONResponse:
    return NumpyJSONResponse(bulk_public(await bulk.cancel(caller, bulk_id)))


@router.delete(
    "/{bulk_id}",
    responses={200: {"model": BulkJobPublic}, **_ERRORS},
    summary="Delete an ended job's files now; its record stays (deleted_at) until its retention ends",
    dependencies=[NO_FORM_BODY],
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
    # An unknown format is a 422 before the job is looked up (not a 404 or 410 for a bad query).
    format: Literal["jsonl", "npy", "npz"] | None = Query(
        None, description="jsonl (any job), npy or npz (array jobs)."
    ),
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
