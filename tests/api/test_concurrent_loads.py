"""A worker loads versions side by side: a small version loads and answers while a large one
(512 MiB of external data) is still loading, and the large one's progress rises through its
phases, in the worker's heartbeat and in GET /v1/models/{name}/versions/{v}. In-process worker
and API, real Redis, real onnxruntime; every wait is on a state, with a deadline."""

import asyncio
import os
import time
from pathlib import Path

import pytest

from batching import model_events
from maas.core.settings import Settings
from tests.support import large_models, onnx_models
from tests.support.waiting import wait_until

WIDTH, DEPTH = 4096, 8  # 512 MiB of weights, in two files


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # No budget, so no rehearsal: the large load takes its slot at once and holds it throughout
    # (with one slot, the small version would answer only after it: checked by hand).
    return settings.model_copy(update={"worker_max_concurrent_loads": 2, "worker_memory_budget_mb": 0})


def uncache(folder: Path) -> int:
    """Drops the files from the page cache (as on a worker's first load of them); their size."""
    total = 0
    for path in folder.iterdir():
        with path.open("rb") as f:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        total += path.stat().st_size if path.suffix != ".json" else 0
    return total


async def test_a_small_version_answers_while_a_large_one_loads_and_shows_its_progress(
    api, redis, offset_v1, worker, model_repo
):
    await asyncio.to_thread(large_models.mlp, model_repo / "big" / "1", WIDTH, DEPTH, files=2)
    total = uncache(model_repo / "big" / "1")
    seen: list[dict] = []

    def big() -> dict:
        return worker.lanes.reported_states().get("big:1", {})

    async def sample() -> None:
        while big().get("state") != "ready":
            seen.append(big())
            await asyncio.sleep(0.005)

    sampling = asyncio.create_task(sample())
    started = time.monotonic()
    await model_events.announce(redis, "version.create", "big", 1)
    await wait_until(lambda: big().get("state") == "loading", 30, "big:1 loading")

    onnx_models.offset(model_repo / "small" / "1" / "model.onnx", 5.0, {"max_queue_delay_ms": 2})
    small_at = time.monotonic()
    await model_events.announce(redis, "version.create", "small", 1)
    response = await api.post(
        "/v1/jobs", json={"model": "small", "inputs": [[1.0] * 4]}, headers={"Prefer": "wait=60"}
    )
    assert response.json()["outputs"]["y"] == [[6.0] * 4], response.text
    assert big().get("state") == "loading", f"big:1 no longer loading when small answered: {big()}"
    small_s = time.monotonic() - small_at

    async def api_shows_progress() -> dict | None:
        page = (await api.get("/v1/models/big/versions/1")).json()
        holders = page["workers"]
        return page if holders and holders[0].get("bytes_total") == total else None

    page = await wait_until(api_shows_progress, 30, "GET /v1/models/big/versions/1 with load progress")
    assert page["status"] == "loading" and page["workers"][0]["phase"] in {"reading", "building", "warming"}

    await asyncio.wait_for(sampling, 180)
    print(f"small answered {small_s:.2f} s after it appeared; big ready {time.monotonic() - started:.2f} s")
    reading = [s["bytes_read"] for s in seen if s.get("phase") == "reading"]
    assert reading == sorted(reading), "bytes read went down"
    assert any(0 < read < total for read in reading), f"no progress seen mid-read: {reading[:5]}..."
    phases = [s.get("phase") for s in seen]
    assert phases.index("reading") < max(phases.index(p) for p in ("building", "warming") if p in phases)
    assert {s["bytes_total"] for s in seen if s.get("phase") == "reading"} == {total}
