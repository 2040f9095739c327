"""CPU cost of the metrics and request-id instrumentation per job, measured in-process (no
service, so a loaded machine skews it less than a jobs/s comparison): what the API adds to one
`POST /v1/jobs` and what a worker adds per job at batch sizes 1 and 16.

    .venv/bin/python bench/metrics_cost.py
"""

import asyncio
import time
from pathlib import Path

from api.observe import RequestObserver
from batching.entry import LaneEntry
from batching.jobs.record import JobResult, JobStatus
from batching.metrics import count_submitted
from maas.models.registry import ModelRepository
from worker.batch.lane_metrics import LaneMetrics

ROUNDS = 20_000
DIGITS = Path(__file__).resolve().parent.parent / "models"


async def _app(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _send(message) -> None:
    pass


async def _receive() -> dict:
    return {"type": "http.request"}


async def api_cost_us(observed: bool) -> float:
    app = RequestObserver(_app) if observed else _app
    headers = [(b"content-type", b"application/json"), (b"prefer", b"wait=10")]
    started = time.process_time()
    for _ in range(ROUNDS):
        scope = {"type": "http", "method": "POST", "path": "/v1/jobs", "headers": headers}
        await app(scope, _receive, _send)
        if observed:
            count_submitted("digits", 1)
    return (time.process_time() - started) / ROUNDS * 1e6


def worker_cost_us(batch_jobs: int) -> float:
    metrics = LaneMetrics(ModelRepository(DIGITS).get("digits", 1), "bench-worker")
    now = time.time()
    entries = [LaneEntry(f"j{i}", 1, now - 0.01, b"") for i in range(batch_jobs)]
    results = [(e, JobResult(JobStatus.SUCCEEDED, now)) for e in entries]
    applied = [True] * batch_jobs
    batches = ROUNDS // batch_jobs
    started = time.process_time()
    for _ in range(batches):
        metrics.claimed(entries, now)
        batch_id = metrics.batch(entries, [0.2] * batch_jobs)
        metrics.finished(results, applied, batch_id)
    return (time.process_time() - started) / (batches * batch_jobs) * 1e6


def main() -> None:
    bare, observed = asyncio.run(api_cost_us(False)), asyncio.run(api_cost_us(True))
    print(f"api: {observed - bare:.1f} us of CPU per job added (request id, HTTP metrics, submitted count)")
    for jobs in (1, 16):
        print(f"worker, batches of {jobs}: {worker_cost_us(jobs):.1f} us of CPU per job")


if __name__ == "__main__":
    main()
