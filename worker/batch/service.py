"""The worker process: serves one lane per model version it holds, reports them in its
heartbeat, drains on SIGTERM."""

import asyncio
import logging
import os
import secrets
import signal
import socket

import redis.asyncio as aioredis

from batching.connection import connect
from batching.heartbeat import forget, heartbeat_forever
from maas.core.log_fields import fields
from maas.core.settings import Settings
from maas.models.registry import ModelRepository
from maas.models.remote import RepositoryMirror, repository_root
from worker.batch.lane_manager import LaneManager
from worker.batch.memory import memory_budget_bytes, rss_bytes

log = logging.getLogger(__name__)


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Worker:
    def __init__(self, settings: Settings, redis: aioredis.Redis):
        self.settings = settings
        self.redis = redis
        self.worker_id = new_worker_id()
        self.stopping = asyncio.Event()
        self.lanes: LaneManager | None = None
        self._announced = False  # no heartbeat before the first load: it would say "ready"
        self._wake_heartbeat = asyncio.Event()
        self._budget_bytes = memory_budget_bytes(settings.worker_memory_budget_mb)

    def _info(self) -> dict:
        assert self.lanes is not None  # the heartbeat starts once run() set up the lanes
        ready_file = self.settings.worker_ready_file
        # Preloading, a worker is warm once a version serves (loaded and warmed up); lazily, at once.
        if ready_file is not None and (self.lanes.served or not self.settings.worker_preload):
            ready_file.parent.mkdir(parents=True, exist_ok=True)
            ready_file.touch()
        return {
            "models": self.lanes.reported_states(),
            "device": self.settings.device,
            "pid": os.getpid(),
            "rss_bytes": rss_bytes(),  # for the dashboard: one read of /proc per beat
            "memory_budget_bytes": self._budget_bytes,
        }

    def _beat_now(self) -> None:
        """Reports a model's new state at once rather than at the next heartbeat."""
        if self._announced and not self.stopping.is_set():
            self._wake_heartbeat.set()

    async def run(self, registry: ModelRepository, mirror: RepositoryMirror | None = None) -> None:
        self.lanes = LaneManager(self.settings, self.redis, registry, self.worker_id, self._beat_now, mirror)
        await self.lanes.start()
        if not self.lanes.known:
            log.warning("no servable model in %s yet; waiting for one", registry.root)
        self._announced = True
        stop_beating = asyncio.Event()  # beats go on while the lanes drain
        beating = asyncio.create_task(
            heartbeat_forever(
                self.redis,
                self.worker_id,
                self._info,
                self.settings.heartbeat_interval_s,
                self._wake_heartbeat,
                stop_beating,
            )
        )
        log.info("worker serving %s", self.lanes.serving(), extra=fields(worker_id=self.worker_id))
        try:
            await self.lanes.run(self.stopping)
        finally:
            stop_beating.set()
            self._wake_heartbeat.set()
            await beating
            await forget(self.redis, self.worker_id)
        log.info("worker stopped", extra=fields(worker_id=self.worker_id))


def repository_of(settings: Settings) -> tuple[ModelRepository, RepositoryMirror | None]:
    """The repository a worker serves, and the mirror that fills it from an object store."""
    root, mirror = repository_root(settings)
    return ModelRepository(root), mirror


async def run_worker(settings: Settings) -> None:
    """Entry point of `maas worker`: SIGTERM/SIGINT drains, a second signal exits at once."""
    if not settings.redis_url:
        raise ValueError("the worker needs MAAS_REDIS_URL")
    redis = connect(settings)
    worker = Worker(settings, redis)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None  # called from a coroutine, so inside a task

    def on_signal() -> None:
        if worker.stopping.is_set():
            main.cancel()
        worker.stopping.set()
        loop.call_later(settings.drain_timeout_s, main.cancel)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await worker.run(*repository_of(settings))
    finally:
        await redis.aclose()
