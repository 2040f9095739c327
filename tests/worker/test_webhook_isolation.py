"""Webhook isolation with a real `maas rq-worker` process: receivers that accept TCP and never
answer hold only their share of the delivery slots, never another client's webhook or a bulk
job's split; and redelivery is rate-limited per job."""

import asyncio
import contextlib
import socket
import time
from datetime import datetime

import pytest

from maas.cli.redis_server import free_port
from maas.core.settings import Settings
from tests.support.processes import MaasProcess
from tests.support.webhook_receiver import Receiver
from tests.worker.test_webhooks import PAIR, SECRETS, webhook_state

TIMEOUT_S = 6.0  # a black-holed attempt holds its slot this long
PROMPT_S = 2.0  # well under TIMEOUT_S: nobody waited for a black hole


@pytest.fixture
def settings(redis_server, model_repo, tmp_path) -> Settings:
    return Settings(
        redis_url=redis_server.url,
        model_repository=model_repo,
        heartbeat_interval_s=0.2,
        state_dir=tmp_path / "state",
        webhook_secrets=SECRETS,
        webhook_allow_http=True,
        webhook_allowed_networks=["127.0.0.0/8"],
        webhook_timeout_s=TIMEOUT_S,
        webhook_retry_delays_s=[60],
        webhook_concurrency=3,
        webhook_per_destination=2,
        webhook_redeliver_interval_s=2.0,
    )


@pytest.fixture
def receiver():
    started = Receiver(free_port(), SECRETS).start()
    yield started
    started.stop()


@pytest.fixture
def rq_worker(settings, tmp_path):
    process = MaasProcess("rq-worker", tmp_path / "rq-worker.log", settings).start()
    yield process
    process.stop()


@contextlib.contextmanager
def black_hole():
    """A port whose connections the kernel accepts (into the backlog) and nobody answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    finally:
        sock.close()


async def submit(api, url: str) -> dict:
    response = await api.post("/v1/jobs", json={**PAIR, "webhook": {"url": url}})
    assert response.status_code == 202, response.text
    return response.json()


async def arrival_delay_s(receiver: Receiver, job_id: str, timeout_s: float = 30) -> float:
    deadline = time.monotonic() + timeout_s
    while not (calls := [c for c in receiver.calls if c.body["id"] == job_id]):
        assert time.monotonic() < deadline, f"no webhook for {job_id}"
        await asyncio.sleep(0.05)
    return calls[0].at - datetime.fromisoformat(calls[0].body["finished_at"]).timestamp()


async def test_black_holed_receivers_do_not_delay_another_clients_webhook(api, worker, receiver, rq_worker):
    with black_hole() as url:
        for _ in range(3):  # more than its share (2 of the 3 slots)
            await submit(api, url)
        await asyncio.sleep(1.0)  # all three taken by the rq worker, two of them hanging
        job = await submit(api, f"http://127.0.0.1:{receiver.port}/hooks/maas")
        assert await arrival_delay_s(receiver, job["id"]) < PROMPT_S


async def test_a_bulk_split_is_not_held_up_by_black_holed_deliveries(api, worker, rq_worker):
    with black_hole() as first, black_hole() as second:
        for url in (first, first, second, second):  # every delivery slot hangs, one waits
            await submit(api, url)
        await asyncio.sleep(1.0)
        line = b'{"id": %d, "inputs": {"a": [[1, 2, 3]], "b": [[%d, 1]]}}\n'
        content = b"".join(line % (i, i) for i in range(30))
        response = await api.post(
            "/v1/bulk-jobs", data={"model": "pair", "chunk_rows": "8"}, files={"file": ("p.jsonl", content)}
        )
        assert response.status_code == 202, response.text
        started = time.monotonic()
        bulk_id = response.json()["id"]
        while (job := (await api.get(f"/v1/bulk-jobs/{bulk_id}")).json())["status"] == "validating":
            assert time.monotonic() - started < PROMPT_S, job
            await asyncio.sleep(0.05)


async def test_redeliver_is_rate_limited_per_job(api, worker, receiver, rq_worker):
    job = await submit(api, f"http://127.0.0.1:{receiver.port}/hooks/maas")
    await webhook_state(api, job["id"], {"delivered", "failed"})
    redeliver = f"/v1/jobs/{job['id']}/webhook/redeliver"
    assert (await api.post(redeliver)).status_code == 202
    refused = await api.post(redeliver)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    retry_after_s = int(refused.headers["Retry-After"])
    assert 1 <= retry_after_s <= 2
    other = await submit(api, f"http://127.0.0.1:{receiver.port}/hooks/maas")  # per job: not limited
    await webhook_state(api, other["id"], {"delivered", "failed"})
    assert (await api.post(f"/v1/jobs/{other['id']}/webhook/redeliver")).status_code == 202
    await asyncio.sleep(retry_after_s)
    assert (await api.post(redeliver)).status_code == 202
    deadline = time.monotonic() + 10
    while len(receiver.calls) < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    assert len([c for c in receiver.calls if c.body["id"] == job["id"]]) == 3  # 1 + 2 redeliveries
