"""Which model versions every live worker failed to load, from their heartbeats, so a job for
such a version is refused at once (503, with the workers' reason) rather than left to wait out
its queue time. Read at most once a second, not per job."""

import time

import redis.asyncio as aioredis

from batching.heartbeat import holders_by_version, live_worker_infos
from maas.core.errors import ModelLoadError
from maas.models.registry import ModelVersion

REFRESH_S = 1.0


class VersionHealth:
    def __init__(self, redis: aioredis.Redis, heartbeat_s: float):
        self.redis = redis
        self.heartbeat_s = heartbeat_s
        self._failed: dict[str, str] = {}  # "name:version" -> a worker's load error
        self._expires = 0.0

    async def check(self, model: ModelVersion) -> None:
        if time.monotonic() > self._expires:
            await self._refresh()
        error = self._failed.get(f"{model.name}:{model.version}")
        if error is not None:
            raise ModelLoadError(
                f"model {model.name!r} version {model.version} failed to load on every worker "
                f"that tried: {error}"
            )

    async def _refresh(self) -> None:
        self._expires = time.monotonic() + REFRESH_S
        states = holders_by_version(await live_worker_infos(self.redis, self.heartbeat_s))
        self._failed = {
            key: held[0].get("error") or "unknown error"
            for key, held in states.items()
            if all(s["state"] == "failed" for s in held)
        }
