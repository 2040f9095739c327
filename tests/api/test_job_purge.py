"""Purging a job (DELETE /v1/jobs/{id}?purge=true) and a job's own retention: outputs, metadata
and webhook leave Redis at once and a tombstone stays readable; another tenant gets 404; a job's
retention_s, at most MAAS_RESULT_TTL_S, becomes its record's TTL once it ends. Real Redis, a
worker in-process."""

import time

from batching import keys
from batching.entry import LaneEntry
from batching.jobs.store import JobStore
from maas.core.access import Scope
from tests.conftest import in_process_api
from tests.support.tenants import ROW, bearer, keyed, make_key

JOB_SCOPES = frozenset({Scope.JOBS_WRITE, Scope.JOBS_READ})


async def submit(api, wait_s: float = 0, **fields) -> dict:
    body = {"model": "digits", "version": 1, "inputs": [ROW], **fields}
    headers = {"Prefer": f"wait={wait_s}"} if wait_s else {}
    response = await api.post("/v1/jobs", json=body, headers=headers)
    assert response.status_code in (200, 202), response.text
    return response.json()


async def test_a_purged_job_keeps_only_a_tombstone(settings, redis, worker):
    async with in_process_api(keyed(settings)) as api:
        owner = bearer(await make_key(redis, "tenant-a", JOB_SCOPES))
        other = bearer(await make_key(redis, "tenant-b", JOB_SCOPES))
        api.headers.update(owner)
        job = await submit(api, wait_s=10, metadata={"patient": "p-17"})
        assert job["status"] == "succeeded" and job["outputs"], job
        stored = await redis.hgetall(keys.job(job["id"]))
        assert {b"outputs", b"metadata", b"timings"} <= set(stored)
        path = f"/v1/jobs/{job['id']}"
        assert (await api.delete(path, params={"purge": "true"}, headers=other)).status_code == 404
        assert b"outputs" in await redis.hgetall(keys.job(job["id"]))  # the other tenant changed nothing
        purged = await api.delete(path, params={"purge": "true"})
        assert purged.status_code == 200, purged.text
        tombstone = purged.json()
        assert tombstone["status"] == "succeeded" and tombstone["purged_at"], tombstone
        assert tombstone["outputs"] is None and tombstone["metadata"] is None
        assert tombstone["created_at"] == job["created_at"] and tombstone["finished_at"] == job["finished_at"]
        left = await redis.hgetall(keys.job(job["id"]))
        assert set(left) == {
            b"id",
            b"tenant",
            b"status",
            b"model",
            b"version",
            b"rows",
            b"created_at",
            b"deadline",
            b"started_at",
            b"finished_at",
            b"purged_at",
        }
        assert b"p-17" not in b"".join(left.values())
        assert (await api.get(path)).json() == tombstone
        assert (await api.get(path, headers=other)).status_code == 404
        again = await api.delete(path, params={"purge": "true"})
        assert again.status_code == 200 and again.json()["purged_at"] == tombstone["purged_at"]
        assert 0 < await redis.ttl(keys.job(job["id"])) <= settings.result_ttl_s


async def test_a_queued_job_is_cancelled_then_purged_and_a_running_one_is_409(api, redis, settings):
    queued = await submit(api, metadata={"note": "secret"}, retention_s=60)  # no worker: queued
    purged = await api.delete(f"/v1/jobs/{queued['id']}", params={"purge": "true"})
    assert purged.status_code == 200, purged.text
    assert purged.json()["status"] == "cancelled" and purged.json()["purged_at"]
    assert b"metadata" not in await redis.hgetall(keys.job(queued["id"]))
    assert 40 < await redis.ttl(keys.job(queued["id"])) <= 60  # ended by the cancel: its retention
    running = await submit(api)
    # A worker takes it (the worker's own claim step), so it is running from now on.
    entry = LaneEntry(running["id"], 1, time.time(), b"")
    assert await JobStore(redis, settings.result_ttl_s).claim([entry], "w-1") == ["running"]
    refused = await api.delete(f"/v1/jobs/{running['id']}", params={"purge": "true"})
    assert refused.status_code == 409, refused.text
    assert "purge it once it has ended" in refused.json()["error"]["message"]
    assert (await api.get(f"/v1/jobs/{running['id']}")).json()["purged_at"] is None


async def test_a_jobs_own_retention_becomes_its_ttl_once_it_ends(api, redis, settings, worker):
    too_long = {"model": "digits", "inputs": [ROW], "retention_s": settings.result_ttl_s + 1}
    response = await api.post("/v1/jobs", json=too_long)
    assert response.status_code == 422 and response.json()["error"]["loc"] == ["retention_s"], response.text
    brief = await submit(api, wait_s=10, retention_s=120)
    plain = await submit(api, wait_s=10)
    assert brief["status"] == plain["status"] == "succeeded"
    assert brief["retention_s"] == 120 and plain["retention_s"] is None
    assert 100 < await redis.ttl(keys.job(brief["id"])) <= 120
    assert settings.result_ttl_s - 20 < await redis.ttl(keys.job(plain["id"])) <= settings.result_ttl_s
