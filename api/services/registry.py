"""The model repository as the API services reach it: every call runs in a worker thread, never
on the event loop. A lookup may scan directories and parse files, and a version whose
version.json holds no signature (one dropped in by hand) is loaded in its runtime to read it."""

import asyncio
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from maas.core.errors import ReadOnlyRepositoryError
from maas.core.signature import Signature
from maas.models import store as model_store
from maas.models.registry import ModelRepository, ModelVersion


@dataclass
class Upload:
    """A model version received by the API, staged outside the repository."""

    path: Path  # the staged model file, named model<suffix>, in the staged version directory
    filename: str
    config: dict | None
    data_files: list[str] = field(default_factory=list)  # its external data, relative to its folder


class AsyncRegistry:
    """ModelRepository's methods as coroutines; one shared instance per app, so a change made
    through it (forget after a write) is seen by every service at once."""

    def __init__(self, repository: ModelRepository, read_from: str | None = None):
        self.repository = repository
        self.read_from = read_from  # the object store this repository mirrors: no writes here

    def check_writable(self) -> None:
        """Refuses a new version, config patch or retire where the repository is an object
        store's mirror: the next sync would undo it, and no other host would see it."""
        if self.read_from:
            raise ReadOnlyRepositoryError(
                f"the model repository is read from {self.read_from} (MAAS_MODEL_REPOSITORY_URL): "
                "write versions, config.json and retired.json there; this API picks them up within "
                "MAAS_MODEL_RESCAN_S (aliases are set here as usual)"
            )

    async def get(
        self, name: str, version: int | str | None = None, include_retired: bool = False
    ) -> ModelVersion:
        # A lookup made in the last recheck_s seconds is a dict read: no thread hand-off for it
        # (the hot path of every job submit).
        if (found := self.repository.recent(name, version, include_retired)) is not None:
            # Still a turn of the loop, as the thread hop was: a burst of submits then opens its
            # Redis connections in a cheap turn, not after every request's parsing (a connect
            # waiting that long would time out on a loaded machine).
            await asyncio.sleep(0)
            return found
        return await asyncio.to_thread(self.repository.get, name, version, include_retired)

    async def names(self) -> list[str]:
        return await asyncio.to_thread(self.repository.names)

    async def versions(self, name: str) -> list[int]:
        return await asyncio.to_thread(self.repository.versions, name)

    async def aliases(self, name: str) -> dict[str, int]:
        return await asyncio.to_thread(self.repository.aliases.read, name)

    async def add_version(
        self, name: str, upload: Upload, extras: dict[str, bytes], signature: Signature
    ) -> ModelVersion:
        """Writes the staged upload as the next version of `name` (its signature stored in
        version.json; its files moved, not copied) and reads it back; this process's cached
        lookups of the model are dropped first."""
        self.check_writable()
        version = await asyncio.to_thread(
            partial(model_store.add_version, self.repository.root, name, upload.path),
            config=upload.config,
            extras=extras,
            signature=signature,
            data_files=upload.data_files,
            move=True,
            next_version=self.repository.aliases.next_version,
        )
        self.repository.forget(name)
        return await self.get(name, version)

    async def update_config(self, name: str, version: int, patch: dict) -> tuple[dict, dict]:
        self.check_writable()
        return await asyncio.to_thread(self.repository.update_config, name, version, patch)

    async def retire(self, name: str, version: int, actor: str) -> dict:
        self.check_writable()
        return await asyncio.to_thread(self.repository.retire, name, version, actor)

    async def set_alias(self, name: str, alias: str, version: int | None) -> tuple[int | None, int | None]:
        return await asyncio.to_thread(self.repository.set_alias, name, alias, version)

    async def rollback_alias(self, name: str, alias: str) -> tuple[int | None, int]:
        return await asyncio.to_thread(self.repository.rollback_alias, name, alias)
