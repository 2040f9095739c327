"""/v1/models: what can be served, with signatures and batching policies."""

import asyncio

from fastapi import APIRouter, Request

from api import management
from api.schemas import AliasPublic, AliasUpdate, ErrorBody, ModelPublic, ModelVersionPublic
from maas.errors import MaasError
from maas.registry import ModelRepository, ModelVersion

router = APIRouter(prefix="/v1/models", tags=["models"])


def _version_public(model: ModelVersion) -> dict:
    return ModelVersionPublic(
        name=model.name, version=model.version, runtime=model.runtime,
        signature=model.signature.to_dict(), config=model.config.model_dump(),
        sha256=model.sha256,
    ).model_dump()


def _model_public(registry: ModelRepository, name: str) -> dict:
    latest = registry.get(name)
    return ModelPublic(
        name=name, versions=registry.versions(name), aliases=registry.aliases.read(name),
        latest=_version_public(latest),
    ).model_dump()


@router.get("", response_model=list[ModelPublic])
async def list_models(request: Request) -> list[dict]:
    registry: ModelRepository = request.app.state.dataplane.registry
    listed = []
    for name in registry.names():
        try:
            listed.append(await asyncio.to_thread(_model_public, registry, name))
        except MaasError:
            continue  # a model that cannot load is not listed as servable; its GET says why
    return listed


@router.get("/{name}", response_model=ModelPublic, responses={404: {"model": ErrorBody}})
async def read_model(name: str, request: Request) -> dict:
    registry: ModelRepository = request.app.state.dataplane.registry
    return await asyncio.to_thread(_model_public, registry, name)


@router.get(
    "/{name}/versions/{version}", response_model=ModelVersionPublic,
    responses={404: {"model": ErrorBody}},
)
async def read_version(name: str, version: int, request: Request) -> dict:
    registry: ModelRepository = request.app.state.dataplane.registry
    return await asyncio.to_thread(lambda: _version_public(registry.get(name, version)))


def _actor(request: Request) -> str:
    """Who acts: the X-Actor header when given (no authentication yet), else the client."""
    return request.headers.get("x-actor") or (request.client.host if request.client else "unknown")


@router.put(
    "/{name}/aliases/{alias}", response_model=AliasPublic,
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def put_alias(name: str, alias: str, body: AliasUpdate, request: Request) -> dict:
    plane = request.app.state.dataplane
    return await management.set_alias(
        plane.registry, plane.store.redis, _actor(request), name, alias, body.version
    )


@router.delete("/{name}/aliases/{alias}", response_model=AliasPublic, responses={404: {"model": ErrorBody}})
async def remove_alias(name: str, alias: str, request: Request) -> dict:
    plane = request.app.state.dataplane
    return await management.delete_alias(plane.registry, plane.store.redis, _actor(request), name, alias)
