"""Shared fixtures: one real redis-server per session (flushed for every test), a throwaway model
repository of real ONNX files, the API in-process over ASGI, and an in-process worker."""

import asyncio
import contextlib
import json
import shutil
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from redis import Redis as SyncRedis

from api.app import create_app
from batching.connection import connect
from batching.heartbeat import live_workers
from maas.cli.redis_server import RedisServer
from maas.core.settings import Settings
from maas.models.registry import ModelRepository
from tests.support import onnx_models
from tests.support.processes import MaasProcesses
from worker.batch.service import Worker

REPO_ROOT = Path(__file__).resolve().parent.parent
DIGITS = REPO_ROOT / "models" / "digits" / "1"
DIGITS_V2_DELAY_MS = 30


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"), appendfsync=None)
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _empty_redis(request):
    """Every test that reaches the session's Redis starts from an empty one, whether or not it
    asks for the `redis` client: a test of processes may name only `settings`, and what an
    earlier test left (a lane's row count, a dead worker's report) would show on its pages."""
    if "redis_server" in request.fixturenames:
        with SyncRedis.from_url(request.getfixturevalue("redis_server").url) as client:
            client.flushall()


@pytest.fixture
async def redis(redis_server):
    client = aioredis.from_url(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
def model_repo(tmp_path) -> Path:
    root = tmp_path / "models"
    shutil.copytree(DIGITS, root / "digits" / "1")
    # Version 2: the same file with a longer queue delay, so coalescing is easy to observe.
    (root / "digits" / "2").mkdir()
    shutil.copy(DIGITS / "model.onnx", root / "digits" / "2" / "model.onnx")
    (root / "digits" / "2" / "config.json").write_text(
        json.dumps({"max_batch_size": 64, "max_queue_delay_ms": DIGITS_V2_DELAY_MS})
    )
    onnx_models.two_in_two_out(root / "pair" / "1" / "model.onnx")
    onnx_models.lookup(root / "lookup" / "1" / "model.onnx", {"max_queue_delay_ms": 50})
    return root


@pytest.fixture
def settings(redis_server, model_repo, tmp_path) -> Settings:
    return Settings(
        redis_url=redis_server.url,
        model_repository=model_repo,
        state_dir=tmp_path / "state",
        heartbeat_interval_s=0.2,
        max_body_bytes=256 * 1024,
        drain_timeout_s=5,
    )


@contextlib.asynccontextmanager
async def in_process_api(settings: Settings, wait_subscribed: bool = True):
    """The API app with its lifespan, and an httpx client talking to it over ASGI."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        if wait_subscribed:
            await asyncio.wait_for(app.state.services.jobs.events.subscribed.wait(), 5)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://maas") as client:
            yield client


@pytest.fixture
async def api(settings, redis):
    async with in_process_api(settings) as client:
        yield client


class WorkerHandle:
    """An in-process worker (real runtimes, real Redis) started and stopped by a test."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.task: asyncio.Task | None = None
        self.worker: Worker | None = None
        self.redis: aioredis.Redis | None = None

    async def start(self) -> Worker:
        self.redis = connect(self.settings)
        self.worker = Worker(self.settings, self.redis)
        self.task = asyncio.create_task(self.worker.run(ModelRepository(self.settings.model_repository)))
        for _ in range(200):
            if await live_workers(self.redis, self.settings.heartbeat_interval_s):
                return self.worker
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.02)
        raise TimeoutError("worker did not start")

    async def stop(self) -> None:
        if self.task is None:
            return
        self.worker.stopping.set()
        await asyncio.wait_for(self.task, 10)
        await self.redis.aclose()
        self.task = None


@pytest.fixture
async def worker_handle(settings, redis):
    handle = WorkerHandle(settings)
    yield handle
    await handle.stop()


@pytest.fixture
async def worker(worker_handle):
    return await worker_handle.start()


@pytest.fixture
def processes(settings, tmp_path):
    """Real `maas` processes on the test's settings (each module's own `settings` fixture); all
    stopped at the end, their logs' tails printed for a failing test."""
    with MaasProcesses(settings, tmp_path) as started:
        yield started
