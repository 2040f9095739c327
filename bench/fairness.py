"""`make bench-fairness`: a noisy neighbour in one lane, per bench model.

Tenant A keeps 20,000 rows queued in the model's lane; tenant B sends 20 single-row jobs a second.
Three phases per model, in turn, for a few rounds: B alone (the idle service), A alone (the
single-tenant throughput), then both. Reports B's queue time (claim minus submit) beside A
against its p99 on the idle service plus one batch's inference time, and A's rows/s beside B
against A alone. Targets: B's p99 <= 2x its idle p99 + one batch's inference time; A >= 90% of
its single-tenant rows/s. Also the CPU this client (which writes every job), the worker and
Redis used.

Jobs are written into Redis through the JobStore with their tenant, exactly as the API writes a
caller's job (the HTTP surface takes the tenant from the caller's API key); a real redis-server and
a real `maas worker` process serve them.
"""

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis
from cpu import machine_cpu_s, tree_cpu_s
from fairness_report import Measured, batches_between, print_model, verdict
from heavy_model import build_repository

from batching import keys
from batching.codec import encode_tensors
from batching.entry import LaneEntry
from batching.heartbeat import live_worker_infos
from batching.jobs.record import JobRecord, JobStatus
from batching.jobs.store import JobStore
from batching.jobs.tenant_rows import tenant_queued_rows
from maas.cli.redis_server import RedisServer
from maas.models.registry import ModelRepository, ModelVersion

OUT_FILE = Path(__file__).resolve().parent / "out" / "fairness.json"
SUBMIT_CONCURRENCY = 32  # A's top-up jobs in flight at once
# Rows per job of A. digits runs ~40,000 rows/s: in 1-row jobs this client, not the worker, would
# be the bottleneck. heavy_mlp: 4-row jobs, so a 64-row batch that carries B's 1-row job still
# holds 61 rows; with 16-row jobs only 49 fit beside it, a packing cost (up to 15 of 64 rows of
# each batch B's job rides in) that no choice of batch can avoid without making B wait a batch.
A_JOB_ROWS = {"digits": 16, "heavy_mlp": 4}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5, help="Measured seconds per phase.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of the three phases.")
    parser.add_argument("--warmup", type=float, default=2, help="Unmeasured seconds first.")
    parser.add_argument("--a-queued-rows", type=int, default=20_000, help="Rows A keeps queued.")
    parser.add_argument(
        "--a-job-rows", type=int, default=0, help="Rows per job of A; 0: the model's A_JOB_ROWS."
    )
    parser.add_argument("--b-rate", type=float, default=20, help="Single-row jobs per second of B.")
    parser.add_argument("--models", default="digits,heavy_mlp", help="Comma-separated bench models.")
    parser.add_argument("--out", type=Path, default=OUT_FILE, help="Where to write the JSON results.")
    return parser.parse_args()


@dataclass
class Tenant:
    """Writes one tenant's jobs of one model version, as JobService would."""

    store: JobStore
    model: ModelVersion
    name: str
    rows: int
    ids: list[str] = field(default_factory=list)

    async def submit(self) -> None:
        now = time.time()
        job_id = f"{self.name}-{len(self.ids)}-{now:.6f}"
        record = JobRecord(job_id, JobStatus.QUEUED, self.model.name, 1, self.rows, now, now + 3600)
        record.tenant = self.name
        inputs = encode_tensors(self.model.signature.zeros(self.rows))
        lane = keys.online_lane(self.model.name, 1)
        await self.store.submit(record, LaneEntry(job_id, self.rows, now, inputs), lane, 0)
        self.ids.append(job_id)


async def keep_queued(tenant: Tenant, target_rows: int, until: float, seen: list[int]) -> None:
    """Tops A's queued rows (its counter in Redis) back up to target_rows until `until`; notes
    each count it read in `seen`."""
    redis = tenant.store.redis
    while time.monotonic() < until:
        queued = await tenant_queued_rows(redis, tenant.name)
        seen.append(queued)
        missing = math.ceil((target_rows - queued) / tenant.rows)
        if missing <= 0:
            await asyncio.sleep(0.005)
            continue
        for start in range(0, missing, SUBMIT_CONCURRENCY):
            await asyncio.gather(*(tenant.submit() for _ in range(min(SUBMIT_CONCURRENCY, missing - start))))


