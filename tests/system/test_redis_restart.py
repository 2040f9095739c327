"""Redis killed and restarted (AOF, appendfsync always) while jobs stream in: every job answered
202 still completes."""

import asyncio
import time

import httpx
import pytest

from maas.cli.redis_server import RedisServer
from maas.core.settings import Settings
from tests.conftest import WorkerHandle, in_process_api
from tests.support.waiting import wait_until

ROW = [1.0] * 64


@pytest.fixture
def durable_redis(tmp_path):
    """The first server, and the one restarted from its data; both stopped at the end."""
    servers = [RedisServer(tmp_path / "durable-redis", appendfsync="always")]
    servers[0].start()
    yield servers
    for server in servers:
        server.stop()


async def stream_jobs(client: httpx.AsyncClient, until: asyncio.Event, accepted: list, refused: list):
    while not until.is_set():
        try:
            response = await client.post("/v1/jobs", json={"model": "digits", "version": 1, "inputs": [ROW]})
        except httpx.HTTPError as e:  # the in-process transport surfaces no such errors; belt and braces
            refused.append(repr(e))
            continue
        if response.status_code == 202:
            accepted.append(response.json()["id"])
        else:
            assert response.status_code == 503, response.text
            refused.append(response.status_code)
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.005)


async def while_streaming(streaming: asyncio.Task, condition, what: str) -> None:
    """Waits for `condition`; a streaming task that failed ends the wait (its `await` raises)."""
    await wait_until(lambda: streaming.done() or condition(), 30, what)


async def test_every_accepted_job_completes_across_a_redis_crash(durable_redis, model_repo):
    first = durable_redis[0]
    settings = Settings(
        redis_url=first.url,
        model_repository=model_repo,
        heartbeat_interval_s=0.2,
        visibility_timeout_s=2,
        drain_timeout_s=5,
    )
    worker = WorkerHandle(settings)
    accepted, refused, stop = [], [], asyncio.Event()
    async with in_process_api(settings) as client:
        await worker.start()
        streaming = asyncio.create_task(stream_jobs(client, stop, accepted, refused))
        # Each phase lasts its usual time, and on a loaded machine until it has seen what the
        # assertions below count on: jobs before, 503s during, jobs after.
        await asyncio.sleep(1.0)
        await while_streaming(streaming, lambda: len(accepted) > 10, "jobs accepted before the crash")
        before_crash = len(accepted)
        first.process.kill()  # SIGKILL: no chance to flush anything more
        first.process.wait()
        await asyncio.sleep(0.5)
        await while_streaming(streaming, lambda: refused, "the outage is answered (503)")
        durable_redis.append(RedisServer(first.data_dir, port=first.port, appendfsync="always"))
        durable_redis[-1].start()
        at_restart = len(accepted)
        await asyncio.sleep(1.5)
        await while_streaming(streaming, lambda: len(accepted) > at_restart + 10, "jobs accepted after")
        stop.set()
        await streaming
        deadline = time.monotonic() + 30
        statuses = []
        for job_id in accepted:
            remaining = max(0.1, deadline - time.monotonic())
            job = (await client.get(f"/v1/jobs/{job_id}", params={"wait": remaining})).json()
            statuses.append(job["status"])
        await worker.stop()
    print(f"accepted {len(accepted)} ({before_crash} before the crash), refused {len(refused)}")
    assert before_crash > 10 and len(accepted) > before_crash  # it served before and after
    assert refused  # the outage was seen, as 503s
    assert statuses == ["succeeded"] * len(accepted)
