"""The listening side of bench/announcement_cost.py, run as a child under the code being measured
(`PYTHONPATH=<checkout>`): one JobEvents listener, as an API process runs it, watching the jobs
listed in a file; it prints the CPU seconds it spent from "ready" until the last job woke.
It imports only what every release since slot tags has (JobEvents), so it runs on either side of
an A/B.

    python bench/announcement_listener.py REDIS_URL JOBS_JSON
"""

import asyncio
import contextlib
import json
import sys
import time

import redis.asyncio as aioredis

from batching.jobs.events import JobEvents


async def listen(url: str, jobs_file: str) -> None:
    with open(jobs_file) as f:
        plan = json.load(f)
    redis = aioredis.from_url(url)
    events = JobEvents(redis)
    events.start()
    await asyncio.wait_for(events.subscribed.wait(), 10)
    with contextlib.ExitStack() as stack:
        woken = [stack.enter_context(events.watch(job_id)) for job_id in plan["waited"]]
        last = stack.enter_context(events.watch(plan["last"]))
        print("ready", flush=True)
        started = time.process_time()
        await asyncio.wait_for(last.wait(), 120)
        spent = time.process_time() - started
    carried = sum(1 for event in woken if event.is_set() and event.fields is not None)
    print(
        json.dumps({"cpu_s": spent, "woken": sum(e.is_set() for e in woken), "carried": carried}), flush=True
    )
    await events.stop()
    await redis.aclose()


if __name__ == "__main__":
    asyncio.run(listen(sys.argv[1], sys.argv[2]))
