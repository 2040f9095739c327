"""Online jobs sealed at rest: API and worker in-process, real Redis. Inputs in lane entries,
outputs and metadata in job hashes are ciphertext; a value moved to another job does not open
there; keys rotate."""

import numpy as np
import pytest
import redis as sync_redis

from batching import keys
from maas.core.sealing import MAGIC, new_ring_entry
from tests.conftest import WorkerHandle, in_process_api
from tests.support.at_rest import METADATA, PATTERN, leaks, needles, redis_values

K1, K2 = new_ring_entry("k1"), new_ring_entry("k2")
LANE = keys.lane_stream(keys.online_lane("digits", 1), keys.DEFAULT_TENANT)


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"data_keys": K1})


def scan(settings) -> list:
    with sync_redis.Redis.from_url(settings.redis_url) as client:
        return list(redis_values(client))


async def submit(api, rows=PATTERN, **extra) -> str:
    body = {"model": "digits", "version": 1, "inputs": rows.tolist(), "metadata": METADATA, **extra}
    response = await api.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    return response.json()["id"]


async def finished(api, job_id: str) -> dict:
    response = await api.get(f"/v1/jobs/{job_id}", params={"wait": 20})
    assert response.status_code == 200, response.text
    return response.json()


async def test_inputs_outputs_and_metadata_are_ciphertext_in_redis(settings, api, worker_handle):
    job_ids = [await submit(api) for _ in range(3)]
    queued = scan(settings)
    assert any(where.startswith(f"stream {LANE} ") and v.startswith(MAGIC) for where, v in queued)
    assert leaks(iter(queued), needles()) == []
    await worker_handle.start()
    jobs = [await finished(api, job_id) for job_id in job_ids]
    assert [j["status"] for j in jobs] == ["succeeded"] * 3
    assert jobs[0]["metadata"] == METADATA
    outputs = np.asarray(jobs[0]["outputs"]["probabilities"], dtype=np.float32)
    assert outputs.shape == (1, 10) and abs(outputs.sum() - 1) < 1e-4
    assert leaks(iter(scan(settings)), needles(outputs)) == []
    listed = (await api.get("/v1/jobs")).json()
    assert [j["metadata"] for j in listed["data"]] == [METADATA] * 3


async def test_inputs_moved_into_another_jobs_entry_fail_that_job(settings, api, redis, worker_handle):
    first, second = await submit(api), await submit(api, rows=PATTERN + 1)
    (first_id, first_entry), (second_id, second_entry) = await redis.xrange(LANE)
    # The second job's entry now carries the first's sealed inputs (same rows, so the lane's
    # counters still agree).
    await redis.xdel(LANE, second_id)
    await redis.xadd(LANE, {**second_entry, b"inputs": first_entry[b"inputs"]})
    await worker_handle.start()
    assert (await finished(api, first))["status"] == "succeeded"
    failed = await finished(api, second)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "sealed_data_unreadable"
    assert f"job.inputs of {second}" in failed["error"]["message"]
    assert failed["outputs"] is None


async def test_outputs_or_metadata_moved_into_another_job_read_as_an_error(settings, api, redis, worker):
    first, second = await submit(api), await submit(api, rows=PATTERN + 1)
    await finished(api, first), await finished(api, second)
    for field in ("outputs", "metadata"):
        original = await redis.hget(keys.job(second), field)
        await redis.hset(keys.job(second), field, await redis.hget(keys.job(first), field))
        response = await api.get(f"/v1/jobs/{second}")
        assert response.status_code == 500
        error = response.json()["error"]
        assert error["code"] == "sealed_data_unreadable"
        assert f"job.{field} of {second}" in error["message"]
        await redis.hset(keys.job(second), field, original)
    assert (await api.get(f"/v1/jobs/{second}")).json()["status"] == "succeeded"


async def test_rotation_reads_old_jobs_and_seals_new_ones_under_the_new_key(settings, redis):
    async with in_process_api(settings) as api:
        worker = WorkerHandle(settings)
        await worker.start()
        old = await submit(api)
        old_job = await finished(api, old)
        await worker.stop()
    rotated = settings.model_copy(update={"data_keys": f"{K2},{K1}"})
    async with in_process_api(rotated) as api:
        worker = WorkerHandle(rotated)
        await worker.start()
        assert (await finished(api, old)) == old_job
        new = await submit(api)
        assert (await finished(api, new))["status"] == "succeeded"
        await worker.stop()
    for field in ("outputs", "metadata"):
        assert (await redis.hget(keys.job(old), field))[len(MAGIC) + 2 :].startswith(b"k1")
        assert (await redis.hget(keys.job(new), field))[len(MAGIC) + 2 :].startswith(b"k2")
    async with in_process_api(settings.model_copy(update={"data_keys": K2})) as api:
        assert (await api.get(f"/v1/jobs/{new}")).status_code == 200
        refused = await api.get(f"/v1/jobs/{old}")
        assert refused.status_code == 500
        assert "sealed with data key 'k1', not in MAAS_DATA_KEYS (k2)" in refused.json()["error"]["message"]
