"""Config patches of a model version: merged, validated (refused ones change nothing), and
applied by a running worker without a restart; a runtime option change loads a new runtime,
and a broken one keeps the old one serving."""

import asyncio

import pytest

from tests.support import onnx_models
from tests.support.model_versions import answered_by, finished, score, snapshot
from tests.support.waiting import wait_until


async def test_a_config_change_reaches_the_running_worker(api, worker_handle, model_repo):
    onnx_models.offset(
        model_repo / "offset" / "1" / "model.onnx", 1.0, {"max_batch_size": 4, "max_queue_delay_ms": 100}
    )
    worker = await worker_handle.start()

    async def largest_batch() -> int:
        jobs = await asyncio.gather(*(score(api, float(i)) for i in range(32)))
        return max([(await finished(api, job))["timings"]["batch_size"] for job in jobs])

    assert await largest_batch() == 4
    patched = await api.patch("/v1/models/offset/versions/1/config", json={"max_batch_size": 32})
    assert patched.status_code == 200, patched.text
    assert patched.json()["config"]["max_batch_size"] == 32
    assert patched.json()["config"]["max_queue_delay_ms"] == 100  # a merge patch keeps the rest
    sizes = []

    async def batches_grew() -> bool:
        sizes.append(await largest_batch())
        return sizes[-1] > 4

    await wait_until(batches_grew, 5, lambda: f"batches over 4 rows after the patch, got {sizes}", 0)
    assert sizes[-1] > 4, sizes
    assert not worker_handle.task.done() and worker_handle.worker is worker  # no restart
    audit = (await api.get("/v1/audit")).json()[0]
    assert audit["action"] == "version.config"
    assert audit["before"]["max_batch_size"] == 4 and audit["after"]["max_batch_size"] == 32


@pytest.mark.parametrize(
    "patch, where",
    [
        ({"max_batch_size": 0}, ["max_batch_size"]),
        ({"preferred_batch_sizes": [128]}, []),
        ({"onnxruntime": {"threads": 2}}, ["onnxruntime", "threads"]),
        ([1, 2], ["body"]),
        ({"runtime": "os:system"}, ["runtime"]),  # a plugin, and MAAS_ALLOW_PLUGIN_RUNTIMES is off
        ({"runtime": "litert"}, ["runtime"]),  # digits is an .onnx file
    ],
)
async def test_an_invalid_config_change_is_refused_and_changes_nothing(api, model_repo, patch, where):
    before = snapshot(model_repo)
    response = await api.patch("/v1/models/digits/versions/2/config", json=patch)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["loc"][: len(where)] == where if where else True
    assert snapshot(model_repo) == before


async def test_a_runtime_option_change_loads_a_new_runtime_and_a_broken_one_keeps_the_old(
    api, offset_v1, worker
):
    lanes = worker.lanes
    before = lanes.served[("offset", 1)].runtime
    patched = await api.patch(
        "/v1/models/offset/versions/1/config", json={"onnxruntime": {"intra_op_num_threads": 1}}
    )
    assert patched.status_code == 200, patched.text
    await wait_until(lambda: lanes.served[("offset", 1)].runtime is not before, 5, "a new runtime is loaded")
    reloaded = lanes.served[("offset", 1)].runtime
    assert reloaded is not before
    # inner: the onnxruntime runtime under FiniteOutputsRuntime
    assert reloaded.inner.session.get_session_options().intra_op_num_threads == 1
    assert answered_by(await finished(api, await score(api, 2.0)), 2.0) == 1.0

    broken = {"onnxruntime": {"providers": ["NoSuchProvider"]}}
    await api.patch("/v1/models/offset/versions/1/config", json=broken)
    await wait_until(lambda: lanes.states["offset:1"]["error"], 5, "the worker reports the broken config")
    page = (await api.get("/v1/models/offset/versions/1")).json()
    assert page["status"] == "ready" and page["workers"][0]["state"] == "ready"
    assert "new config not applied" in page["workers"][0]["error"]
    assert "NoSuchProvider" in page["workers"][0]["error"]
    assert lanes.served[("offset", 1)].runtime is reloaded  # the working runtime still serves
    assert answered_by(await finished(api, await score(api, 3.0)), 3.0) == 1.0


async def test_a_config_change_that_would_not_serve_is_refused_and_a_broken_one_can_be_repaired(
    api, model_repo, tmp_path
):
    fixed = onnx_models.fixed_batch(model_repo / "relu4" / "1" / "model.onnx", size=4)
    (fixed.parent / "config.json").write_text('{"fixed_batch_size": 4}')
    before = snapshot(model_repo)
    unservable = (({"fixed_batch_size": None}, "fixed_batch_size"), ({"runtime": "litert"}, "runtime"))
    for patch, where in unservable:
        refused = await api.patch("/v1/models/relu4/versions/1/config", json=patch)
        assert refused.status_code == 422 and refused.json()["error"]["loc"] == [where], refused.text
    assert snapshot(model_repo) == before

    (fixed.parent / "config.json").write_text("{}")  # broken by hand: the version no longer loads
    assert (await api.post("/v1/jobs", json={"model": "relu4", "inputs": [[0.0] * 4]})).status_code == 503
    repaired = await api.patch("/v1/models/relu4/versions/1/config", json={"fixed_batch_size": 4})
    assert repaired.status_code == 200, repaired.text
    assert (await api.post("/v1/jobs", json={"model": "relu4", "inputs": [[0.0] * 4]})).status_code == 202
