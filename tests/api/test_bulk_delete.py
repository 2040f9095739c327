"""DELETE /v1/bulk-jobs/{id}: an ended job's files go now, its record stays as a tombstone
(deleted_at) and its output and errors are 410 Gone; 409 while it runs; another tenant's is 404.
A bulk job's retention_s is capped by MAAS_BULK_MAX_RETENTION_S. Real Redis, a real
`maas rq-worker`, a worker in-process, real files."""

import numpy as np
import pytest

from batching import keys
from maas.core.access import Scope
from maas.core.ids import tag_of
from tests.conftest import in_process_api
from tests.support.bulk_helpers import jsonl, npy, submit, wait_for_status
from tests.support.processes import MaasProcess
from tests.support.tenants import bearer, keyed, make_key

BULK_SCOPES = frozenset({Scope.BULK_WRITE, Scope.BULK_READ})


@pytest.fixture
async def rq_worker(settings, tmp_path):
    async with MaasProcess("rq-worker", tmp_path / "rq-worker.log", settings) as process:
        yield process


def job_dir(settings, bulk_id: str):
    return settings.state_dir / "bulk" / bulk_id


async def test_deleting_a_finished_job_removes_its_files_and_leaves_a_tombstone(
    settings, redis, worker, rq_worker
):
    async with in_process_api(keyed(settings)) as api:
        owner = bearer(await make_key(redis, "tenant-a", BULK_SCOPES))
        other = bearer(await make_key(redis, "tenant-b", BULK_SCOPES))
        api.headers.update(owner)
        rows = np.ones((40, 64), np.float32)
        job = await submit(api, "rows.npy", npy(rows), model="digits", chunk_rows=10, retention_s=3600)
        assert job["retention_s"] == 3600 and job["deleted_at"] is None
        done = await wait_for_status(api, job["id"], {"succeeded", "failed"})
        assert done["status"] == "succeeded", done
        assert len(list((job_dir(settings, job["id"]) / "results").iterdir())) == 4
        path = f"/v1/bulk-jobs/{job['id']}"
        assert (await api.delete(path, headers=other)).status_code == 404
        assert job_dir(settings, job["id"]).exists()  # the other tenant changed nothing
        deleted = await api.delete(path)
        assert deleted.status_code == 200, deleted.text
        tombstone = deleted.json()
        assert tombstone["status"] == "succeeded" and tombstone["deleted_at"], tombstone
        assert tombstone["counts"] == done["counts"]
        assert not job_dir(settings, job["id"]).exists()
        for what in ("output", "errors"):
            gone = await api.get(f"{path}/{what}")
            assert gone.status_code == 410 and gone.json()["error"]["code"] == "gone", gone.text
        assert (await api.get(path)).json() == tombstone
        again = await api.delete(path)
        assert again.status_code == 200 and again.json()["deleted_at"] == tombstone["deleted_at"]
        assert (await api.get(path, headers=other)).status_code == 404


async def test_a_job_that_has_not_ended_is_409_until_cancelled(api, settings, rq_worker):
    job = await submit(api, "in.jsonl", jsonl([{"inputs": [[1.0] * 64]}] * 30), model="digits", chunk_rows=10)
    await wait_for_status(api, job["id"], {"queued"})  # split, and no worker to run it
    path = f"/v1/bulk-jobs/{job['id']}"
    refused = await api.delete(path)
    assert refused.status_code == 409, refused.text
    assert "cancel it first" in refused.json()["error"]["message"]
    assert (job_dir(settings, job["id"]) / "chunks").exists()
    assert (await api.post(f"{path}/cancel")).status_code == 200
    deleted = await api.delete(path)
    assert deleted.status_code == 200 and deleted.json()["status"] == "cancelled", deleted.text
    assert not job_dir(settings, job["id"]).exists()
    assert (await api.get(f"{path}/output")).status_code == 410


async def test_retention_is_capped_by_the_configured_maximum(api, redis, settings):
    longest = settings.bulk_max_retention_s
    content = jsonl([{"inputs": [[1.0] * 64]}])
    response = await api.post(
        "/v1/bulk-jobs",
        data={"model": "digits", "retention_s": str(longest + 1)},
        files={"file": ("in.jsonl", content)},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["loc"] == ["retention_s"]
    assert "MAAS_BULK_MAX_RETENTION_S" in response.json()["error"]["message"]
    job = await submit(api, "in.jsonl", content, model="digits")
    assert job["retention_s"] == settings.bulk_retention_s
    # Until it ends, it is due only after the longest a job may take plus its retention.
    due = await redis.zscore(keys.bulk_sweep(tag_of(job["id"])), job["id"])
    created = (await redis.hget(keys.bulk_job(job["id"]), "created_at")).decode()
    assert due == pytest.approx(float(created) + longest + settings.bulk_retention_s)
