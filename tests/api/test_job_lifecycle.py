"""Polling, long-polling, cancelling, expiring and readiness, against a real Redis."""

import asyncio
import time

from batching import keys

ONE_ROW = [[0.0] * 64]


async def test_prefer_wait_answers_202_when_no_result_comes_in_time(api):
    started = time.monotonic()
    response = await api.post(
        "/v1/jobs", json={"model": "digits", "inputs": ONE_ROW}, headers={"Prefer": "wait=0.3"}
    )
    assert response.status_code == 202
    assert 0.25 <= time.monotonic() - started < 2
    job = response.json()
    assert job["status"] == "queued"
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"


async def test_plain_submit_answers_202_at_once_and_poll_shows_queued(api):
    response = await api.post("/v1/jobs", json={"model": "digits", "inputs": ONE_ROW})
    assert response.status_code == 202
    polled = await api.get(response.headers["location"])
    assert polled.status_code == 200
    assert polled.json()["status"] == "queued"


async def test_long_poll_returns_as_soon_as_the_job_ends(api, worker_handle):
    job = (await api.post("/v1/jobs", json={"model": "digits", "inputs": ONE_ROW})).json()
    poll = asyncio.create_task(api.get(f"/v1/jobs/{job['id']}", params={"wait": 20}))
    await asyncio.sleep(0.5)
    assert not poll.done()  # still waiting: no worker yet
    started = time.monotonic()
    await worker_handle.start()
    response = await asyncio.wait_for(poll, 10)
    assert response.json()["status"] == "succeeded"
    assert time.monotonic() - started < 5


async def test_long_poll_gives_up_after_the_wait(api):
    job = (await api.post("/v1/jobs", json={"model": "digits", "inputs": ONE_ROW})).json()
    started = time.monotonic()
    response = await api.get(f"/v1/jobs/{job['id']}", params={"wait": 0.4})
    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    assert 0.35 <= time.monotonic() - started < 3


async def test_a_cancelled_job_is_never_computed(api, worker_handle, redis):
    job = (await api.post("/v1/jobs", json={"model": "digits", "inputs": ONE_ROW})).json()
    cancelled = await api.delete(f"/v1/jobs/{job['id']}")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    await worker_handle.start()
    lane = keys.online_lane("digits", 2)
    for _ in range(100):  # the worker drops (acknowledges and deletes) the entry
        if await redis.xlen(lane) == 0:
            break
        await asyncio.sleep(0.05)
    assert await redis.xlen(lane) == 0
    final = (await api.get(f"/v1/jobs/{job['id']}")).json()
    assert final["status"] == "cancelled"
    assert final["started_at"] is None and final["outputs"] is None


async def test_cancelling_a_finished_job_is_a_conflict(api, worker):
    response = await api.post(
        "/v1/jobs", json={"model": "digits", "inputs": ONE_ROW}, headers={"Prefer": "wait=10"}
    )
    assert response.json()["status"] == "succeeded"
    conflict = await api.delete(f"/v1/jobs/{response.json()['id']}")
    assert conflict.status_code == 409
    assert "succeeded" in conflict.json()["error"]["message"]


async def test_a_job_past_its_timeout_expires_without_being_computed(api, worker_handle):
    job = (await api.post("/v1/jobs", json={"model": "digits", "inputs": ONE_ROW, "timeout_s": 0.2})).json()
    await asyncio.sleep(0.4)
    worker = await worker_handle.start()
    assert worker is not None
    response = await api.get(f"/v1/jobs/{job['id']}", params={"wait": 5})
    expired = response.json()
    assert expired["status"] == "expired"
    assert expired["error"]["code"] == "expired"
    assert expired["outputs"] is None and expired["started_at"] is None


async def test_readiness_needs_a_worker_heartbeat(api, worker_handle):
    assert (await api.get("/healthz")).status_code == 200
    not_ready = await api.get("/readyz")
    assert not_ready.status_code == 503
    await worker_handle.start()
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["workers"] == 1


async def test_models_list_their_versions_signature_and_policy(api):
    models = (await api.get("/v1/models")).json()
    assert {m["name"] for m in models} == {"digits", "pair", "lookup"}
    digits = (await api.get("/v1/models/digits")).json()
    assert digits["versions"] == [1, 2]
    latest = digits["latest"]
    assert latest["version"] == 2
    assert latest["signature"]["inputs"] == [{"name": "pixels", "dtype": "float32", "shape": [None, 64]}]
    assert latest["config"]["max_queue_delay_ms"] == 30
    assert len(latest["sha256"]) == 64
