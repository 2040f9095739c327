"""A batch is claimed and finished by one script call per slot its jobs are in: each job gets
its own answer, in order, whether its id carries the lane's slot tag or was made before slot
tags (an older maas's job, on one Redis), and whatever state it was in."""

import time

import numpy as np

from batching import keys, slot_tags
from batching.entry import LaneEntry
from batching.jobs.record import JobError, JobRecord, JobResult, JobStatus
from batching.jobs.store import JobStore
from batching.webhook import WebhookRecord
from maas.core.ids import new_job_id, with_tag

LANE = keys.online_lane("digits", 1)
TAG = slot_tags.tag_of_key(LANE)
HOOK = WebhookRecord("http://127.0.0.1:9/hook", ("succeeded", "failed", "expired"))


async def _queued(redis, job_id: str, deadline_in_s: float = 60) -> LaneEntry:
    now = time.time()
    record = JobRecord(job_id, JobStatus.QUEUED, "digits", 1, 1, now, now + deadline_in_s, webhook=HOOK)
    await redis.hset(keys.job(job_id), mapping=record.to_fields())
    return LaneEntry(job_id, 1, now, b"", stream_id="0-1")


async def _outbox_jobs(redis, tag: str | None) -> list[str]:
    return [f[b"job"].decode() for _, f in await redis.xrange(keys.webhook_outbox(tag))]


async def test_claim_and_finish_answer_each_job_of_a_mixed_batch_in_order(redis):
    store = JobStore(redis, 60)
    tagged = [with_tag(new_job_id(), TAG) for _ in range(3)]
    old = new_job_id()  # no tag: its record and outbox are the untagged ones
    entries = [
        await _queued(redis, tagged[0]),
        await _queued(redis, old),
        await _queued(redis, tagged[1], deadline_in_s=-1),  # waited past its deadline
        await _queued(redis, tagged[2]),
        LaneEntry(with_tag(new_job_id(), TAG), 1, time.time(), b""),  # its record is gone
    ]
    await store.cancel(tagged[2])
    assert await store.claim(entries, "w-1") == ["running", "running", "expired", "cancelled", "missing"]
    assert (await store.get(tagged[0])).status is JobStatus.RUNNING
    expired = await store.get(tagged[1])
    assert expired.status is JobStatus.EXPIRED and expired.error.code == "expired"

    ok = JobResult(JobStatus.SUCCEEDED, time.time(), outputs={"p": np.ones((1, 10), np.float32)})
    failed = JobResult(JobStatus.FAILED, time.time(), error=JobError("bad_input", "no"))
    ended = await store.finish(LANE, [(entries[0], ok), (entries[1], failed), (entries[3], ok)], [])
    assert ended == [True, True, False]  # the cancelled job stays cancelled
    done = await store.get(tagged[0])
    assert done.status is JobStatus.SUCCEEDED and done.outputs["p"].shape == (1, 10)
    assert (await store.get(old)).status is JobStatus.FAILED
    assert (await store.get(tagged[2])).status is JobStatus.CANCELLED
    assert await store.finish(LANE, [(entries[0], failed)], []) == [False]  # the first end wins
    assert (await store.get(tagged[0])).status is JobStatus.SUCCEEDED
    # Each ended job's webhook event is in its own slot's outbox, once.
    assert sorted(await _outbox_jobs(redis, TAG)) == sorted([tagged[0], tagged[1]])
    assert await _outbox_jobs(redis, None) == [old]
