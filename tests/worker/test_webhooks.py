"""Webhooks end to end: API and batch worker in-process, a real `maas rq-worker` process, a real
HTTP receiver that verifies signatures with the `standardwebhooks` library, real Redis."""

import asyncio
import base64
import json

import pytest

from maas.cli.redis_server import free_port
from maas.core.settings import Settings
from tests.conftest import in_process_api
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import HANG_S, Receiver

SECRETS = ["whsec_" + base64.b64encode(bytes(range(i, i + 32))).decode() for i in (1, 2)]
PAIR = {"model": "pair", "inputs": {"a": [[1.0, 2.0, 3.0]], "b": [[1, 2]]}}


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
        webhook_timeout_s=1.0,
        webhook_retry_delays_s=[1, 1, 1],
        webhook_retry_jitter=0,
        rq_abandoned_after_s=2,
    )


@pytest.fixture
def receiver():
    started = Receiver(free_port(), SECRETS)
    yield started
    started.stop()


async def submit_with_hook(api, receiver: Receiver, **hook) -> dict:
    body = {**PAIR, "webhook": {"url": f"http://127.0.0.1:{receiver.port}/hooks/maas", **hook}}
    response = await api.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    return response.json()


async def webhook_state(api, job_id: str, until: set[str], timeout_s: float = 20) -> dict:
    job = {}

    async def reached() -> bool:
        nonlocal job
        job = (await api.get(f"/v1/jobs/{job_id}")).json()
        return job["webhook"]["state"] in until

    await wait_until(reached, timeout_s, lambda: f"webhook state in {sorted(until)}: {job}", 0.1)
    return job


async def test_failed_attempts_are_retried_with_one_event_id_until_delivered(
    api, worker, receiver, processes
):
    receiver.script = [500, 500]
    receiver.start()
    await processes.ready("rq-worker")
    job = await submit_with_hook(api, receiver)
    final = await webhook_state(api, job["id"], {"delivered", "failed"})
    assert final["webhook"]["state"] == "delivered"
    assert final["webhook"]["attempts"] == 3 and final["webhook"]["last_status"] == 200
    assert len(receiver.calls) == 3
    assert {c.headers["webhook-id"] for c in receiver.calls} == {f"msg_{job['id']}"}
    assert all(c.verified_with == [0, 1] for c in receiver.calls)  # one signature per secret
    delivered = receiver.calls[-1].body
    assert delivered["id"] == job["id"] and delivered["status"] == "succeeded"
    assert delivered["outputs"] == {"doubled": [[2.0, 4.0, 6.0]], "total": [[3]]}


async def test_a_receiver_that_is_down_for_a_while_gets_the_event_later(api, worker, receiver, processes):
    await processes.ready("rq-worker")
    job = await submit_with_hook(api, receiver)  # nothing listens on the port yet
    retrying = await webhook_state(api, job["id"], {"retrying", "failed"})
    assert retrying["webhook"]["state"] == "retrying"
    assert "refused" in retrying["webhook"]["last_status"]
    receiver.start()
    final = await webhook_state(api, job["id"], {"delivered", "failed"})
    assert final["webhook"]["state"] == "delivered"
    assert len(receiver.calls) == 1


async def test_410_gone_stops_the_retries(api, worker, receiver, processes):
    receiver.script = [410]
    receiver.start()
    await processes.ready("rq-worker")
    job = await submit_with_hook(api, receiver)
    final = await webhook_state(api, job["id"], {"delivered", "failed"})
    assert final["webhook"]["state"] == "failed" and final["webhook"]["last_status"] == 410
    await asyncio.sleep(2.5)  # longer than the retry delay: proves an absence, nothing to poll for
    assert len(receiver.calls) == 1


async def test_a_hanging_receiver_times_out_and_is_retried(api, worker, receiver, processes):
    receiver.script = ["hang"]
    receiver.start()
    await processes.ready("rq-worker")
    job = await submit_with_hook(api, receiver)
    final = await webhook_state(api, job["id"], {"delivered", "failed"}, timeout_s=30)
    assert final["webhook"]["state"] == "delivered"
    assert final["webhook"]["attempts"] == 2
    assert len({c.headers["webhook-id"] for c in receiver.calls}) == 1


async def test_only_the_events_asked_for_are_sent(api, worker, receiver, processes):
    receiver.start()
    await processes.ready("rq-worker")
    job = await submit_with_hook(api, receiver, events=["failed"])
    done = (await api.get(f"/v1/jobs/{job['id']}", params={"wait": 10})).json()
    assert done["status"] == "succeeded"
    await asyncio.sleep(1.5)  # time for a wrongly sent event to arrive: an absence, not polled
    assert done["webhook"]["state"] is None and receiver.calls == []