async def flood_process(spec: dict) -> dict:
    """Runs `fairness.py flood SPEC` (A's flood) and returns what it printed."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "flood", json.dumps(spec), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"the flood process exited with {child.returncode}")
    return json.loads(out)


async def flood_child(spec: dict) -> None:
    """A's flood in this process until spec["until"]; prints A's job ids, the queued counts it
    saw and the CPU it used while measured, as JSON."""
    redis = aioredis.from_url(spec["redis_url"])
    model = ModelRepository(Path(spec["repository"])).get(spec["model"], 1)
    a = Tenant(JobStore(redis, 3600), model, "a", spec["job_rows"])
    seen: list[int] = []
    flooding = asyncio.create_task(keep_queued(a, spec["queued_rows"], spec["until"], seen))
    await asyncio.sleep(max(0.0, spec["measured_from"] - time.monotonic()))
    cpu_from = time.process_time()
    await flooding
    print(json.dumps({"ids": a.ids, "seen": seen, "cpu_s": time.process_time() - cpu_from}))
    await redis.aclose()


async def trickle(tenant: Tenant, rate: float, start: float, until: float) -> None:
    """One job every 1/rate seconds on a fixed schedule (a late send does not shift the rest)."""
    n = 0
    while (due := start + n / rate) < until:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        await tenant.submit()
        n += 1


async def finished(redis: aioredis.Redis, ids: list[str], timeout_s: float = 120) -> list[dict]:
    """The records of `ids` once all are terminal: status, timings, created_at, started_at."""
    deadline = time.monotonic() + timeout_s
    fields = ("status", "timings", "created_at", "started_at")
    while True:
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(keys.job(job_id), *fields)
            answers = [dict(zip(fields, a, strict=True)) for a in await pipe.execute()]
        if all(a["status"] in (b"succeeded", b"failed") for a in answers) or time.monotonic() > deadline:
            return [
                {
                    "status": a["status"].decode(),
                    "created_at": float(a["created_at"]),
                    "started_at": float(a["started_at"] or "nan"),
                    **json.loads(a["timings"] or "{}"),
                }
                for a in answers
            ]
        await asyncio.sleep(0.1)


async def drained(redis: aioredis.Redis, lane: str) -> None:
    while int(await redis.get(keys.lane_rows(lane)) or 0) > 0:
        await asyncio.sleep(0.05)


class Bench:
    def __init__(self, server: RedisServer, repository: Path, worker_pid: int, args):
        self.redis = aioredis.from_url(server.url)
        self.redis_url, self.repository = server.url, repository
        self.store, self.args = JobStore(self.redis, 3600), args
        redis_pid = server.process.pid
        self.pids = {"worker": worker_pid, "redis": redis_pid}

    async def phase(self, model: ModelVersion, flood: bool, trickle_b: bool) -> Measured:
        """Warms up (A fills its backlog), then measures; returns once B's jobs are done and
        the lane is empty again. A's jobs come from a process of their own, so that they never
        hold up B's in this client's event loop (B's queue time counts from its submission)."""
        args, lane = self.args, keys.online_lane(model.name, 1)
        b = Tenant(self.store, model, "b", 1)
        measured_from = time.monotonic() + args.warmup
        until = measured_from + args.duration
        spec = {
            "redis_url": self.redis_url,
            "repository": str(self.repository),
            "model": model.name,
            "job_rows": args.a_job_rows or A_JOB_ROWS.get(model.name, 1),
            "queued_rows": args.a_queued_rows,
            "measured_from": measured_from,
            "until": until,
        }
        tasks = [asyncio.create_task(flood_process(spec))] if flood else []
        if trickle_b:
            tasks.append(asyncio.create_task(trickle(b, args.b_rate, measured_from, until)))
        await asyncio.sleep(max(0.0, measured_from - time.monotonic()))
        before = await self._counters(lane)
        outcomes = await asyncio.gather(*tasks)
        a = outcomes[0] if flood else {"ids": [], "seen": [], "cpu_s": 0.0}
        after = await self._counters(lane)
        b_jobs = await finished(self.redis, b.ids)
        await drained(self.redis, lane)
        between = batches_between(await finished(self.redis, a["ids"]), b_jobs) if flood else []
        done = [j for j in b_jobs if j["status"] == "succeeded"]
        cpu_s = {role: after["cpu"][role] - before["cpu"][role] for role in after["cpu"]}
        cpu_s["client"] += a["cpu_s"]
        return Measured(
            wall_s=after["t"] - before["t"],
            rows=after["rows"] - before["rows"],
            batches=after["batches"] - before["batches"],
            b_queue_ms=[j["queue_ms"] for j in done],
            b_inference_ms=[j["inference_ms"] for j in done],
            b_failed=len(b_jobs) - len(done),
            a_queued_min=min(a["seen"][len(a["seen"]) // 10 :]) if a["seen"] else None,
            a_job_rows=spec["job_rows"],
            b_behind_batches=between,
            cpu_s=cpu_s,
        )

    async def _counters(self, lane: str) -> dict:
        stats = await self.store.lane_stats(lane)
        cpu = {role: sum(tree_cpu_s(pid).values()) for role, pid in self.pids.items()}
        cpu["client"] = time.process_time()
        cpu["machine"] = machine_cpu_s()[0]  # every process's, other work on this machine too
        return {
            "rows": stats.get("computed_rows", 0),
            "batches": stats.get("batches", 0),
            "cpu": cpu,
            "t": time.monotonic(),
        }

    async def model(self, model: ModelVersion) -> dict:
        """Every round runs the three phases in turn, so that a machine whose load drifts
        weighs on each alike; the figures add the rounds up."""
        phases = {name: Measured() for name in PHASES}
        for _ in range(self.args.rounds):
            for name, (flood, trickle_b) in PHASES.items():
                phases[name].add(await self.phase(model, flood, trickle_b))
        return {name: measured.summary() for name, measured in phases.items()}


PHASES = {"b_alone": (False, True), "a_alone": (True, False), "a_and_b": (True, True)}


def start_worker(redis_url: str, repository: Path, models: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "MAAS_REDIS_URL": redis_url, "MAAS_MODEL_REPOSITORY": str(repository)}
    command = [sys.executable, "-m", "maas", "worker", "--models", ",".join(models)]
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


async def wait_ready(redis: aioredis.Redis, models: list[str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        infos = await live_worker_infos(redis, 2.0)
        states = [info.get("models", {}) for info in infos.values()]
        if states and all(states[0].get(f"{m}:1", {}).get("state") == "ready" for m in models):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the worker did not serve {models} within {timeout_s} s")


async def run(args, work: Path) -> dict:
    repository = work / "models"
    names = [m.name for m in build_repository(repository) if m.name in args.models.split(",")]
    for name in names:  # room in the lane for A's backlog
        config = repository / name / "1" / "config.json"
        config.write_text(
            json.dumps({**json.loads(config.read_text()), "max_queue_rows": 10 * args.a_queued_rows})
        )
    server = RedisServer(work / "redis", appendfsync=None)
    server.start()
    worker = start_worker(server.url, repository, names, work / "worker.log")
    bench, results = Bench(server, repository, worker.pid, args), {}
    try:
        await wait_ready(bench.redis, names)
        for name in names:
            phases = await bench.model(ModelRepository(repository).get(name, 1))
            results[name] = {"phases": phases, "verdict": verdict(phases)}
            print_model(name, phases, results[name]["verdict"])
        return results
    finally:
        await bench.redis.aclose()
        worker.terminate()
        worker.wait(30)
        server.stop()


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="maas-fairness-") as tmp:
        results = asyncio.run(run(args, Path(tmp)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "models": results}, indent=2)
    )
    print(f"results: {args.out}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["flood"]:
        asyncio.run(flood_child(json.loads(sys.argv[2])))
    else:
        main()
