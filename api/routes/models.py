"""/v1/models: what can be served, and managing it (upload, configure, retire, aliases)."""

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from api.auth import management_actor
from api.body import read_json
from api.schemas import (
    AliasPublic,
    AliasUpdate,
    ErrorBody,
    ModelPublic,
    ModelVersionPublic,
    RetiredPublic,
)
from api.services import models as management
from api.services.jobs import DataPlane
from api.services.model_upload import received_upload
from maas.core.errors import MaasError
from maas.models.registry import ModelVersion

router = APIRouter(prefix="/v1/models", tags=["models"])
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    422: {"model": ErrorBody},
}
MANAGE: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, **ERRORS}
Actor = Depends(management_actor)


def _plane(request: Request) -> DataPlane:
    return request.app.state.dataplane


async def _holders(plane: DataPlane) -> dict[str, list[dict]]:
    return await management.holders(plane.store.redis, plane.settings.heartbeat_interval_s)


async def _version_public(plane: DataPlane, model: ModelVersion) -> dict:
    return management.version_public(model, await _holders(plane))


async def _model_public(plane: DataPlane, name: str, held: dict[str, list[dict]]) -> dict:
    latest = await asyncio.to_thread(plane.registry.get, name)
    return {
        "name": name,
        "versions": await asyncio.to_thread(plane.registry.versions, name),
        "aliases": await asyncio.to_thread(plane.registry.aliases.read, name),
        "latest": management.version_public(latest, held),
    }


@router.get("", response_model=list[ModelPublic])
async def list_models(request: Request) -> list[dict]:
    plane = _plane(request)
    held = await _holders(plane)  # one read of the heartbeats for the whole list
    listed = []
    for name in await asyncio.to_thread(plane.registry.names):
        try:
            listed.append(await _model_public(plane, name, held))
        except MaasError:
            continue  # a model that cannot load is not listed as servable; its GET says why
    return listed


@router.get("/{name}", response_model=ModelPublic, responses=ERRORS)
async def read_model(name: str, request: Request) -> dict:
    plane = _plane(request)
    return await _model_public(plane, name, await _holders(plane))


@router.post("/{name}/versions", response_model=ModelVersionPublic, status_code=201, responses=MANAGE)
async def create_version(name: str, request: Request, response: Response, actor: str = Actor) -> dict:
    """Uploads the next version: multipart `file` (.onnx or .tflite) and optional `config` (JSON).
    It is validated (loads, batches) before anything is written; a rejected file leaves the
    repository unchanged."""
    plane = _plane(request)
    staging = plane.settings.state_dir / "uploads"
    async with received_upload(request, staging, plane.settings.max_model_bytes) as upload:
        model = await management.upload_version(plane.registry, plane.store.redis, actor, name, upload)
    response.headers["Location"] = f"/v1/models/{name}/versions/{model.version}"
    return await _version_public(plane, model)


@router.get("/{name}/versions/{version}", response_model=ModelVersionPublic, responses=ERRORS)
async def read_version(name: str, version: int, request: Request) -> dict:
    plane = _plane(request)
    model = await asyncio.to_thread(plane.registry.get, name, version, True)
    return await _version_public(plane, model)


@router.patch("/{name}/versions/{version}/config", response_model=ModelVersionPublic, responses=MANAGE)
async def patch_config(name: str, version: int, request: Request, actor: str = Actor) -> dict:
    """A JSON merge patch of the version's config (null removes a key); workers apply it
    without a restart."""
    plane = _plane(request)
    patch = await read_json(request, plane.settings.max_body_bytes)
    model = await management.update_config(plane.registry, plane.store.redis, actor, name, version, patch)
    return await _version_public(plane, model)


@router.delete("/{name}/versions/{version}", response_model=RetiredPublic, responses=MANAGE)
async def retire_version(name: str, version: int, request: Request, actor: str = Actor) -> dict:
    """Retires a version: new jobs get 404, queued ones still run; 409 while an alias points to it."""
    plane = _plane(request)
    return await management.retire_version(plane.registry, plane.store.redis, actor, name, version)


@router.put("/{name}/aliases/{alias}", response_model=AliasPublic, responses=MANAGE)
async def put_alias(name: str, alias: str, body: AliasUpdate, request: Request, actor: str = Actor) -> dict:
    plane = _plane(request)
    return await management.set_alias(plane.registry, plane.store.redis, actor, name, alias, body.version)


@router.post("/{name}/aliases/{alias}/rollback", response_model=AliasPublic, responses=MANAGE)
async def rollback_alias(name: str, alias: str, request: Request, actor: str = Actor) -> dict:
    """Points the alias back at the version it pointed to before its last change."""
    plane = _plane(request)
    return await management.rollback_alias(plane.registry, plane.store.redis, actor, name, alias)


@router.delete("/{name}/aliases/{alias}", response_model=AliasPublic, responses=MANAGE)
async def remove_alias(name: str, alias: str, request: Request, actor: str = Actor) -> dict:
    plane = _plane(request)
    return await management.delete_alias(plane.registry, plane.store.redis, actor, name, alias)
