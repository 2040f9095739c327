"""How every accepted job ended: drained to a terminal state, then counted."""

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass

import httpx
import orjson
import redis.asyncio as aioredis

from batching import keys
from batching.jobs.record import TERMINAL, JobStatus

READ_CHUNK = 2_000
LONG_POLL_S = 5.0
CONCURRENT_POLLS = 64
API_SAMPLE = 200


@dataclass(frozen=True)
class JobState:
    status: str | None  # None: no record (lost, or its result TTL ran out, which the run cannot reach)
    error_code: str | None
    model: str | None
    rows: int


async def read_states(redis: aioredis.Redis, job_ids: list[str]) -> dict[str, JobState]:
    """Each job's record as the API would serve it, read in pipelined chunks: a GET per job
    over HTTP would take minutes for a long run's tens of thousands of jobs."""
    states = {}
    for start in range(0, len(job_ids), READ_CHUNK):
        chunk = job_ids[start : start + READ_CHUNK]
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in chunk:
                pipe.hmget(keys.job(job_id), "status", "error", "model", "rows")
            records = await pipe.execute()
        for job_id, (status, error, model, rows) in zip(chunk, records, strict=True):
            code = orjson.loads(error)["code"] if error else None
            states[job_id] = JobState(
                status.decode() if status else None, code, model and model.decode(), int(rows or 0)
            )
    return states


def unfinished(states: dict[str, JobState]) -> list[str]:
    return [i for i, s in states.items() if s.status is not None and s.status not in TERMINAL]


async def drain(
    redis: aioredis.Redis, client: httpx.AsyncClient, job_ids: list[str], timeout_s: float
) -> dict[str, JobState]:
    """Waits until every job is terminal or timeout_s passed, long-polling the unfinished ones
    through the API (which also marks a queued job past its deadline expired, as a client sees it)."""
    deadline = time.monotonic() + timeout_s
    states = await read_states(redis, job_ids)
    gate = asyncio.Semaphore(CONCURRENT_POLLS)

    async def poll(job_id: str) -> None:
        async with gate:
            wait_s = max(0.1, min(LONG_POLL_S, deadline - time.monotonic()))
            try:
                await client.get(f"/v1/jobs/{job_id}", params={"wait": wait_s}, timeout=wait_s + 10)
            except httpx.HTTPError:
                pass  # the state read from Redis after the round decides, not this answer

    while (waiting := unfinished(states)) and time.monotonic() < deadline:
        await asyncio.gather(*(poll(job_id) for job_id in waiting))
        states.update(await read_states(redis, waiting))
    return states


async def api_disagreements(client: httpx.AsyncClient, states: dict[str, JobState], seed: int) -> list[str]:
    """A sample read back over HTTP must match what Redis holds: the counts are what clients see."""
    sample = random.Random(seed).sample(sorted(states), min(API_SAMPLE, len(states)))
    found = []
    for job_id in sample:
        response = await client.get(f"/v1/jobs/{job_id}")
        status = response.json()["status"] if response.status_code == 200 else None
        if status != states[job_id].status:
            found.append(f"{job_id}: api {response.status_code} {status}, redis {states[job_id].status}")
    return found


def rows_with_results(states: dict[str, JobState]) -> dict[str, int]:
    """Rows per model whose job ran and got a result: what its lane's computed_rows should count
    (less any batch whose worker died between writing results and acknowledging them)."""
    rows: Counter = Counter()
    for state in states.values():
        ran = state.status == JobStatus.SUCCEEDED or state.error_code == "inference_error"
        if ran:
            rows[state.model] += state.rows
    return dict(rows)


def summarize(states: dict[str, JobState], announcements: Counter) -> dict:
    by_status = Counter(s.status for s in states.values())
    failed = Counter(s.error_code for s in states.values() if s.status == JobStatus.FAILED)
    lost = sorted(i for i, s in states.items() if s.status not in TERMINAL)
    duplicated = sorted(i for i in states if announcements[i] > 1)
    unannounced = sorted(i for i, s in states.items() if s.status in TERMINAL and not announcements[i])
    return {
        "accepted": len(states),
        "succeeded": by_status[JobStatus.SUCCEEDED],
        "failed": dict(failed),
        "cancelled": by_status[JobStatus.CANCELLED],
        "expired": by_status[JobStatus.EXPIRED],
        "lost": len(lost),
        "lost_examples": [f"{i}: {states[i].status or 'no record (404)'}" for i in lost[:10]],
        "duplicated": len(duplicated),
        "duplicated_examples": [f"{i}: announced {announcements[i]} times" for i in duplicated[:10]],
        "unannounced": len(unannounced),
        "unannounced_examples": unannounced[:10],
    }
