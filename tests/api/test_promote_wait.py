"""Promotion that waits for readiness: the alias moves only once enough workers report the
version loaded and warmed up, so the first jobs after it do not queue behind a load; past the
timeout the alias is unchanged (409)."""

from tests.support import onnx_models
from tests.support.model_versions import upload


async def test_the_alias_moves_once_a_worker_reports_the_version_ready(api, offset_v1, worker, tmp_path):
    assert (await api.put("/v1/models/offset/aliases/stable", json={"version": 1})).status_code == 200
    created = await upload(api, "offset", onnx_models.offset(tmp_path / "c" / "model.onnx", 2.0))
    assert created.status_code == 201, created.text
    body = {"version": 2, "wait_ready_workers": 1, "wait_timeout_s": 30}
    response = await api.put("/v1/models/offset/aliases/stable", json=body)
    assert response.status_code == 200, response.text
    assert worker.lanes.states["offset:2"]["state"] == "ready"  # loaded before the alias moved
    assert response.json()["version"] == 2


async def test_the_alias_is_unchanged_when_too_few_workers_are_ready_in_time(api, offset_v1, worker):
    assert (await api.put("/v1/models/offset/aliases/stable", json={"version": 1})).status_code == 200
    body = {"version": 1, "wait_ready_workers": 2, "wait_timeout_s": 0.5}
    response = await api.put("/v1/models/offset/aliases/stable", json=body)
    assert response.status_code == 409, response.text
    assert "ready on 1 of the 2 workers" in response.json()["error"]["message"]
    unknown = await api.put("/v1/models/offset/aliases/stable", json={"version": 9, "wait_ready_workers": 1})
    assert unknown.status_code == 404
