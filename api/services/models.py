"""Model management behind the /v1/models routes, on plain values (no HTTP here): what can be
served, and every change to it, each one audited and announced to the workers so they act on it
within a moment."""

import asyncio
import time
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from api.services.audit_trail import AuditTrail
from api.services.registry import AsyncRegistry, Upload
from batching.heartbeat import holders_by_version, live_worker_infos
from maas.core.access import Caller
from maas.core.errors import ConflictError, InvalidInputError, MaasError, ModelNotFoundError
from maas.core.settings import Settings
from maas.models import store as model_store
from maas.models.config import ModelConfig, runtime_refusal
from maas.models.registry import ModelVersion, check_serves
from maas.models.sandbox import validate_in_child


def version_status(model: ModelVersion, holders: list[dict]) -> str:
    if model.retired:
        return "retired"
    states = {h["state"] for h in holders}
    for status in ("ready", "loading"):
        if status in states:
            return status
    return "failed" if states else "unloaded"


def _size_bytes(model: ModelVersion) -> int:
    if size := model.metadata.get("size_bytes"):
        return size
    try:
        return model.path.stat().st_size
    except FileNotFoundError:  # removed since the lookup was cached (by hand, or by a bucket sync)
        gone = f"model {model.name!r} version {model.version}: its files are gone"
        raise ModelNotFoundError(gone) from None


def version_public(model: ModelVersion, held: dict[str, list[dict]]) -> dict:
    holders = held.get(f"{model.name}:{model.version}", [])
    return {
        "name": model.name,
        "version": model.version,
        "runtime": model.runtime,
        "signature": model.signature.to_dict(),
        "config": model.config.model_dump(),
        "sha256": model.sha256,
        "size_bytes": _size_bytes(model),
        "created_at": model.metadata.get("created_at"),
        "status": version_status(model, holders),
        "retired": model.retired,
        "workers": holders,
    }


def visible(model: ModelVersion, caller: Caller) -> ModelVersion:
    """The version, if its `access` lets the caller see it; else the 404 of an unknown one."""
    if not caller.may_use(model.config.access):
        raise ModelNotFoundError(f"model {model.name!r} not found")
    return model


READY_POLL_S = 0.1  # heartbeats come every MAAS_HEARTBEAT_INTERVAL_S; a state change sends one at once


