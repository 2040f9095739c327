"""Model management actions behind the /v1/models routes: each one audited, and announced to the
workers so they act on it within a moment."""

import asyncio

import orjson
import redis.asyncio as aioredis

from api.services.model_upload import Upload
from batching import audit, model_events
from batching.heartbeat import holders_by_version, live_worker_infos
from maas.core.errors import InvalidInputError, ModelNotFoundError
from maas.models import store as model_store
from maas.models.registry import ModelConfig, ModelRepository, ModelVersion, check_serves
from maas.models.validation import validate_model_file


def version_status(model: ModelVersion, holders: list[dict]) -> str:
    if model.retired:
        return "retired"
    states = {h["state"] for h in holders}
    for status in ("ready", "loading"):
        if status in states:
            return status
    return "failed" if states else "unloaded"


async def holders(redis: aioredis.Redis, heartbeat_s: float) -> dict[str, list[dict]]:
    """Which live workers hold which versions, read once for a whole answer."""
    return holders_by_version(await live_worker_infos(redis, heartbeat_s))


def version_public(model: ModelVersion, held: dict[str, list[dict]]) -> dict:
    holders = held.get(f"{model.name}:{model.version}", [])
    return {
        "name": model.name,
        "version": model.version,
        "runtime": model.runtime,
        "signature": model.signature.to_dict(),
        "config": model.config.model_dump(),
        "sha256": model.sha256,
        "size_bytes": model.metadata.get("size_bytes") or model.path.stat().st_size,
        "created_at": model.metadata.get("created_at"),
        "status": version_status(model, holders),
        "retired": model.retired,
        "workers": holders,
    }


async def _changed(
    redis: aioredis.Redis,
    actor: str,
    action: str,
    target: str,
    before: object,
    after: object,
    name: str,
    version: int | None,
) -> None:
    """Every management change is audited, then announced to the workers."""
    await audit.record(redis, actor, action, target, before, after)
    await model_events.announce(redis, action, name, version)


async def upload_version(
    registry: ModelRepository, redis: aioredis.Redis, actor: str, name: str, upload: Upload
) -> ModelVersion:
    model_store.check_model_name(name)
    config = ModelConfig.model_validate(upload.config or {})
    await asyncio.to_thread(validate_model_file, upload.path, config.fixed_batch_size)
    await asyncio.to_thread(check_serves, upload.path, config)
    metadata = orjson.dumps({"uploaded_by": actor, "filename": upload.filename})
    version = await asyncio.to_thread(
        model_store.add_version,
        registry.root,
        name,
        upload.path,
        upload.config,
        {model_store.METADATA_FILE: metadata},
    )
    registry.forget(name)
    model = await asyncio.to_thread(registry.get, name, version)
    after = {"sha256": model.sha256, "config": upload.config}
    await _changed(redis, actor, "version.create", f"{name}:{version}", None, after, name, version)
    return model


async def update_config(
    registry: ModelRepository, redis: aioredis.Redis, actor: str, name: str, version: int, patch: object
) -> ModelVersion:
    if not isinstance(patch, dict):
        raise InvalidInputError('body: a JSON merge patch object, e.g. {"max_batch_size": 32}', ("body",))
    before, after = await asyncio.to_thread(registry.update_config, name, version, patch)
    await _changed(redis, actor, "version.config", f"{name}:{version}", before, after, name, version)
    return await asyncio.to_thread(registry.get, name, version)


async def retire_version(
    registry: ModelRepository, redis: aioredis.Redis, actor: str, name: str, version: int
) -> dict:
    record = await asyncio.to_thread(registry.retire, name, version, actor)
    await _changed(redis, actor, "version.retire", f"{name}:{version}", None, record, name, version)
    return {"name": name, "version": version, **record}


async def set_alias(
    registry: ModelRepository, redis: aioredis.Redis, actor: str, name: str, alias: str, version: int
) -> dict:
    before, after = await asyncio.to_thread(registry.set_alias, name, alias, version)
    await _changed(redis, actor, "alias.set", f"{name}:{alias}", before, after, name, after)
    return {"name": name, "alias": alias, "version": after, "previous": before}


async def rollback_alias(
    registry: ModelRepository, redis: aioredis.Redis, actor: str, name: str, alias: str
) -> dict:
    before, after = await asyncio.to_thread(registry.rollback_alias, name, alias)
    await _changed(redis, actor, "alias.rollback", f"{name}:{alias}", before, after, name, after)
    return {"name": name, "alias": alias, "version": after, "previous": before}


async def delete_alias(
    registry: ModelRepository, redis: aioredis.Redis, actor: str, name: str, alias: str
) -> dict:
    if alias not in await asyncio.to_thread(registry.aliases.read, name):
        raise ModelNotFoundError(f"model {name!r} has no alias {alias!r}")
    before, _ = await asyncio.to_thread(registry.set_alias, name, alias, None)
    await audit.record(redis, actor, "alias.delete", f"{name}:{alias}", before, None)
    return {"name": name, "alias": alias, "version": None, "previous": before}
