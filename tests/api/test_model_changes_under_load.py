"""Model versions changed while jobs stream in: no job fails, and every job is answered by the
version it was resolved to (a new upload, an alias promoted and rolled back)."""

import asyncio
import time
from collections import Counter

from tests.support import onnx_models
from tests.support.model_versions import answered_by, finished, score, upload
from tests.support.waiting import wait_until


async def test_a_new_version_uploaded_while_1000_jobs_stream_in(api, offset_v1, worker, tmp_path):
    """No job fails, and each job's result is the one of the version it was resolved to."""
    candidate = onnx_models.offset(tmp_path / "candidate" / "model.onnx", 2.0)
    jobs: list[tuple[float, dict]] = []

    async def client(first: int) -> None:
        for i in range(first, 1000, 20):
            jobs.append((float(i), await score(api, float(i))))

    async def upload_midway() -> None:
        await wait_until(lambda: len(jobs) >= 300, 60, "300 jobs answered before the upload", 0.005)
        response = await upload(api, "offset", candidate)
        assert response.status_code == 201, response.text

    await asyncio.gather(*(client(i) for i in range(20)), upload_midway())
    assert len(jobs) == 1000
    done = [(x, await finished(api, job)) for x, job in jobs]
    assert all(answered_by(job, x) == job["version"] for x, job in done)
    by_version = Counter(job["version"] for _, job in done)
    assert by_version[1] >= 300 and by_version[2] > 0, by_version


async def test_jobs_follow_an_alias_promoted_and_rolled_back_under_load(api, worker_handle, model_repo):
    onnx_models.offset(model_repo / "offset" / "1" / "model.onnx", 1.0, {"max_queue_delay_ms": 2})
    onnx_models.offset(model_repo / "offset" / "2" / "model.onnx", 2.0, {"max_queue_delay_ms": 2})
    await worker_handle.start()
    assert (await api.put("/v1/models/offset/aliases/stable", json={"version": 1})).status_code == 200
    submitted: list[tuple[float, float, float, dict]] = []  # (started, answered, x, job)
    stop = asyncio.Event()

    async def client(seed: int) -> None:
        x = float(seed)
        while not stop.is_set():
            started = time.monotonic()
            job = await score(api, x, "stable", wait_s=0)
            submitted.append((started, time.monotonic(), x, job))
            x += 100

    async def traffic_since(moment: float) -> None:
        """0.4 s and at least 20 jobs submitted since `moment`: each alias value gets some
        traffic, however slowly a loaded machine answers."""
        await asyncio.sleep(0.4)

        def enough() -> bool:
            return sum(started > moment for started, *_ in submitted) >= 20

        await wait_until(enough, 30, "20 jobs answered while the alias stays")

    async def move(method: str, path: str, since: float, **kwargs) -> tuple[float, float]:
        await traffic_since(since)
        called = time.monotonic()
        response = await api.request(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return called, time.monotonic()

    first_set = time.monotonic()
    clients = [asyncio.create_task(client(i)) for i in range(8)]
    promoted = await move("PUT", "/v1/models/offset/aliases/stable", first_set, json={"version": 2})
    rolled_back = await move("POST", "/v1/models/offset/aliases/stable/rollback", promoted[1])
    await traffic_since(rolled_back[1])
    stop.set()
    await asyncio.gather(*clients)

    expected = Counter()
    for started, answered, x, job in submitted:
        if answered < promoted[0] or started > rolled_back[1]:
            want = 1
        elif promoted[1] < started and answered < rolled_back[0]:
            want = 2
        else:
            continue  # submitted while the alias moved: either version is right
        expected[want] += 1
        assert job["version"] == want
        assert answered_by(await finished(api, job), x) == want
    assert expected[1] > 10 and expected[2] > 10, expected
    audit = [(e["action"], e["before"], e["after"]) for e in (await api.get("/v1/audit")).json()]
    assert audit[:3] == [("alias.rollback", 2, 1), ("alias.set", 1, 2), ("alias.set", None, 1)]
