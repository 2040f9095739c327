"""`maas bulk` against a real API process (`maas api`), a real rq-worker process and a worker."""

import subprocess

import numpy as np
import orjson
import pytest

from maas.cli.redis_server import free_port
from maas.core.settings import Settings
from tests.api.test_bulk_jobs import run_direct
from tests.conftest import DIGITS
from tests.support.bulk_helpers import jsonl
from tests.support.processes import MaasProcesses, run_maas


@pytest.fixture
def settings(redis_server, model_repo, tmp_path) -> Settings:
    return Settings(
        redis_url=redis_server.url,
        model_repository=model_repo,
        state_dir=tmp_path / "state",
        heartbeat_interval_s=0.2,
        port=free_port(),
    )


@pytest.fixture
async def api_process(settings, redis, tmp_path):
    with MaasProcesses(settings, tmp_path) as processes:
        await processes.ready("rq-worker")
        await processes.ready("api")
        yield f"http://127.0.0.1:{settings.port}"


async def maas(*args: str) -> subprocess.CompletedProcess:
    """`maas bulk ...`, run in a thread, so that the in-process worker keeps running meanwhile."""
    return await run_maas("bulk", *args)


async def test_submit_wait_shows_progress_and_downloads_the_output(api_process, worker, tmp_path):
    rows = np.random.default_rng(7).integers(0, 17, (500, 64)).astype(np.float32)
    source = tmp_path / "rows.jsonl"
    source.write_bytes(jsonl([{"id": f"x{i}", "inputs": [row]} for i, row in enumerate(rows)]))
    out = tmp_path / "scored.jsonl"
    done = await maas(
        "submit",
        str(source),
        "--model",
        "digits",
        "--chunk-rows",
        "100",
        "--wait",
        "-o",
        str(out),
        "--url",
        api_process,
    )
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stderr and "500/500" in done.stderr and "rows/s" in done.stderr
    bulk_id = done.stdout.strip()
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [line["id"] for line in lines] == [f"x{i}" for i in range(500)]
    got = np.asarray([line["outputs"]["probabilities"][0] for line in lines], np.float32)
    [expected] = run_direct(DIGITS / "model.onnx", {"pixels": rows})
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    status = await maas("status", bulk_id, "--json", "--url", api_process)
    assert orjson.loads(status.stdout)["counts"] == {"total": 500, "succeeded": 500, "failed": 0}
    again = tmp_path / "again.jsonl"
    assert (await maas("download", bulk_id, "-o", str(again), "--url", api_process)).returncode == 0
    assert again.read_bytes() == out.read_bytes()
    late = await maas("cancel", bulk_id, "--url", api_process)
    assert late.returncode == 1 and "409" in late.stderr and "succeeded" in late.stderr
    missing = await maas("submit", str(source), "--model", "nope", "--url", api_process)
    assert missing.returncode == 1 and "model 'nope' not found" in missing.stderr