@dataclass
class ModelService:
    registry: AsyncRegistry
    redis: aioredis.Redis
    settings: Settings
    audit: AuditTrail

    def _check_runtime(self, config: dict, loc: tuple[str, ...]) -> None:
        """422 for a config whose `runtime` no worker would load (a plugin class where
        MAAS_ALLOW_PLUGIN_RUNTIMES is off): stored, it would stop the version from serving."""
        runtime = config.get("runtime")
        if isinstance(runtime, str) and (
            refusal := runtime_refusal(runtime, self.settings.allow_plugin_runtimes)
        ):
            raise InvalidInputError(f"{'.'.join(loc)}: {refusal}", loc)

    async def _holders(self) -> dict[str, list[dict]]:
        """Which live workers hold which versions, read once for a whole answer."""
        return holders_by_version(await live_worker_infos(self.redis, self.settings.heartbeat_interval_s))

    async def _model_public(self, name: str, held: dict[str, list[dict]], caller: Caller) -> dict:
        latest = visible(await self.registry.get(name), caller)
        return {
            "name": name,
            "versions": await self.registry.versions(name),
            "aliases": await self.registry.aliases(name),
            "latest": version_public(latest, held),
        }

    async def list(self, caller: Caller) -> list[dict]:
        """Every servable model the caller may see; one that cannot load is left out (its own
        read says why)."""
        held = await self._holders()  # one read of the heartbeats for the whole list
        listed = []
        for name in await self.registry.names():
            try:
                listed.append(await self._model_public(name, held, caller))
            except MaasError:
                continue
        return listed

    async def read(self, name: str, caller: Caller) -> dict:
        return await self._model_public(name, await self._holders(), caller)

    async def read_version(self, *, name: str, version: int, caller: Caller) -> dict:
        model = visible(await self.registry.get(name, version, True), caller)
        return version_public(model, await self._holders())

    async def upload_version(self, *, name: str, upload: Upload, actor: Caller) -> dict:
        """Validates the upload (loads, batches, answers a trial batch) in a child process within
        the upload limits, then writes it as the next version with its signature; a rejected file
        leaves the repository unchanged."""
        self.registry.check_writable()
        model_store.check_model_name(name)
        config = ModelConfig.model_validate(upload.config or {})
        self._check_runtime(upload.config or {}, ("config", "runtime"))
        try:
            signature = await validate_in_child(upload.path, config.fixed_batch_size, self.settings)
            await asyncio.to_thread(check_serves, upload.path, config, signature)
        except MaasError as e:
            # The loaders name the staged file; the client knows it by its own name.
            e.message = e.message.replace(str(upload.path), upload.filename or upload.path.name)
            e.args = (e.message,)
            raise
        metadata = orjson.dumps({"uploaded_by": actor.key_name, "filename": upload.filename})
        extras = {model_store.METADATA_FILE: metadata}
        model = await self.registry.add_version(name, upload, extras, signature)
        target, after = f"{name}:{model.version}", {"sha256": model.sha256, "config": upload.config}
        await self.audit.changed(
            actor, "version.create", target, None, after, name=name, version=model.version
        )
        return version_public(model, await self._holders())

    def check_writable(self) -> None:
        """Before an upload is received: refused at once where the repository is read-only."""
        self.registry.check_writable()

    async def update_config(self, *, name: str, version: int, patch: object, actor: Caller) -> dict:
        if not isinstance(patch, dict):
            raise InvalidInputError('body: a JSON merge patch object, e.g. {"max_batch_size": 32}', ("body",))
        self._check_runtime(patch, ("runtime",))
        before, after = await self.registry.update_config(name, version, patch)
        await self.audit.changed(
            actor, "version.config", f"{name}:{version}", before, after, name=name, version=version
        )
        model = await self.registry.get(name, version)
        return version_public(model, await self._holders())

    async def retire_version(self, *, name: str, version: int, actor: Caller) -> dict:
        record = await self.registry.retire(name, version, actor.key_name)
        await self.audit.changed(
            actor, "version.retire", f"{name}:{version}", None, record, name=name, version=version
        )
        return {"name": name, "version": version, **record}

    async def wait_ready(self, name: str, version: int, workers: int, timeout_s: float) -> None:
        """Returns once `workers` live workers report the version ready; ConflictError (alias
        unchanged) when they have not within timeout_s."""
        await self.registry.get(name, version)  # 404 for an unknown or retired version first
        deadline = time.monotonic() + timeout_s
        while True:
            holders = (await self._holders()).get(f"{name}:{version}", [])
            ready = [h for h in holders if h["state"] == "ready"]
            if len(ready) >= workers:
                return
            if time.monotonic() >= deadline:
                states = ", ".join(f"{h['worker']}={h['state']}" for h in holders) or "no worker holds it"
                raise ConflictError(
                    f"model {name!r} version {version} is ready on {len(ready)} of the {workers} "
                    f"workers asked for after {timeout_s:g} s ({states}); the alias is unchanged"
                )
            await asyncio.sleep(READY_POLL_S)

    async def set_alias(
        self, *, name: str, alias: str, version: int, actor: Caller, wait_workers: int = 0, wait_s: float = 60
    ) -> dict:
        if wait_workers:
            await self.wait_ready(name, version, wait_workers, wait_s)
        before, after = await self.registry.set_alias(name, alias, version)
        await self.audit.changed(
            actor, "alias.set", f"{name}:{alias}", before, after, name=name, version=after
        )
        return {"name": name, "alias": alias, "version": after, "previous": before}

    async def rollback_alias(self, *, name: str, alias: str, actor: Caller) -> dict:
        before, after = await self.registry.rollback_alias(name, alias)
        await self.audit.changed(
            actor, "alias.rollback", f"{name}:{alias}", before, after, name=name, version=after
        )
        return {"name": name, "alias": alias, "version": after, "previous": before}

    async def delete_alias(self, *, name: str, alias: str, actor: Caller) -> dict:
        if alias not in await self.registry.aliases(name):
            raise ModelNotFoundError(f"model {name!r} has no alias {alias!r}")
        before, _ = await self.registry.set_alias(name, alias, None)
        # Audited, not announced: removing an alias changes no version, so workers have nothing to rescan.
        await self.audit.record(actor, "alias.delete", f"{name}:{alias}", before, None)
        return {"name": name, "alias": alias, "version": None, "previous": before}
