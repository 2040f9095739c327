"""Every Redis key and channel name maas uses, and nowhere else.

A lane's keys share the hash tag {name:version}, so they sit in one slot on Redis Cluster. A
job's keys, and the per-slot keys its scripts touch (webhook outbox, completion channel, tenants'
row counts), take the slot tag of its lane's slot (batching.slot_tags), which its id carries:
`{tag}` lands in the lane's slot, so every job script touches one slot. Ids made before slot
tags keep the untagged keys of that time (a `None` tag below), which only one Redis could hold.
"""

from maas.core import ids

PREFIX = "maas"
DEFAULT_TENANT = "default"  # the tenant of a job submitted without one (and of older entries)
LANE_GROUP = "workers"
JOB_EVENTS_CHANNEL = f"{PREFIX}:events:job"  # untagged jobs' (before slot tags); a prefix of all
# Untagged jobs' batches of ends; a prefix of every slot's, and not matched by JOB_EVENTS_CHANNEL's
# pattern (`maas:events:job*`), so listeners of the previous release never see a batch frame.
JOB_ENDS_CHANNEL = f"{PREFIX}:events:ends"
WORKERS = f"{PREFIX}:workers"
WEBHOOK_OUTBOX = f"{PREFIX}:webhooks:outbox"  # untagged webhook events (before slot tags)
# Set: the slot tags in use (added at submit): where the relay finds outboxes, the sweeper its
# work lists, and a tenant's cap its row counts.
SLOT_TAGS = f"{PREFIX}:slot-tags"
WEBHOOK_QUEUE = f"{PREFIX}-webhooks"  # the rq queue's name (rq adds its own `rq:` prefix)
# Sorted set: record key (job or bulk job) -> when its webhook last failed for good; a delivery
# that succeeds later removes it. The dashboard's "failed webhooks", without scanning records.
WEBHOOK_FAILURES = f"{PREFIX}:webhooks:failed"


def job(job_id: str) -> str:
    tag = ids.tag_of(job_id)
    return f"{PREFIX}:job:{{{tag}}}:{job_id}" if tag else f"{PREFIX}:job:{job_id}"


def webhook_outbox(tag: str | None) -> str:
    """Stream: webhook events of the slot's jobs and bulk jobs created, not yet handed to rq."""
    return f"{PREFIX}:webhooks:{{{tag}}}:outbox" if tag else WEBHOOK_OUTBOX


def job_events(tag: str | None) -> str:
    """The channel the slot's jobs are announced on one by one when they end (cancel, expiry,
    any TRANSITION)."""
    return f"{JOB_EVENTS_CHANNEL}:{{{tag}}}" if tag else JOB_EVENTS_CHANNEL


def job_ends(tag: str | None) -> str:
    """The channel the slot's jobs ended by a worker's batch are announced on, one message per
    batch (batching.jobs.announcement)."""
    return f"{JOB_ENDS_CHANNEL}:{{{tag}}}" if tag else JOB_ENDS_CHANNEL


def slot_tenant_rows(tag: str) -> str:
    """Hash, on a Redis Cluster: tenant -> rows it has in the slot's online lanes, accepted and
    not yet acknowledged (a tenant's total is the sum over SLOT_TAGS)."""
    return f"{PREFIX}:slot:{{{tag}}}:tenant-rows"


# Hash, on one Redis (standalone or Sentinel): tenant -> rows it has in all online lanes,
# accepted and not yet acknowledged (batching.jobs.tenant_rows).
TENANT_ROWS = f"{PREFIX}:tenant-rows"


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


def dead_letters(lane: str) -> str:
    return f"{lane}:dead"


def lane_stats(lane: str) -> str:
    """Counters: rows computed (recomputations included), batches, dead letters."""
    return f"{lane}:stats"


def idempotency(tenant: str, key: str) -> str:
    """A tenant's Idempotency-Key (tenant names hold no ':', so no two tenants' keys meet)."""
    return f"{PREFIX}:idempotency:{tenant}:{key}"


AUDIT = f"{PREFIX}:audit"  # who changed what in the model repository or the keys, and when
AUDIT_DATA = f"{PREFIX}:audit:data"  # data-plane actions: submit, cancel, redeliver (jobs, bulk)
MODEL_CHANGES_CHANNEL = f"{PREFIX}:models:changed"  # a version was added, reconfigured or retired


