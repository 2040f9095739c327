"""Jobs of a given tenant written straight through the JobStore (the API passes its caller's
tenant the same way), for lane and quota tests."""

import itertools
import time

import numpy as np

from batching.codec import encode_tensors
from batching.entry import LaneEntry
from batching.jobs.record import JobRecord, JobStatus
from batching.jobs.store import JobStore

_ids = itertools.count()


async def submit_rows(
    store: JobStore, lane: str, tenant: str, rows: int = 1, width: int = 64, tenant_max_rows: int = 0
) -> str:
    """One queued job of `rows` rows of zeros for the digits model; returns its id."""
    now = time.time()
    job_id = f"{tenant}-{next(_ids)}"
    record = JobRecord(job_id, JobStatus.QUEUED, "digits", 1, rows, now, now + 600, tenant=tenant)
    inputs = encode_tensors({"pixels": np.zeros((rows, width), np.float32)})
    await store.submit(record, LaneEntry(job_id, rows, now, inputs), lane, 0, tenant_max_rows)
    return job_id
