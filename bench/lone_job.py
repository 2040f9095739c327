"""Low load: lone jobs through the worker's lane reader and batch collector, against a fresh
redis-server. Prints how far each job's queue wait overshot the delay, XREADGROUPs and CLIENT
UNBLOCKs per job, and this process's CPU per job (submit included): the figures of the issue's
"a lone job waits D, not more, and nothing polls" targets, without HTTP or inference around them.

    python bench/lone_job.py [--delay-ms 5] [--jobs 50]
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import redis.asyncio as aioredis

from batching import keys
from batching.codec import encode_tensors
from batching.collector import BatchCollector
from batching.entry import LaneEntry
from batching.fair_lane import FairLaneReader
from batching.jobs.record import JobRecord, JobStatus
from batching.jobs.store import JobStore
from batching.policy import BatchPolicy
from maas.cli.redis_server import RedisServer

LANE = keys.online_lane("lone", 1)
SETTLE_S = 0.05  # between jobs: each one arrives at an idle reader


async def lone_job(store: JobStore, collector: BatchCollector, job_id: str) -> tuple[float, float]:
    """(seconds from submit to its batch, CPU seconds of this process meanwhile)."""
    cpu, started = time.process_time(), time.monotonic()
    now = time.time()
    record = JobRecord(job_id, JobStatus.QUEUED, "lone", 1, 1, now, now + 60)
    inputs = encode_tensors({"x": np.zeros((1, 64), np.float32)})
    await store.submit(record, LaneEntry(job_id, 1, now, inputs), LANE, 0)
    while not await collector.next_batch(0.5):
        pass
    return time.monotonic() - started, time.process_time() - cpu


async def measure(url: str, delay_s: float, jobs: int) -> None:
    redis = aioredis.from_url(url)
    store = JobStore(redis, 60)
    reader = FairLaneReader(redis, LANE, "bench", 30)
    await reader.ensure_group()
    collector = BatchCollector(BatchPolicy(32, delay_s, ()), reader)
    await redis.config_resetstat()
    waits, cpus = [], []
    for i in range(jobs):
        await asyncio.sleep(SETTLE_S)
        waited_s, cpu_s = await lone_job(store, collector, f"lone-{i}")
        waits.append((waited_s - delay_s) * 1000)
        cpus.append(cpu_s * 1000)
    stats = await redis.info("commandstats")
    calls = {
        name: stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("xreadgroup", "client|unblock")
    }
    await reader.aclose()
    await redis.aclose()
    waits.sort()
    print(
        f"delay {delay_s * 1000:g} ms, {jobs} lone jobs: overshoot ms p50 {statistics.median(waits):.2f} "
        f"p90 {waits[int(0.9 * (jobs - 1))]:.2f} max {waits[-1]:.2f}; CPU ms/job p50 "
        f"{statistics.median(cpus):.2f}; per job: XREADGROUP {calls['xreadgroup'] / jobs:.2f}, "
        f"CLIENT UNBLOCK {calls['client|unblock'] / jobs:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=5.0)
    parser.add_argument("--jobs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="maas-lone-") as tmp:
        server = RedisServer(Path(tmp), appendfsync=None)
        server.start()
        try:
            asyncio.run(measure(server.url, args.delay_ms / 1000, args.jobs))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
