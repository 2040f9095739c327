"""Data at rest across real processes (`maas api`, `maas worker`, `maas rq-worker`, and `maas
serve` with no keys configured): after online jobs (with metadata and webhooks) and a bulk job,
no known input, output or metadata is found in Redis (every hash, stream entry and string), in
its AOF, or in the bulk store; webhooks and downloads still carry the clear data."""

import base64
import contextlib
import os
import signal
import stat
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
import redis

from maas.cli.redis_server import RedisServer, free_port
from maas.core.sealed_file import FILE_MAGIC
from maas.core.sealing import new_ring_entry
from maas.core.settings import Settings
from tests.support.at_rest import METADATA, PATTERN, files_under, leaks, needles, redis_values
from tests.support.bulk_helpers import jsonl
from tests.support.processes import MaasProcess
from tests.support.waiting import wait_until_blocking
from tests.support.webhook_receiver import Receiver

SECRETS = ["whsec_" + base64.b64encode(bytes(range(32))).decode()]
JOBS = 4
BULK_ROWS = 60


@pytest.fixture
def aof_redis(tmp_path):
    """A redis-server of this test's own with every write in its AOF at once."""
    server = RedisServer(tmp_path / "redis", appendfsync="always")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(aof_redis, model_repo, tmp_path) -> Settings:
    return Settings(
        redis_url=aof_redis.url,
        model_repository=model_repo,
        state_dir=tmp_path / "state",
        port=free_port(),
        heartbeat_interval_s=0.2,
        data_keys=new_ring_entry("k1"),
        webhook_secrets=SECRETS,
        webhook_allow_http=True,
        webhook_allowed_networks=["127.0.0.0/8"],
    )


def run_jobs(client: httpx.Client, hook_url: str | None) -> np.ndarray:
    """JOBS jobs of PATTERN with METADATA (and a webhook); their outputs."""
    body = {"model": "digits", "version": 1, "inputs": PATTERN.tolist(), "metadata": METADATA}
    if hook_url:
        body["webhook"] = {"url": hook_url}
    ids = []
    for _ in range(JOBS):
        submitted = client.post("/v1/jobs", json=body)
        assert submitted.status_code == 202, submitted.text
        ids.append(submitted.json()["id"])
    jobs = [client.get(f"/v1/jobs/{job_id}", params={"wait": 30}).json() for job_id in ids]
    assert [j["status"] for j in jobs] == ["succeeded"] * JOBS
    assert all(j["metadata"] == METADATA for j in jobs)
    return np.asarray(jobs[0]["outputs"]["probabilities"], dtype=np.float32)


def run_bulk(client: httpx.Client) -> list[dict]:
    content = jsonl([{"id": f"r{i}", "inputs": PATTERN.tolist()} for i in range(BULK_ROWS)])
    data = {"model": "digits", "version": "1", "chunk_rows": "16"}
    submitted = client.post("/v1/bulk-jobs", data=data, files={"file": ("in.jsonl", content)})
    assert submitted.status_code == 202, submitted.text
    bulk_id = submitted.json()["id"]

    def done() -> bool:
        return client.get(f"/v1/bulk-jobs/{bulk_id}").json()["status"] in ("succeeded", "failed")

    wait_until_blocking(done, 60, "the bulk job ends")
    output = client.get(f"/v1/bulk-jobs/{bulk_id}/output")
    assert output.status_code == 200, output.text
    return [orjson.loads(line) for line in output.content.splitlines()]


def at_rest(redis_url: str, redis_dir: Path, bulk_dir: Path) -> list[tuple[str, bytes]]:
    with redis.Redis.from_url(redis_url) as client:
        found = list(redis_values(client))
    aof = [(where, data) for where, data in files_under(redis_dir) if "appendonly" in where]
    assert aof and any(b"HSET" in data for _, data in aof), "the AOF holds the workload"
    bulk = list(files_under(bulk_dir))
    assert len(bulk) >= 1 + 2 * (BULK_ROWS // 16)  # the input, its chunks and their results
    assert all(data.startswith(FILE_MAGIC) for _, data in bulk)
    return found + aof + bulk


def test_no_plaintext_at_rest_across_api_worker_and_rq_worker(settings, aof_redis, tmp_path):
    receiver = Receiver(free_port(), SECRETS).start()
    roles = ("api", "worker", "rq-worker")
    with contextlib.ExitStack() as stack:
        for role in roles:
            stack.enter_context(MaasProcess(role, tmp_path / f"{role}.log", settings))
        with httpx.Client(base_url=f"http://127.0.0.1:{settings.port}", timeout=40) as client:
            outputs = run_jobs(client, f"http://127.0.0.1:{receiver.port}/hook")
            lines = run_bulk(client)
        wait_until_blocking(lambda: len(receiver.calls) >= JOBS, 30, "every webhook delivered")
    receiver.stop()
    assert len(lines) == BULK_ROWS
    np.testing.assert_allclose(lines[0]["outputs"]["probabilities"], outputs, rtol=1e-5, atol=1e-30)
    # The rq worker opened each job's sealed outputs and metadata for its webhook event.
    event = receiver.calls[0].body
    assert event["metadata"] == METADATA
    np.testing.assert_allclose(event["outputs"]["probabilities"], outputs, rtol=1e-5, atol=1e-30)
    found = at_rest(settings.redis_url, aof_redis.data_dir, settings.state_dir / "bulk")
    assert leaks(iter(found), needles(outputs)) == []


def test_maas_serve_seals_with_a_key_of_its_own_kept_across_restarts(model_repo, tmp_path):
    state, port = tmp_path / "state", free_port()
    args = ("--port", str(port), "--state-dir", str(state), "--model-repository", str(model_repo))

    def serve(log: str) -> MaasProcess:
        return MaasProcess("serve", tmp_path / log, args=args, ready_marker="curl -s -X POST")

    with (
        serve("serve0.log") as first,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=40) as client,
    ):
        outputs = run_jobs(client, None)
        job_id = client.get("/v1/jobs").json()["data"][0]["id"]
        redis_port = int(first.log_text().split("redis-server at redis://127.0.0.1:")[1].split("/")[0])
        found = at_rest_serve(f"redis://127.0.0.1:{redis_port}/0", state)
        first.send_signal(signal.SIGINT)
        assert first.process.wait(30) == 0
    key_file = state / "data_keys"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert key_file.read_text().startswith("serve:")
    assert leaks(iter(found), needles(outputs)) == []
    with serve("serve1.log"), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=40) as client:
        again = client.get(f"/v1/jobs/{job_id}").json()  # sealed before the restart, read after it
    assert again["metadata"] == METADATA
    np.testing.assert_allclose(again["outputs"]["probabilities"], outputs, rtol=1e-5, atol=1e-30)


def at_rest_serve(redis_url: str, state: Path) -> list[tuple[str, bytes]]:
    with redis.Redis.from_url(redis_url) as client:
        client.execute_command("BGREWRITEAOF")  # the AOF's base file then holds every value
        wait_until_blocking(lambda: client.info("persistence")["aof_rewrite_in_progress"] == 0, 10, "AOF")
        found = list(redis_values(client))
    return found + [(w, d) for w, d in files_under(state / "redis") if "appendonly" in w]