# A model's shared state in the repository: its keys share the hash tag {model-name}.
def model_aliases(name: str) -> str:
    """Hash: alias -> the version it points to."""
    return f"{PREFIX}:model:{{{name}}}:aliases"


def model_alias_history(name: str) -> str:
    """Hash: alias -> JSON list of the versions it pointed to before, oldest first."""
    return f"{PREFIX}:model:{{{name}}}:alias-history"


def model_retired(name: str) -> str:
    """Set: versions retired (mirrors retired.json; checked atomically against the aliases)."""
    return f"{PREFIX}:model:{{{name}}}:retired"


def model_last_version(name: str) -> str:
    """The highest version number handed out (never lowered, so numbers are never reused)."""
    return f"{PREFIX}:model:{{{name}}}:last-version"


def model_imported(name: str) -> str:
    """Set once the model's aliases.json and alias_history.json were copied into Redis."""
    return f"{PREFIX}:model:{{{name}}}:imported"


# Bulk jobs. A bulk job's id carries the slot tag of its model version's bulk lane (which shares
# the online lane's slot), and its keys, outbox and sweep list take it, so that feeding a chunk to
# the lane and ending the job each touch one slot. (Ids made before slot tags: keys tagged {id}.)
BULK_QUEUE = f"{PREFIX}-bulk"  # the rq queue of bulk split tasks (rq adds its own `rq:` prefix)
BULK_SWEEP = f"{PREFIX}:bulk-sweep"  # untagged bulk jobs' sweep list (before slot tags)


def bulk_sweep(tag: str | None) -> str:
    """Sorted set: the slot's bulk job ids by when their retention runs out (epoch s): the
    sweeper's work list."""
    return f"{BULK_SWEEP}:{{{tag}}}" if tag else BULK_SWEEP


def _bulk(bulk_id: str) -> str:
    tag = ids.tag_of(bulk_id)
    return f"{PREFIX}:bulk:{{{tag}}}:{bulk_id}" if tag else f"{PREFIX}:bulk:{{{bulk_id}}}"


def webhook_redelivered(job_id: str) -> str:
    """Set for webhook_redeliver_interval_s when a job's webhook is redelivered (rate limit)."""
    return f"{PREFIX}:job:{job_id}:redelivered"


def bulk_job(bulk_id: str) -> str:
    return _bulk(bulk_id)


def bulk_chunks_done(bulk_id: str) -> str:
    """Hash: chunk index -> "succeeded,failed" rows, written once per chunk (first wins)."""
    return f"{_bulk(bulk_id)}:done"


def bulk_webhook_redelivered(bulk_id: str) -> str:
    """Set for webhook_redeliver_interval_s when a bulk job's webhook is redelivered (rate limit)."""
    return f"{PREFIX}:bulk:{{{bulk_id}}}:redelivered"


def bulk_lane(model: str, version: int) -> str:
    return f"{PREFIX}:lane:{{{model}:{version}}}:bulk"


# Keys and tenants (issue 14). Tenant names are [a-z0-9_-], so they never hold a ':'.
API_KEYS = f"{PREFIX}:keys"  # sorted set: key ids by creation time, for listing


def api_key(key_id: str) -> str:
    """Hash: one API key's record (its secret only as a keyed hash)."""
    return f"{PREFIX}:key:{key_id}"


def rate_bucket(key_id: str) -> str:
    """Hash: a key's request token bucket (tokens, last refill)."""
    return f"{PREFIX}:rate:{key_id}"


def tenant_jobs(tenant: str) -> str:
    """Sorted set, all scores 0: the tenant's job ids, ordered by id (= by creation time)."""
    return f"{PREFIX}:tenant:{tenant}:jobs"


def tenant_bulk_jobs(tenant: str) -> str:
    """Sorted set: the tenant's bulk job ids by creation time, for listing."""
    return f"{PREFIX}:tenant:{tenant}:bulk-jobs"


def tenant_active_bulk_jobs(tenant: str) -> str:
    """Set: the tenant's bulk jobs admitted and not yet seen finished (its concurrency cap)."""
    return f"{PREFIX}:tenant:{tenant}:bulk-active"


def tenant_audit(tenant: str, stream: str) -> str:
    """The tenant's copy of an audit stream (AUDIT or AUDIT_DATA)."""
    return f"{stream}:tenant:{tenant}"
