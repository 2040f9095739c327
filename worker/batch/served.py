"""What a worker holds for each version it serves, the rule for when a config change needs a
new runtime rather than a new lane loop."""

import asyncio
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis

from batching import keys
from maas.core.errors import ModelLoadError
from maas.models.registry import ModelRepository, ModelVersion
from worker.batch.lane_loop import LaneLoop
from worker.runtimes.base import Runtime

BATCHING_FIELDS = {"max_batch_size", "max_queue_delay_ms", "max_queue_rows", "preferred_batch_sizes"}
Key = tuple[str, int]
log = logging.getLogger(__name__)


@dataclass
class Served:
    model: ModelVersion
    runtime: Runtime
    loop: LaneLoop
    stopping: asyncio.Event
    task: asyncio.Task
    memory_bytes: int
    last_busy: float
    depth: int = 0  # online rows and bulk chunks waiting in its lanes at the last poll


def label(key: Key) -> str:
    return f"{key[0]}:{key[1]}"


def needs_new_runtime(old: ModelVersion, new: ModelVersion) -> bool:
    def runtime_part(model: ModelVersion) -> dict:
        return model.config.model_dump(exclude=BATCHING_FIELDS)

    return old.path != new.path or old.runtime != new.runtime or runtime_part(old) != runtime_part(new)


async def lane_depths(redis: aioredis.Redis, versions: list[Key]) -> list[int]:
    """Online rows and bulk chunks waiting in each version's lanes (RedisError when unread)."""
    async with redis.pipeline(transaction=False) as pipe:
        for name, version in versions:
            pipe.get(keys.lane_rows(keys.online_lane(name, version)))
            pipe.xlen(keys.bulk_lane(name, version))  # chunks are deleted once done
        answers = await pipe.execute()
    pairs = zip(answers[::2], answers[1::2], strict=True)
    return [int(rows or 0) + chunks for rows, chunks in pairs]


def scan(registry: ModelRepository, models: list[str]) -> tuple[dict[Key, ModelVersion], dict[Key, str]]:
    """The versions of `models` (every model when empty) the repository holds, retired ones
    included, and why each one that does not parse fails."""
    found, failures = {}, {}
    for name in models or registry.names(include_retired=True):
        for version in registry.versions(name, include_retired=True):
            try:
                found[(name, version)] = registry.get_uncached(name, version, include_retired=True)
            except ModelLoadError as e:
                failures[(name, version)] = e.message
    return found, failures
