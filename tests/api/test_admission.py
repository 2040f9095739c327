"""What the API admits: lane depth limits (429), idempotent retries, deadlines, Redis down (503)."""

import asyncio
import json
import time

import pytest

from batching import keys
from maas.cli.redis_server import free_port
from maas.core.settings import Settings
from tests.conftest import in_process_api

ROW = [0.0] * 64
PAIR = {"model": "pair", "inputs": {"a": [[1.0, 2.0, 3.0]], "b": [[1, 2]]}}


@pytest.fixture
def model_repo(model_repo):
    (model_repo / "pair" / "1" / "config.json").write_text(json.dumps({"max_queue_rows": 5}))
    return model_repo


async def test_a_full_lane_answers_429_with_retry_after_until_it_drains(api, worker_handle):
    accepted = [await api.post("/v1/jobs", json=PAIR) for _ in range(5)]
    assert [r.status_code for r in accepted] == [202] * 5
    started = time.monotonic()
    refused = await api.post("/v1/jobs", json=PAIR)
    assert refused.status_code == 429
    assert time.monotonic() - started < 0.5  # immediately
    assert refused.headers["retry-after"] == "1"
    assert "5 rows waiting (limit 5)" in refused.json()["error"]["message"]
    await worker_handle.start()
    for response in accepted:
        job = (await api.get(response.headers["location"], params={"wait": 10})).json()
        assert job["status"] == "succeeded"
    assert (await api.post("/v1/jobs", json=PAIR)).status_code == 202


async def test_a_retry_with_the_same_idempotency_key_returns_the_original_job(api, redis):
    headers = {"Idempotency-Key": "order-42"}
    first = await api.post("/v1/jobs", json=PAIR, headers=headers)
    again = await api.post("/v1/jobs", json=PAIR, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await redis.xlen(keys.online_lane("pair", 1)) == 1
    other_body = {**PAIR, "metadata": {"changed": True}}
    conflict = await api.post("/v1/jobs", json=other_body, headers=headers)
    assert conflict.status_code == 422
    assert "different request body" in conflict.json()["error"]["message"]


async def test_concurrent_duplicate_submits_with_one_key_create_one_job(api, redis):
    headers = {"Idempotency-Key": "burst"}
    responses = await asyncio.gather(*(api.post("/v1/jobs", json=PAIR, headers=headers) for _ in range(20)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await redis.xlen(keys.online_lane("pair", 1)) == 1


async def test_a_refused_request_does_not_use_up_its_idempotency_key(api):
    headers = {"Idempotency-Key": "k1"}
    bad = await api.post("/v1/jobs", json={"model": "pair", "inputs": [[1]]}, headers=headers)
    assert bad.status_code == 422
    assert (await api.post("/v1/jobs", json=PAIR, headers=headers)).status_code == 202


async def test_expired_jobs_are_never_computed(api, redis, worker_handle):
    doomed = [(await api.post("/v1/jobs", json={**PAIR, "timeout_s": 0.2})).json()["id"] for _ in range(3)]
    kept = [(await api.post("/v1/jobs", json=PAIR)).json()["id"] for _ in range(2)]
    await asyncio.sleep(0.3)
    await worker_handle.start()
    for job_id in kept:
        job = (await api.get(f"/v1/jobs/{job_id}", params={"wait": 10})).json()
        assert job["status"] == "succeeded"
    for job_id in doomed:
        job = (await api.get(f"/v1/jobs/{job_id}")).json()
        assert job["status"] == "expired"
        assert "not computed" in job["error"]["message"]
    stats = await redis.hgetall(keys.lane_stats(keys.online_lane("pair", 1)))
    assert int(stats[b"computed_rows"]) == len(kept)  # the runtime never saw the expired rows
    assert await redis.xlen(keys.online_lane("pair", 1)) == 0


async def test_redis_down_is_a_quick_503_never_a_202(model_repo):
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", model_repository=model_repo)
    async with in_process_api(settings, wait_subscribed=False) as client:
        started = time.monotonic()
        response = await client.post("/v1/jobs", json=PAIR)
        assert response.status_code == 503
        assert time.monotonic() - started < 3
        assert "unreachable" in response.json()["error"]["message"]
        assert (await client.get("/readyz")).status_code == 503
