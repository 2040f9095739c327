"""/v1/models/{name}/uploads: resumable uploads of a large version (api/chunked.py keeps them).
Create one with the file's name and size, PUT its chunks (`Content-Range: bytes a-b/size`, any
order, any number of times), GET what arrived, then finish with the file's sha256: the version
is validated and created as a one-request upload is."""

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.chunked import parse_content_range
from api.deps import AppSettings, Bodies, Models, ModelsAdmin
from api.guard import NO_FORM_BODY, media_type
from api.openapi import json_body
from api.routes.models import MANAGE
from api.schemas import ModelVersionPublic
from api.upload import check_upload_request, chunked_uploads, finished_upload, referenced_upload
from maas.core.errors import UnsupportedMediaTypeError
from maas.models.archive import ARCHIVE_SUFFIXES
from maas.models.store import MODEL_SUFFIXES, check_model_name

# What check_upload_request takes: a name ending in a model's or an archive's suffix, any case.
FILENAME_PATTERN = (
    "^.*("
    + "|".join(
        "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in suffix)
        for suffix in (*MODEL_SUFFIXES, *ARCHIVE_SUFFIXES)
    )
    + ")$"
)

router = APIRouter(prefix="/v1/models/{name}/uploads", tags=["models"])


class UploadCreate(BaseModel):
    filename: str = Field(
        pattern=FILENAME_PATTERN,
        description="The model (.onnx, .tflite) or archive (.tar, .tar.gz, .tgz, .zip).",
    )
    size_bytes: int = Field(ge=1)
    config: dict[str, Any] | None = None


class UploadFinish(BaseModel):
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")


class UploadByReference(BaseModel):
    path: str = Field(
        description="Absolute path under MAAS_UPLOAD_REFERENCE_DIRS, or object-store URL under "
        "MAAS_UPLOAD_REFERENCE_URLS (s3://...): a model, an archive or a version directory (prefix)."
    )
    config: dict[str, Any] | None = None


class UploadPublic(BaseModel):
    id: str
    name: str
    filename: str
    size_bytes: int
    received: list[list[int]] = Field(description="[start, end) byte ranges received, merged.")
    received_bytes: int
    complete: bool
    expires_at: float = Field(description="Epoch seconds; each chunk received extends it.")


@router.post(
    "", response_model=UploadPublic, status_code=201, responses=MANAGE, openapi_extra=json_body(UploadCreate)
)
async def create_upload(
    name: str, request: Request, settings: AppSettings, bodies: Bodies, models: Models, _: ModelsAdmin
) -> dict:
    models.check_writable()  # before gigabytes of chunks arrive for a version that cannot be written
    check_model_name(name)
    body = UploadCreate.model_validate(await bodies.small(request))
    config = check_upload_request(body.filename, body.size_bytes, body.config, settings)
    uploads = chunked_uploads(settings)
    return await asyncio.to_thread(uploads.create, name, body.filename, body.size_bytes, config)


@router.post(
    "/from-path",
    response_model=ModelVersionPublic,
    status_code=201,
    responses=MANAGE,
    openapi_extra=json_body(UploadByReference),
)
async def upload_by_reference(
    name: str,
    request: Request,
    response: Response,
    models: Models,
    settings: AppSettings,
    bodies: Bodies,
    actor: ModelsAdmin,
) -> dict:
    """Creates the next version from files the API can read (no transfer), validated as any upload."""
    check_model_name(name)
    body = UploadByReference.model_validate(await bodies.small(request))
    async with referenced_upload(body.path, body.config, settings) as upload:
        created = await models.upload_version(name=name, upload=upload, actor=actor)
    response.headers["Location"] = f"/v1/models/{name}/versions/{created['version']}"
    return created


@router.get("/{upload_id}", response_model=UploadPublic, responses=MANAGE)
async def read_upload(name: str, upload_id: str, settings: AppSettings, _: ModelsAdmin) -> dict:
    return await asyncio.to_thread(chunked_uploads(settings).state, name, upload_id)


@router.put("/{upload_id}", response_model=UploadPublic, responses=MANAGE)
async def put_chunk(
    name: str, upload_id: str, request: Request, settings: AppSettings, _: ModelsAdmin
) -> dict:
    """One chunk: the body is the bytes `Content-Range` names (application/octet-stream)."""
    if media_type(request) != "application/octet-stream":
        raise UnsupportedMediaTypeError("body: send the chunk as application/octet-stream")
    uploads = chunked_uploads(settings)
    size = await asyncio.to_thread(uploads.size_of, name, upload_id)
    span = parse_content_range(request.headers.get("content-range"), size, settings.upload_chunk_max_bytes)
    await uploads.write(name, upload_id, span, request.stream())
    return await asyncio.to_thread(uploads.record, name, upload_id, span)


@router.post(
    "/{upload_id}/finish",
    response_model=ModelVersionPublic,
    status_code=201,
    responses=MANAGE,
    openapi_extra=json_body(UploadFinish),
)
async def finish_upload(
    name: str,
    upload_id: str,
    request: Request,
    response: Response,
    models: Models,
    settings: AppSettings,
    bodies: Bodies,
    actor: ModelsAdmin,
) -> dict:
    """Checks every byte arrived and the sha256, then validates and creates the version."""
    body = UploadFinish.model_validate(await bodies.small(request))
    async with finished_upload(name, upload_id, body.sha256, settings) as upload:
        created = await models.upload_version(name=name, upload=upload, actor=actor)
    response.headers["Location"] = f"/v1/models/{name}/versions/{created['version']}"
    return created


@router.delete("/{upload_id}", status_code=204, responses=MANAGE, dependencies=[NO_FORM_BODY])
async def delete_upload(name: str, upload_id: str, settings: AppSettings, _: ModelsAdmin) -> Response:
    await asyncio.to_thread(chunked_uploads(settings).delete, name, upload_id)
    return Response(status_code=204)