async def test_redeliver_sends_the_same_event_again(api, worker, receiver, processes):
    receiver.start()
    await processes.ready("rq-worker")
    job = await submit_with_hook(api, receiver)
    await webhook_state(api, job["id"], {"delivered", "failed"})
    response = await api.post(f"/v1/jobs/{job['id']}/webhook/redeliver")
    assert response.status_code == 202
    await wait_until(lambda: len(receiver.calls) >= 2, 20, "the redelivered event arrives", 0.1)
    assert [c.headers["webhook-id"] for c in receiver.calls] == [f"msg_{job['id']}"] * 2
    no_hook = (await api.post("/v1/jobs", json=PAIR)).json()
    assert (await api.post(f"/v1/jobs/{no_hook['id']}/webhook/redeliver")).status_code == 409


async def test_a_sigkilled_rq_worker_mid_delivery_still_delivers_the_same_event(
    api, worker, receiver, processes
):
    receiver.script = ["hang"]
    receiver.start()
    first = await processes.ready("rq-worker")
    job = await submit_with_hook(api, receiver)
    assert await asyncio.to_thread(receiver.first_call.wait, 20)
    first.kill()  # mid-delivery: the receiver is still holding the request
    await processes.ready("rq-worker")
    # Usually ~10 s. The retry is scheduled by rq's scheduler; if the dead worker's scheduler
    # child could not release its lock (a loaded machine), the lock's 61 s TTL bounds the wait.
    final = await webhook_state(api, job["id"], {"delivered", "failed"}, timeout_s=80)
    assert final["webhook"]["state"] == "delivered"
    assert {c.headers["webhook-id"] for c in receiver.calls} == {f"msg_{job['id']}"}
    assert len(receiver.calls) == 2
    assert HANG_S > 1


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://0.0.0.0/",
        "file:///etc/passwd",
        "http://localhost/hook",
        "https://127.0.0.1/hook",
    ],
)
async def test_webhook_urls_that_reach_inside_are_refused_at_submit(redis, redis_server, model_repo, url):
    strict = Settings(
        redis_url=redis_server.url,
        model_repository=model_repo,
        webhook_secrets=SECRETS,
        webhook_allow_http=True,
    )
    async with in_process_api(strict) as client:
        response = await client.post("/v1/jobs", json={**PAIR, "webhook": {"url": url}})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["loc"] == ["webhook", "url"]
    assert await redis.dbsize() == 0


async def test_webhooks_are_refused_without_a_signing_secret(redis, redis_server, model_repo):
    settings = Settings(redis_url=redis_server.url, model_repository=model_repo)
    async with in_process_api(settings) as client:
        body = {**PAIR, "webhook": {"url": "https://example.com/hook"}}
        response = await client.post("/v1/jobs", json=body)
    assert response.status_code == 422
    assert "MAAS_WEBHOOK_SECRETS" in response.json()["error"]["message"]


async def test_a_bulk_job_that_ends_sends_one_signed_event(api, worker, receiver, processes):
    receiver.start()
    await processes.ready("rq-worker")
    hook = {"url": f"http://127.0.0.1:{receiver.port}/hooks/maas", "events": ["succeeded"]}
    line = b'{"id": %d, "inputs": {"a": [[1, 2, 3]], "b": [[%d, 1]]}}\n'
    content = b"".join(line % (i, i) for i in range(30))
    response = await api.post(
        "/v1/bulk-jobs",
        data={"model": "pair", "chunk_rows": "8", "webhook": json.dumps(hook)},
        files={"file": ("pairs.jsonl", content)},
    )
    assert response.status_code == 202, response.text
    bulk_id = response.json()["id"]
    job = {}

    async def delivered() -> bool:
        nonlocal job
        job = (await api.get(f"/v1/bulk-jobs/{bulk_id}")).json()
        return job["webhook"]["state"] == "delivered"

    await wait_until(delivered, 30, lambda: f"the bulk job's event is delivered: {job}", 0.1)
    assert job["status"] == "succeeded" and job["webhook"]["attempts"] == 1
    [call] = receiver.calls
    assert call.headers["webhook-id"] == f"msg_{bulk_id}" and call.verified_with == [0, 1]
    assert call.body["id"] == bulk_id and call.body["counts"] == {"total": 30, "succeeded": 30, "failed": 0}
