"""/v1/models: what can be served, with signatures and batching policies."""

import asyncio

from fastapi import APIRouter, Request

from api.schemas import ErrorBody, ModelPublic, ModelVersionPublic
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
        name=name, versions=registry.versions(name), latest=_version_public(latest)
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
