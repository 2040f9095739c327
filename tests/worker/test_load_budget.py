"""Two versions loading side by side cannot overshoot the memory budget together: each reserves
its expected size before it starts, so of two 256 MiB versions under a budget that holds one,
one is preloaded and the other waits for a job, which then unloads the idle first (least
recently used). In-process worker, real Redis, real onnxruntime rehearsals and loads."""

import shutil
from pathlib import Path

import pytest

from maas.core.settings import Settings
from tests.support import large_models
from worker.batch.memory import version_bytes

WIDTH, DEPTH = 4096, 4  # 256 MiB of weights each
MIB = 2**20


@pytest.fixture
def model_repo(tmp_path) -> Path:
    root = tmp_path / "models"
    large_models.mlp(root / "wide_a" / "1", WIDTH, DEPTH)
    shutil.copytree(root / "wide_a" / "1", root / "wide_b" / "1")
    return root


@pytest.fixture
def settings(redis_server, model_repo, tmp_path) -> Settings:
    # Room for one version (its files, or its rehearsal's peak: +329 MiB measured), not two.
    return Settings(
        redis_url=redis_server.url,
        model_repository=model_repo,
        state_dir=tmp_path / "state",
        heartbeat_interval_s=0.2,
        worker_memory_budget_mb=520,
        worker_max_concurrent_loads=2,
    )


async def test_two_loads_together_stay_within_the_budget_and_a_job_evicts_the_idle_one(api, worker, settings):
    lanes = worker.lanes
    budget = settings.worker_memory_budget_mb * MIB
    assert len(lanes.served) == 1, f"both preloaded past the budget: {list(lanes.served)}"
    (first,) = lanes.served
    other = ("wide_b", 1) if first == ("wide_a", 1) else ("wide_a", 1)
    assert version_bytes(lanes.served[first].model) >= DEPTH * WIDTH * WIDTH * 4
    assert lanes.used_bytes() <= budget
    assert lanes.reported_states().get(f"{other[0]}:1") is None  # skipped, not failed

    body = {"model": other[0], "inputs": [[0.0] * WIDTH]}
    response = await api.post("/v1/jobs", json=body, headers={"Prefer": "wait=120"})
    assert response.json()["status"] == "succeeded", response.text
    assert list(lanes.served) == [other], "the idle version was not unloaded to make room"
    assert lanes.used_bytes() <= budget and not lanes.loads.reserved
