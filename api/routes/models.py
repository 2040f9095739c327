"""/v1/models: what can be served, and managing it (upload, configure, retire, aliases).
Translates HTTP; ModelService does the work."""

from typing import Any

from fastapi import APIRouter, Request, Response

from api.deps import AppSettings, Bodies, Models, ModelsAdmin, ModelsReader
from api.guard import NO_FORM_BODY
from api.openapi import json_body
from api.schemas import (
    AliasPublic,
    AliasUpdate,
    ErrorBody,
    ModelPublic,
    ModelVersionPublic,
    RetiredPublic,
)
from api.upload import received_upload

router = APIRouter(prefix="/v1/models", tags=["models"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    422: {"model": ErrorBody},
}
MANAGE: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    415: {"model": ErrorBody},
    **ERRORS,
}


@router.get("", response_model=list[ModelPublic])
async def list_models(models: Models, caller: ModelsReader) -> list[dict]:
    return await models.list(caller)


@router.get("/{name}", response_model=ModelPublic, responses=ERRORS)
async def read_model(name: str, models: Models, caller: ModelsReader) -> dict:
    return await models.read(name, caller)


@router.post("/{name}/versions", response_model=ModelVersionPublic, status_code=201, responses=ERRORS)
async def create_version(
    name: str, request: Request, response: Response, models: Models, settings: AppSettings, actor: ModelsAdmin
) -> dict:
    """Uploads the next version: multipart `file` (.onnx or .tflite, or a .tar/.tar.gz/.tgz/.zip
    archive of the model with its external data files and config.json) and optional `config`.
    It is validated (loads, batches) before anything is written; a rejected file leaves the
    repository unchanged."""
    models.check_writable()  # before the body is read: it may be gigabytes
    async with received_upload(request, settings) as upload:
        created = await models.upload_version(name=name, upload=upload, actor=actor)
    response.headers["Location"] = f"/v1/models/{name}/versions/{created['version']}"
    return created


@router.get("/{name}/versions/{version}", response_model=ModelVersionPublic, responses=ERRORS)
async def read_version(name: str, version: int, models: Models, caller: ModelsReader) -> dict:
    return await models.read_version(name=name, version=version, caller=caller)


@router.patch("/{name}/versions/{version}/config", response_model=ModelVersionPublic, responses=ERRORS)
async def patch_config(
    name: str, version: int, request: Request, models: Models, bodies: Bodies, actor: ModelsAdmin
) -> dict:
    """A JSON merge patch of the version's config (null removes a key); workers apply it
    without a restart."""
    patch = await bodies.small(request)
    return await models.update_config(name=name, version=version, patch=patch, actor=actor)


@router.delete(
    "/{name}/versions/{version}", response_model=RetiredPublic, responses=MANAGE, dependencies=[NO_FORM_BODY]
)
async def retire_version(name: str, version: int, models: Models, actor: ModelsAdmin) -> dict:
    """Retires a version: new jobs get 404, queued ones still run; 409 while an alias points to it."""
    return await models.retire_version(name=name, version=version, actor=actor)


@router.put(
    "/{name}/aliases/{alias}",
    response_model=AliasPublic,
    responses=MANAGE,
    openapi_extra=json_body(AliasUpdate),
)
async def put_alias(
    name: str, alias: str, request: Request, models: Models, bodies: Bodies, actor: ModelsAdmin
) -> dict:
    """Points the alias at `{"version": v}`; with `wait_ready_workers: n`, only once n workers
    report the version ready (409 after `wait_timeout_s`, the alias unchanged)."""
    body = AliasUpdate.model_validate(await bodies.small(request))
    return await models.set_alias(
        name=name,
        alias=alias,
        version=body.version,
        actor=actor,
        wait_workers=body.wait_ready_workers,
        wait_s=body.wait_timeout_s,
    )


@router.post(
    "/{name}/aliases/{alias}/rollback",
    response_model=AliasPublic,
    responses=MANAGE,
    dependencies=[NO_FORM_BODY],
)
async def rollback_alias(name: str, alias: str, models: Models, actor: ModelsAdmin) -> dict:
    """Points the alias back at the version it pointed to before its last change."""
    return await models.rollback_alias(name=name, alias=alias, actor=actor)


@router.delete(
    "/{name}/aliases/{alias}", response_model=AliasPublic, responses=MANAGE, dependencies=[NO_FORM_BODY]
)
async def remove_alias(name: str, alias: str, models: Models, actor: ModelsAdmin) -> dict:
    return await models.delete_alias(name=name, alias=alias, actor=actor)
