"""CPU an API process's completion listener spends per ended job, measured in-process: one
JobEvents listener (bench/announcement_listener.py, run under each checkout's code) hears the
ends of `--jobs` jobs, announced as the code under test publishes them (one message per job, or
one frame per batch of `--batch`), from this process, on a throwaway redis-server; the
listener's own CPU time from its first to its last message, divided by the jobs. Fractions of
jobs waited on: ~0 (every end is another process's job: several API processes), 1/batch and
all (one API process whose requests all wait). Checkouts alternate within each round.

    python bench/announcement_cost.py --code /path/to/main --code . --rounds 2
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis

from batching import keys, slot_tags
from batching.jobs.announcement import batch_frame, record_bytes
from batching.jobs.record import JobRecord, JobResult, JobStatus, JobTimings
from maas.cli.redis_server import RedisServer
from maas.core.ids import base_of, new_job_id, with_tag

TAG = slot_tags.tag_of_key(keys.online_lane("digits", 1))
LISTENER = Path(__file__).resolve().parent / "announcement_listener.py"


def ended_record(job_id: str) -> dict[bytes, bytes]:
    """A digits job's record as FINISH leaves it (one row, ten probabilities)."""
    now = time.time()
    record = JobRecord(job_id, JobStatus.SUCCEEDED, "digits", 1, 1, now, now + 60, {"k": 1}, tenant="acme")
    result = JobResult(
        JobStatus.SUCCEEDED,
        now,
        {"probabilities": np.full((1, 10), 0.1, np.float32)},
        timings=JobTimings(2.0, 0.5, 16),
    )
    fields = {
        **record.to_fields(),
        "started_at": repr(now),
        "worker": "w-1",
        **result.to_fields(job_id=job_id),
    }
    return {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()}


def messages(ids: list[str], batch: int, frames: bool) -> list[tuple[str, bytes]]:
    records = [ended_record(job_id) for job_id in ids]
    if not frames:
        singles = [job_id.encode() + b"\n" + record_bytes(r) for job_id, r in zip(ids, records, strict=True)]
        return [(keys.job_events(TAG), single) for single in singles]
    return [
        (keys.job_ends(TAG), batch_frame(list(zip(ids[i : i + batch], records[i : i + batch], strict=True))))
        for i in range(0, len(ids), batch)
    ]


def run_one(url: str, code: str, plan_file: str, sent: list[tuple[str, bytes]]) -> dict:
    env = {**os.environ, "PYTHONPATH": code}
    child = subprocess.Popen(
        [sys.executable, str(LISTENER), url, plan_file], env=env, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    if child.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the listener under {code} did not start")
    client = redis.Redis.from_url(url)
    for i in range(0, len(sent), 1000):
        pipe = client.pipeline(transaction=False)
        for channel, data in sent[i : i + 1000]:
            pipe.publish(channel, data)
        pipe.execute()
    result = json.loads(child.stdout.readline())
    child.wait(30)
    client.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code", action="append", required=True, help="a checkout (its PYTHONPATH)")
    parser.add_argument("--jobs", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    ids = [with_tag(new_job_id(), TAG) for _ in range(args.jobs)]
    sent = {False: messages(ids, args.batch, False), True: messages(ids, args.batch, True)}
    fractions = {"none": 0, f"1/{args.batch}": args.batch, "all": 1}
    figures: dict[tuple, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis", appendfsync=None)
        url = server.start()
        # The whole stream may sit in a slow listener's buffer: no limit in this bench.
        redis.Redis.from_url(url).config_set("client-output-buffer-limit", "pubsub 0 0 0")
        try:
            for _ in range(args.rounds):
                for name, every in fractions.items():
                    plan = Path(tmp) / "plan.json"
                    waited = [base_of(i) for i in ids[:-1][:: every or len(ids)]] if every else []
                    plan.write_text(json.dumps({"waited": waited, "last": ids[-1]}))
                    for code in args.code:
                        has_frames = (Path(code) / "batching/jobs/announcement.py").is_file()
                        for frames in (False, True) if has_frames else (False,):
                            result = run_one(url, code, str(plan), sent[frames])
                            key = (code, "frames" if frames else "singles", name)
                            figures.setdefault(key, []).append(result["cpu_s"] / args.jobs * 1e6)
        finally:
            server.stop()
    print(
        f"listener CPU per ended job, µs (median of {args.rounds}; {args.jobs} jobs, batches of {args.batch})"
    )
    for (code, form, name), values in figures.items():
        print(f"{code:40} {form:8} waited {name:6} {statistics.median(values):7.2f}  {values}")


if __name__ == "__main__":
    main()
