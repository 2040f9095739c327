"""/metrics across real processes (`maas api`, `maas worker --metrics-port`, `maas rq-worker
--metrics-port`): a known workload, then the exact counts and histogram counts each role
exports, the queue gauges before and after a worker runs, and promtool's lint.

Workload: 100 submissions, of which 3 are refused (bad inputs: 422), 1 is cancelled while
queued, 96 succeed; one of them has a webhook whose receiver answers 500 once, then 200."""

import base64

import httpx
import pytest

from maas.cli.redis_server import free_port
from maas.core.settings import Settings
from tests.support.exposition import promtool_check_metrics, scrape, value
from tests.support.processes import MaasProcess
from tests.support.waiting import wait_until_blocking
from tests.support.webhook_receiver import Receiver

SECRETS = ["whsec_" + base64.b64encode(bytes(range(32))).decode()]
GOOD, BAD = 97, 3
DIGITS = {"model": "digits", "version": "1"}
ONLINE = {**DIGITS, "lane": "online"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings, on a port of its own, with loopback webhooks retried at once."""
    webhooks = {"webhook_allow_http": True, "webhook_allowed_networks": ["127.0.0.0/8"]}
    retries = {"webhook_retry_delays_s": [0.1], "webhook_retry_jitter": 0}
    return settings.model_copy(
        update={"port": free_port(), "webhook_secrets": SECRETS, **webhooks, **retries}
    )


def submit_workload(client: httpx.Client, hook_url: str) -> list[str]:
    """GOOD accepted jobs (the first with the webhook) and BAD refused ones; the accepted ids."""
    good = {"model": "digits", "version": 1, "inputs": [[0.5] * 64]}
    ids = []
    for i in range(GOOD):
        body = {**good, "webhook": {"url": hook_url}} if i == 0 else good
        answer = client.post("/v1/jobs", json=body)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    for _ in range(BAD):
        answer = client.post("/v1/jobs", json={**good, "inputs": [[0.5] * 63]})
        assert answer.status_code == 422, answer.text
    return ids


def check_queue_before_any_worker(api_metrics: str) -> None:
    assert value(api_metrics, "maas_lane_entries_waiting", **ONLINE) == GOOD
    assert value(api_metrics, "maas_lane_rows_queued", **ONLINE) == GOOD
    assert value(api_metrics, "maas_lane_entries_pending", **ONLINE) == 0
    assert value(api_metrics, "maas_lane_oldest_waiting_seconds", **ONLINE) > 0
    assert value(api_metrics, "maas_workers_live") == 0


def check_api(text: str) -> None:
    assert value(text, "maas_jobs_submitted_total", **DIGITS) == GOOD
    assert value(text, "maas_jobs_finished_total", **DIGITS, status="cancelled", error_code="") == 1
    route = {"method": "POST", "route": "/v1/jobs"}
    assert value(text, "maas_http_requests_total", **route, status="202") == GOOD
    assert value(text, "maas_http_requests_total", **route, status="422") == BAD
    assert value(text, "maas_http_request_seconds_count", **route) == GOOD + BAD
    cancel = {"method": "DELETE", "route": "/v1/jobs/{job_id}", "status": "200"}
    assert value(text, "maas_http_requests_total", **cancel) == 1
    # Drained: nothing waits or is held, and the worker is live with digits:1 ready.
    for gauge in ("maas_lane_entries_waiting", "maas_lane_entries_pending", "maas_lane_rows_queued"):
        assert value(text, gauge, **ONLINE) == 0, gauge
    assert value(text, "maas_workers_live") == 1
    assert value(text, "maas_version_workers", **DIGITS, state="ready") == 1


def check_worker(text: str) -> None:
    done = GOOD - 1
    assert value(text, "maas_jobs_finished_total", **DIGITS, status="succeeded", error_code="") == done
    for histogram in ("maas_job_queue_seconds", "maas_job_inference_seconds", "maas_job_end_to_end_seconds"):
        assert value(text, f"{histogram}_count", **DIGITS) == done, histogram
    assert value(text, "maas_batch_rows_sum", **DIGITS) == done
    batches = value(text, "maas_batches_total", **DIGITS)
    assert 1 <= batches <= done and value(text, "maas_batch_rows_count", **DIGITS) == batches
    assert value(text, "maas_rows_recomputed_total", **DIGITS) == 0
    assert value(text, "maas_model_loads_total", **DIGITS, outcome="ok") == 1
    assert value(text, "maas_model_load_seconds_count", **DIGITS) == 1


def check_rq_worker(text: str) -> None:
    assert value(text, "maas_webhook_deliveries_total", outcome="retrying") == 1
    assert value(text, "maas_webhook_deliveries_total", outcome="delivered") == 1
    assert value(text, "maas_webhook_deliveries_total", outcome="failed") == 0
    assert value(text, "maas_webhook_delivery_seconds_count") == 2


async def test_a_known_workload_gives_exact_counts_on_every_role(settings, redis, processes):
    # `redis` empties Redis first: a previous test's rq worker, SIGKILLed with its process group,
    # leaves its scheduler locks for 61 s, and no retry (the webhook's second attempt) is
    # scheduled until they expire.
    receiver = Receiver(free_port(), SECRETS, script=[500]).start()
    worker_port, rq_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{settings.port}"
    await processes.ready("api")
    await processes.ready("rq-worker", "--metrics-port", str(rq_port))
    with httpx.Client(base_url=api_url, timeout=30) as client:
        ids = submit_workload(client, f"http://127.0.0.1:{receiver.port}/hook")
        assert client.delete(f"/v1/jobs/{ids[-1]}").status_code == 200
        check_queue_before_any_worker(scrape(f"{api_url}/metrics"))
        await processes.ready("worker", "--metrics-port", str(worker_port))
        jobs = [client.get(f"/v1/jobs/{i}", params={"wait": 30}).json() for i in ids[:-1]]
        assert [j["status"] for j in jobs] == ["succeeded"] * (GOOD - 1)

        def delivered() -> str:
            return client.get(f"/v1/jobs/{ids[0]}").json()["webhook"]["state"] == "delivered"

        wait_until_blocking(delivered, 30, "the webhook delivered on its second attempt")
        wait_until_blocking(
            lambda: value(scrape(f"{api_url}/metrics"), "maas_lane_rows_queued", **ONLINE) == 0,
            30,
            "the lane drained (the cancelled job's entry dropped)",
        )
    receiver.stop()
    texts = [scrape(f"{api_url}/metrics")]
    texts += [scrape(f"http://127.0.0.1:{port}/metrics") for port in (worker_port, rq_port)]
    check_api(texts[0])
    check_worker(texts[1])
    check_rq_worker(texts[2])
    for text in texts:
        promtool_check_metrics(text)


async def test_api_processes_sharing_a_multiprocess_dir_report_each_others_counts(
    settings, processes, tmp_path, monkeypatch
):
    """Two `maas api` processes with one PROMETHEUS_MULTIPROC_DIR (as the processes of a
    multi-process API have): a job submitted through one is counted on the other's /metrics."""
    shared = tmp_path / "prometheus-multiproc"
    shared.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    await processes.ready("api")
    other = settings.model_copy(update={"port": free_port()})
    async with MaasProcess("api", tmp_path / "second-api.log", other):
        body = {"model": "digits", "version": 1, "inputs": [[0.5] * 64]}
        answer = httpx.post(f"http://127.0.0.1:{settings.port}/v1/jobs", json=body, timeout=30)
        assert answer.status_code == 202, answer.text
        text = scrape(f"http://127.0.0.1:{other.port}/metrics")
    assert value(text, "maas_jobs_submitted_total", **DIGITS) == 1
    assert value(text, "maas_http_requests_total", method="POST", route="/v1/jobs", status="202") == 1
    promtool_check_metrics(text)
