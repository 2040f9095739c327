"""The worker process: loads its models, serves one lane per model version, drains on SIGTERM."""

import asyncio
import logging
import os
import secrets
import signal
import socket

import redis.asyncio as aioredis

from batching.connection import connect
from batching.heartbeat import forget, heartbeat_forever
from batching.store import JobStore
from maas.errors import ModelLoadError
from maas.registry import ModelRepository, ModelVersion
from maas.settings import Settings
from worker.lane_loop import LaneLoop, Reliability
from worker.runtimes import load_runtime

log = logging.getLogger(__name__)


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def served_versions(registry: ModelRepository, models: list[str]) -> list[ModelVersion]:
    """Every version of the named models (all models when none are named) that loads."""
    served = []
    for name in models or registry.names():
        for version in registry.versions(name):
            try:
                served.append(registry.get(name, version))
            except ModelLoadError as e:
                log.error("not serving %s v%s: %s", name, version, e.message)
    return served


class Worker:
    def __init__(self, settings: Settings, redis: aioredis.Redis):
        self.settings = settings
        self.redis = redis
        self.worker_id = new_worker_id()
        self.stopping = asyncio.Event()

    async def load_lanes(self, registry: ModelRepository) -> list[LaneLoop]:
        store = JobStore(self.redis, self.settings.result_ttl_s)
        reliability = Reliability(self.settings.visibility_timeout_s, self.settings.max_deliveries)
        lanes = []
        for model in served_versions(registry, self.settings.worker_models):
            try:
                runtime = await asyncio.to_thread(
                    load_runtime, model, self.settings.device, self.settings.allow_plugin_runtimes
                )
            except ModelLoadError as e:
                log.error("not serving %s v%s: %s", model.name, model.version, e.message)
                continue
            lanes.append(LaneLoop(model, runtime, store, self.worker_id, reliability))
        return lanes

    async def run(self, registry: ModelRepository) -> None:
        lanes = await self.load_lanes(registry)
        if not lanes:
            raise ModelLoadError(f"no servable model in {registry.root}")
        info = {"models": [f"{lane.model.name}:{lane.model.version}" for lane in lanes],
                "device": self.settings.device, "pid": os.getpid()}
        beating = asyncio.create_task(
            heartbeat_forever(self.redis, self.worker_id, info, self.settings.heartbeat_interval_s)
        )
        log.info("worker %s serving %s", self.worker_id, info["models"])
        try:
            await asyncio.gather(*(lane.run(self.stopping) for lane in lanes))
        finally:
            beating.cancel()
            await forget(self.redis, self.worker_id)
        log.info("worker %s stopped", self.worker_id)


async def run_worker(settings: Settings) -> None:
    """Entry point of `maas worker`: SIGTERM/SIGINT drains, a second signal exits at once."""
    redis = connect(settings.redis_url, settings.redis_max_connections)
    worker = Worker(settings, redis)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def on_signal() -> None:
        if worker.stopping.is_set():
            main.cancel()
        worker.stopping.set()
        loop.call_later(settings.drain_timeout_s, main.cancel)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await worker.run(ModelRepository(settings.model_repository))
    finally:
        await redis.aclose()
