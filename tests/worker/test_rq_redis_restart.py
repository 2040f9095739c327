"""Redis killed and restarted on the same port while `maas rq-worker` is idle, or busy with a
delivery: the next webhook still arrives promptly."""

import asyncio
import time
from datetime import datetime

import pytest

from maas.cli.redis_server import RedisServer, free_port
from maas.core.settings import Settings
from tests.conftest import WorkerHandle, in_process_api
from tests.support.processes import MaasProcess
from tests.support.webhook_receiver import Receiver
from tests.worker.test_webhooks import PAIR, SECRETS

PROMPT_S = 3.0  # a webhook arrives this soon after its job ended
# rq's own reconnect backoff doubles (1, 2, 4, 8 s...): after this outage it slept past it.
OUTAGE_S = 10.0


@pytest.fixture
def restartable_redis(tmp_path):
    servers = [RedisServer(tmp_path / "redis", appendfsync="always")]
    servers[0].start()
    yield servers
    for server in servers:
        server.stop()


async def restart(servers: list[RedisServer], outage_s: float) -> None:
    """SIGKILL, then a new redis-server on the same port and data after outage_s."""
    first = servers[-1]
    first.process.kill()
    first.process.wait()
    await asyncio.sleep(outage_s)
    servers.append(RedisServer(first.data_dir, port=first.port, appendfsync="always"))
    servers[-1].start()


async def hooked_job(client, receiver: Receiver) -> dict:
    body = {**PAIR, "webhook": {"url": f"http://127.0.0.1:{receiver.port}/hooks/maas"}}
    for _ in range(50):  # the API's first calls after the restart may meet stale connections
        response = await client.post("/v1/jobs", json=body)
        if response.status_code != 503:
            break
        await asyncio.sleep(0.1)
    assert response.status_code == 202, response.text
    return response.json()


async def arrival_delay_s(receiver: Receiver, job: dict, timeout_s: float = 40) -> float:
    """Seconds from the job's end to its first webhook call (whose body is the ended job)."""
    deadline = time.monotonic() + timeout_s
    while not (calls := [c for c in receiver.calls if c.body["id"] == job["id"]]):
        assert time.monotonic() < deadline, f"no webhook for {job['id']}"
        await asyncio.sleep(0.05)
    return calls[0].at - datetime.fromisoformat(calls[0].body["finished_at"]).timestamp()


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy"])
async def test_the_next_webhook_after_a_redis_restart_arrives_promptly(
    restartable_redis, model_repo, tmp_path, busy
):
    settings = Settings(
        redis_url=restartable_redis[0].url,
        model_repository=model_repo,
        state_dir=tmp_path / "state",
        heartbeat_interval_s=0.2,
        drain_timeout_s=5,
        webhook_secrets=SECRETS,
        webhook_allow_http=True,
        webhook_allowed_networks=["127.0.0.0/8"],
        webhook_retry_delays_s=[1, 1, 1],
        webhook_retry_jitter=0,
    )
    receiver = Receiver(free_port(), SECRETS, script=["hang"] if busy else []).start()
    rq_worker = MaasProcess("rq-worker", tmp_path / "rq-worker.log", settings).start()
    worker = WorkerHandle(settings)
    try:
        async with in_process_api(settings) as client:
            await worker.start()
            first = await hooked_job(client, receiver)
            assert await arrival_delay_s(receiver, first) < PROMPT_S  # hangs if busy
            await asyncio.sleep(0.5 if busy else 5)  # busy: mid-delivery; idle: blocked in BLMOVE
            await restart(restartable_redis, OUTAGE_S)
            await asyncio.sleep(1.0)
            after = await hooked_job(client, receiver)
            delay_s = await arrival_delay_s(receiver, after)
            await worker.stop()
    finally:
        rq_worker.stop()
        receiver.stop()
    log = (tmp_path / "rq-worker.log").read_text()
    assert delay_s < PROMPT_S, log[-3000:]
