"""A worker holds its loaded models to a memory budget, finite by default: a version whose load and
warm-up would need more, rehearsed in a child process, is refused with the reason in its status,
while the worker keeps serving the others and its own memory stays small (a real `maas worker`
process, real Redis, real onnxruntime)."""

import asyncio
import time
from pathlib import Path

import pytest

from maas.core.settings import Settings
from maas.models.registry import ModelRepository
from tests.conftest import in_process_api
from tests.support import onnx_models
from tests.support.processes import MaasProcess
from worker.batch.memory import LoadRehearsals, memory_budget_bytes, memory_limit_bytes

BUDGET_MB = 512
MIB = 2**20


@pytest.fixture
def model_repo(tmp_path) -> Path:
    root = tmp_path / "models"
    onnx_models.offset(root / "offset" / "1" / "model.onnx", 1.0, {"max_queue_delay_ms": 2})
    # Placed by hand, bypassing upload validation: 1.6 GB for any batch, from a 265-byte file.
    onnx_models.memory_bomb(root / "bomb" / "1" / "model.onnx", side=20_000)
    return root


@pytest.fixture
def settings(redis_server, model_repo, tmp_path) -> Settings:
    return Settings(
        redis_url=redis_server.url,
        model_repository=model_repo,
        state_dir=tmp_path / "state",
        heartbeat_interval_s=0.2,
        worker_memory_budget_mb=BUDGET_MB,
    )


def peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


async def version_page(api, name: str, status: str, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        page = (await api.get(f"/v1/models/{name}/versions/1")).json()
        if page["status"] == status or time.monotonic() > deadline:
            return page
        await asyncio.sleep(0.1)


async def test_a_version_over_the_budget_is_refused_with_its_reason_and_the_others_serve(
    settings, redis, tmp_path
):
    async with MaasProcess("worker", tmp_path / "worker.log", settings) as worker:
        async with in_process_api(settings) as api:
            page = await version_page(api, "bomb", "failed")
            assert page["status"] == "failed", page
            error = page["workers"][0]["error"]
            assert f"needs more than the worker's memory budget, {BUDGET_MB} MB" in error
            assert (await version_page(api, "offset", "ready"))["status"] == "ready"
            response = await api.post(
                "/v1/jobs", json={"model": "offset", "inputs": [[1.0] * 4]}, headers={"Prefer": "wait=10"}
            )
            assert response.json()["outputs"]["y"] == [[2.0] * 4], response.text
            refused = await api.post("/v1/jobs", json={"model": "bomb", "inputs": [[1.0] * 4]})
            assert refused.status_code == 503, refused.text
            assert "memory budget" in refused.json()["error"]["message"]
        assert worker.alive()
        # The bomb never ran in the worker: 1.6 GB would show in its peak.
        assert peak_rss(worker.pid) < BUDGET_MB * MIB


def test_the_default_budget_is_finite():
    limit = memory_limit_bytes()
    assert 0 < limit <= 2**50
    assert memory_budget_bytes(None) == int(limit * 0.75)
    assert memory_budget_bytes(0) == 0  # set to 0: no budget, as before
    assert memory_budget_bytes(256) == 256 * MIB


async def test_rehearsals_in_one_child_each_get_their_own_verdict(model_repo):
    repository = ModelRepository(model_repo)
    offset, bomb = repository.get("offset", 1), repository.get("bomb", 1)
    rehearsals = LoadRehearsals(BUDGET_MB * MIB, 60, "cpu")
    await rehearsals.prepare([bomb, offset])  # the bomb first: the child goes on after it
    refused, served = await rehearsals.rehearse(bomb), await rehearsals.rehearse(offset)
    assert refused.refusal is not None and "memory budget, 512 MB" in refused.refusal
    assert served.refusal is None and 0 < served.needed_bytes < 64 * MIB
    assert (await LoadRehearsals(BUDGET_MB * MIB, 60, "cuda").rehearse(bomb)).refusal is None
