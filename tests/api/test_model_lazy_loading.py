"""A worker that does not preload: it loads a model version when a job asks for it, and under
a memory budget unloads the least recently used idle one to make room."""

from maas.models.sandbox import CheckLimits, CheckRequest, run_check
from tests.conftest import WorkerHandle, in_process_api
from tests.support.model_versions import answered_by, finished, score


async def test_lazy_loading_and_lru_unloading_under_a_memory_budget(settings, redis, offset_v1_v2):
    # A budget that holds one of these models but not two (a model needing more than the whole
    # budget is refused): every load unloads the idle model first. What one needs is measured
    # the way the worker measures it.
    model = offset_v1_v2 / "offset" / "1" / "model.onnx"
    one = await run_check(CheckRequest("rehearse", model), CheckLimits(256 * 2**20, 30))
    budget_mb = 1.5 * one.peak_bytes / 2**20
    lazy = settings.model_copy(update={"worker_preload": False, "worker_memory_budget_mb": budget_mb})
    handle = WorkerHandle(lazy)
    async with in_process_api(lazy) as api:
        try:
            await handle.start()
            lanes = handle.worker.lanes
            assert lanes.states == {}  # nothing loaded before a job asks for it
            assert (await api.get("/v1/models/offset/versions/1")).json()["status"] == "unloaded"
            job = await finished(api, await score(api, 1.0, 1))
            assert answered_by(job, 1.0) == 1.0
            assert set(lanes.states) == {"offset:1"}
            page = (await api.get("/v1/models/offset/versions/1")).json()
            assert page["status"] == "ready" and page["workers"][0]["worker"] == handle.worker.worker_id
            job = await finished(api, await score(api, 1.0, 2))
            assert answered_by(job, 1.0) == 2.0
            assert set(lanes.states) == {"offset:2"}  # the least recently used one made room
            job = await finished(api, await score(api, 3.0, 1))  # and loads again on demand
            assert answered_by(job, 3.0) == 1.0
        finally:
            await handle.stop()
