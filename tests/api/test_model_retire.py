"""Retiring a model version: refused while an alias points at it; new jobs for it get 404, the
jobs already queued for it still finish, and the worker then unloads it."""

from tests.support.model_versions import answered_by, finished, score
from tests.support.waiting import wait_until


async def test_retiring_a_version_lets_its_queued_jobs_finish(api, worker_handle, offset_v1_v2):
    queued = [await score(api, float(i), 1, wait_s=0) for i in range(5)]  # no worker yet
    await api.put("/v1/models/offset/aliases/stable", json={"version": 1})
    refused = await api.delete("/v1/models/offset/versions/1")
    assert refused.status_code == 409 and "stable" in refused.json()["error"]["message"]
    await api.delete("/v1/models/offset/aliases/stable")

    retired = await api.delete("/v1/models/offset/versions/1", headers={"X-Actor": "alice"})
    assert retired.status_code == 200, retired.text
    assert retired.json()["by"] == "alice"
    new = await api.post("/v1/jobs", json={"model": "offset", "version": 1, "inputs": [[0.0] * 4]})
    assert new.status_code == 404 and "retired" in new.json()["error"]["message"]
    page = (await api.get("/v1/models/offset/versions/1")).json()
    assert page["status"] == "retired" and page["retired"]["by"] == "alice"
    assert (await api.get("/v1/models/offset")).json()["versions"] == [2]

    await worker_handle.start()
    for i, job in enumerate(queued):
        assert answered_by(await finished(api, job), float(i)) == 1.0
    lanes = worker_handle.worker.lanes
    await wait_until(
        lambda: "offset:1" not in lanes.states, 5, "once its lane is empty, the worker unloads it"
    )
    assert "offset:1" not in worker_handle.worker.lanes.states
    assert "offset:2" in worker_handle.worker.lanes.states
