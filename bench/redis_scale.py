"""`make bench-redis-scale`: one Redis under 1, 2 and 4 `maas worker` processes of the heavy bench
model (single-row jobs), to size a deployment.

Per step: jobs/s computed, Redis commands per job (INFO commandstats, every command from the
submit writes to the worker's claim, result and ack, heartbeats and polling included), Redis CPU
seconds per 1,000 jobs (its process's user + system time), and the machine's CPU use. Jobs are
written through the JobStore exactly as the API writes them (the HTTP parsing and auth are the
API's cost, not Redis's), from this process, keeping a backlog so workers never starve. On a
machine with few cores the workers, Redis and this client share them: past the core count more
workers cannot add throughput, which the machine CPU column shows.

    python bench/redis_scale.py [--workers 1,2,4] [--duration 15] [--backlog 2000]
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis
from cpu import cores, machine_cpu_s, tree_cpu_s
from heavy_model import build_repository

from batching import keys
from batching.codec import encode_tensors
from batching.entry import LaneEntry
from batching.heartbeat import live_workers
from batching.jobs.record import JobRecord, JobStatus
from batching.jobs.store import JobStore
from maas.cli.redis_server import RedisServer
from maas.core.ids import new_job_id
from maas.models.registry import ModelRepository

MODEL = "heavy_mlp"
REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_FILE = REPO_ROOT / "bench" / "out" / "redis_scale.json"
SUBMITS_AT_ONCE = 64


def start_workers(count: int, redis_url: str, repository: Path, log_dir: Path) -> list[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    env |= {"MAAS_REDIS_URL": redis_url, "MAAS_MODEL_REPOSITORY": str(repository)}
    env |= {"MAAS_WORKER_MODELS": json.dumps([MODEL]), "PYTHONPATH": str(REPO_ROOT)}
    return [
        subprocess.Popen(
            [sys.executable, "-m", "maas", "worker"],
            env=env,
            stdout=(log_dir / f"worker-{count}-{i}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for i in range(count)
    ]


class Submitter:
    """Keeps about `backlog` single-row jobs queued in the model's lane."""

    def __init__(self, store: JobStore, repository: Path, backlog: int):
        self.store, self.backlog = store, backlog
        model = ModelRepository(repository).get(MODEL, 1)
        self.inputs = encode_tensors(model.signature.zeros(1))
        self.lane = keys.online_lane(MODEL, 1)
        self.submitted = 0

    async def one(self) -> None:
        now = time.time()
        record = JobRecord(new_job_id(now), JobStatus.QUEUED, MODEL, 1, 1, now, now + 3600)
        await self.store.submit(record, LaneEntry(record.id, 1, now, self.inputs), self.lane, 0)
        self.submitted += 1

    async def run(self, until: float) -> None:
        redis = self.store.redis
        while time.monotonic() < until:
            queued = int(await redis.get(keys.lane_rows(self.lane)) or 0)
            if queued >= self.backlog:
                await asyncio.sleep(0.01)
                continue
            await asyncio.gather(*(self.one() for _ in range(SUBMITS_AT_ONCE)))


async def counters(redis: aioredis.Redis, lane: str, redis_pid: int) -> dict:
    stats = await redis.hgetall(keys.lane_stats(lane))
    commands = await redis.info("commandstats")
    return {
        "t": time.monotonic(),
        "jobs": int(stats.get(b"computed_rows", 0)),
        "calls": {name.removeprefix("cmdstat_"): v["calls"] for name, v in commands.items()},
        "redis_cpu_s": sum(tree_cpu_s(redis_pid).values()),
        "machine": machine_cpu_s(),
    }


def summary(workers: int, before: dict, after: dict) -> dict:
    jobs = after["jobs"] - before["jobs"]
    wall_s = after["t"] - before["t"]
    calls = {n: c - before["calls"].get(n, 0) for n, c in after["calls"].items()}
    calls = {n: c for n, c in sorted(calls.items(), key=lambda kv: -kv[1]) if c > 0}
    redis_cpu_s = after["redis_cpu_s"] - before["redis_cpu_s"]
    busy = after["machine"][0] - before["machine"][0]
    total = after["machine"][1] - before["machine"][1]
    return {
        "workers": workers,
        "jobs": jobs,
        "jobs_per_s": round(jobs / wall_s, 1),
        "commands_per_job": round(sum(calls.values()) / max(jobs, 1), 2),
        "top_commands_per_job": {n: round(c / max(jobs, 1), 2) for n, c in list(calls.items())[:8]},
        "redis_cpu_s_per_1000_jobs": round(redis_cpu_s / max(jobs, 1) * 1000, 3),
        "machine_cpu_busy": f"{busy / total:.0%} of {cores()} cores",
    }


async def step(server: RedisServer, repository: Path, workers: int, args, log_dir: Path) -> dict:
    redis = aioredis.from_url(server.url)
    await redis.flushall()
    processes = start_workers(workers, server.url, repository, log_dir)
    try:
        while await live_workers(redis, 2.0) < workers:
            if any(p.poll() is not None for p in processes):
                raise RuntimeError(f"a worker exited; see {log_dir}")
            await asyncio.sleep(0.2)
        submitter = Submitter(JobStore(redis, 3600), repository, args.backlog)
        start = time.monotonic()
        feeding = asyncio.create_task(submitter.run(start + args.warmup + args.duration))
        await asyncio.sleep(args.warmup)
        await redis.config_resetstat()
        before = await counters(redis, submitter.lane, server.process.pid)
        await asyncio.sleep(args.duration)
        after = await counters(redis, submitter.lane, server.process.pid)
        await feeding
        return summary(workers, before, after)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        await redis.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="Worker process counts, in turn.")
    parser.add_argument("--duration", type=float, default=15.0, help="Measured seconds per step.")
    parser.add_argument("--warmup", type=float, default=3.0, help="Seconds before measuring.")
    parser.add_argument("--backlog", type=int, default=2000, help="Jobs kept queued.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="maas-redis-scale-") as tmp:
        root = Path(tmp)
        build_repository(root / "models")
        server = RedisServer(root / "redis", appendfsync="everysec")
        server.start()
        try:
            results = [
                await step(server, root / "models", int(n), args, root) for n in args.workers.split(",")
            ]
        finally:
            server.stop()
    OUT_FILE.parent.mkdir(exist_ok=True)
    OUT_FILE.write_text(json.dumps(results, indent=2))
    print(f"heavy_mlp, single-row jobs, one Redis; {cores()} cores; load average {os.getloadavg()[0]:.1f}")
    print("| workers | jobs/s | Redis commands/job | Redis CPU s / 1,000 jobs | machine CPU busy |")
    print("| ---: | ---: | ---: | ---: | --- |")
    for r in results:
        print(
            f"| {r['workers']} | {r['jobs_per_s']:,} | {r['commands_per_job']} | "
            f"{r['redis_cpu_s_per_1000_jobs']} | {r['machine_cpu_busy']} |"
        )
    print("commands per job (top):", json.dumps(results[-1]["top_commands_per_job"]))


if __name__ == "__main__":
    asyncio.run(main())
