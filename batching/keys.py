"""Every Redis key and channel name maas uses, and nowhere else.

A lane's keys share the hash tag {name:version}, so they sit in one slot on Redis Cluster.
"""

PREFIX = "maas"
DEFAULT_TENANT = "default"  # the tenant of a job submitted without one (and of older entries)
LANE_GROUP = "workers"
JOB_EVENTS_CHANNEL = f"{PREFIX}:events:job"
WORKERS = f"{PREFIX}:workers"
WEBHOOK_OUTBOX = f"{PREFIX}:webhooks:outbox"  # webhook events created, not yet handed to rq
WEBHOOK_QUEUE = f"{PREFIX}-webhooks"  # the rq queue's name (rq adds its own `rq:` prefix)


def job(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def online_lane(model: str, version: int) -> str:
    return f"{PREFIX}:lane:{{{model}:{version}}}:online"


def worker(worker_id: str) -> str:
    return f"{PREFIX}:worker:{worker_id}"


def lane_rows(lane: str) -> str:
    """Rows accepted into the lane and not yet acknowledged: its depth, for backpressure."""
    return f"{lane}:rows"


def lane_stream(lane: str, tenant: str) -> str:
    """A tenant's sub-stream of the lane (same hash tag). The default tenant's is the lane's own
    stream, so entries queued before tenants existed are read and run as the default tenant's."""
    return lane if tenant == DEFAULT_TENANT else f"{lane}:t:{tenant}"


def lane_tenants(lane: str) -> str:
    """Set: tenants with entries in the lane (added on admit, removed by the ack that empties one)."""
    return f"{lane}:tenants"


def lane_wake(lane: str) -> str:
    """Stream: one entry per tenant that became active, to wake a worker blocked on the others."""
    return f"{lane}:wake"


def tenant_queued_rows(tenant: str) -> str:
    """Rows the tenant has in online lanes, accepted and not yet acknowledged, across lanes (so in
    no lane's hash slot)."""
    return f"{PREFIX}:tenant:{tenant}:queued-rows"


def dead_letters(lane: str) -> str:
    return f"{lane}:dead"


def lane_stats(lane: str) -> str:
    """Counters: rows computed (recomputations included), batches, dead letters."""
    return f"{lane}:stats"


def idempotency(key: str) -> str:
    return f"{PREFIX}:idempotency:{key}"


AUDIT = f"{PREFIX}:audit"  # who changed what in the model repository, and when
MODEL_CHANGES_CHANNEL = f"{PREFIX}:models:changed"  # a version was added, reconfigured or retired


# Bulk jobs. A bulk job's keys share the hash tag {id}; its chunks go to its model version's
# bulk lane, which shares the online lane's tag.
BULK_JOBS = f"{PREFIX}:bulk-jobs"  # sorted set: bulk job ids by creation time, for listing
BULK_QUEUE = f"{PREFIX}-bulk"  # the rq queue of bulk split tasks (rq adds its own `rq:` prefix)


def bulk_job(bulk_id: str) -> str:
    return f"{PREFIX}:bulk:{{{bulk_id}}}"


def bulk_chunks_done(bulk_id: str) -> str:
    """Hash: chunk index -> "succeeded,failed" rows, written once per chunk (first wins)."""
    return f"{PREFIX}:bulk:{{{bulk_id}}}:done"


def bulk_lane(model: str, version: int) -> str:
    return f"{PREFIX}:lane:{{{model}:{version}}}:bulk"
