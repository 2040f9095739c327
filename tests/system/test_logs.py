"""Logs of a workload through real processes (`maas api`, `maas worker`, `maas rq-worker`) with
MAAS_LOG_FORMAT=json at DEBUG: every line of every role is one JSON object with its fields, the
request id given in X-Request-ID comes back and is in the API's records, and nothing secret
(the API key, the key hash secret, the webhook secret, the webhook URL's token, input values,
metadata) is in any line."""

import base64

import httpx
import orjson
import pytest

from maas.cli.redis_server import free_port
from maas.core.settings import Settings
from tests.support.processes import MaasProcesses
from tests.support.tenants import SECRET, bearer, keyed, make_key
from tests.support.waiting import wait_until_blocking
from tests.support.webhook_receiver import Receiver

WEBHOOK_SECRET = "whsec_" + base64.b64encode(bytes(range(7, 39))).decode()
ROW = [0.7316428] * 64  # a value no log line has a reason to hold
METADATA = {"patient": "Q-7731-secret-metadata"}
HOOK_TOKEN = "hook-query-token-5521"
REQUEST_ID = "trace-me-0042"
JOBS = 5


@pytest.fixture
def settings(settings: Settings) -> Settings:
    webhooks = {"webhook_allow_http": True, "webhook_allowed_networks": ["127.0.0.0/8"]}
    return keyed(
        settings,
        port=free_port(),
        log_format="json",
        log_level="DEBUG",
        webhook_secrets=[WEBHOOK_SECRET],
        **webhooks,
    )


def run_workload(client: httpx.Client, token: str, hook_url: str) -> list[str]:
    body = {"model": "digits", "version": 1, "inputs": [ROW], "metadata": METADATA}
    ids = []
    for i in range(JOBS):
        headers = {**bearer(token), "X-Request-ID": REQUEST_ID} if i == 0 else bearer(token)
        answer = client.post("/v1/jobs", json={**body, "webhook": {"url": hook_url}}, headers=headers)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
        if i == 0:
            assert answer.headers["x-request-id"] == REQUEST_ID
    refused = client.post("/v1/jobs", json={**body, "inputs": [ROW[:-1]]}, headers=bearer(token))
    assert refused.status_code == 422
    assert len(refused.headers["x-request-id"]) == 32  # none given: a new one
    for job_id in ids:
        job = client.get(f"/v1/jobs/{job_id}", params={"wait": 30}, headers=bearer(token)).json()
        assert job["status"] == "succeeded", job
    return ids


def records(processes: MaasProcesses) -> dict[str, list[dict]]:
    """Every line each role logged, parsed: a line that is not one JSON object fails here."""
    parsed = {}
    for process in processes.started:
        lines = [line for line in process.log_text().splitlines() if line.strip()]
        parsed[process.role] = [orjson.loads(line) for line in lines]
        assert all({"ts", "level", "logger", "msg"} <= set(r) for r in parsed[process.role])
    return parsed


async def test_every_role_logs_json_fields_and_nothing_secret(settings, processes, redis):
    token = await make_key(redis)
    receiver = Receiver(free_port(), [WEBHOOK_SECRET]).start()
    for role in ("api", "worker", "rq-worker"):
        await processes.ready(role)
    hook_url = f"http://127.0.0.1:{receiver.port}/hook?token={HOOK_TOKEN}"
    with httpx.Client(base_url=f"http://127.0.0.1:{settings.port}", timeout=40) as client:
        ids = run_workload(client, token, hook_url)
    wait_until_blocking(lambda: len(receiver.calls) >= JOBS, 30, "every webhook delivered")
    receiver.stop()
    logged = records(processes)
    api, worker, rq = logged["api"], logged["worker"], logged["rq-worker"]
    assert any(r.get("request_id") == REQUEST_ID and r.get("job_id") == ids[0] for r in api)
    finished = {r["job_id"] for r in worker if r["msg"] == "job finished"}
    assert finished == set(ids)
    assert all(
        {"batch_id", "model", "version", "worker_id"} <= set(r) for r in worker if r["msg"] == "job finished"
    )
    assert any(r["msg"] == "batch ran" and r["rows"] >= 1 and r["duration_ms"] > 0 for r in worker)
    delivered = {r["job_id"] for r in rq if r.get("outcome") == "delivered" and r.get("webhook_id")}
    assert delivered == set(ids)
    secrets = [
        token,
        token.split("_")[-1],
        SECRET,
        WEBHOOK_SECRET,
        WEBHOOK_SECRET.removeprefix("whsec_"),
        HOOK_TOKEN,
        "0.7316428",
        METADATA["patient"],
    ]
    for role, role_records in logged.items():
        text = "\n".join(orjson.dumps(r).decode() for r in role_records)
        leaked = [s for s in secrets if s in text]
        assert leaked == [], f"{role} logged {leaked}"
