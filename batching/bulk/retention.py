"""The Redis side of deleting bulk jobs whose retention ran out: claim the due ones, then forget
a job (its record, chunk marks, and its place in its tenant's list and the sweep list).

Claiming moves a job's due time a lease ahead in one script (SWEEP_CLAIM), so any number of
sweepers (one per rq worker) never work on one job at once, and a sweeper that dies mid-way
leaves its jobs to be claimed again when the lease runs out. Every step is idempotent.
"""

import redis

from batching import keys
from batching.bulk.scripts import SWEEP_CLAIM


def claim_due(client: redis.Redis, now: float, lease_s: float, limit: int) -> list[str]:
    """Up to `limit` bulk job ids due by `now`, now this caller's for `lease_s` seconds."""
    ids = SWEEP_CLAIM.call(
        sweep=keys.BULK_SWEEP, now=repr(now), lease_until=repr(now + lease_s), limit=limit
    ).run_sync(client)
    return [i.decode() for i in ids]


def forget(client: redis.Redis, bulk_id: str, tenant: str | None) -> None:
    """Deletes the job's record and chunk marks and drops it from the lists (its files are
    deleted before: the record names their store)."""
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(keys.bulk_job(bulk_id), keys.bulk_chunks_done(bulk_id))
        if tenant is not None:
            pipe.zrem(keys.tenant_bulk_jobs(tenant), bulk_id)
        pipe.zrem(keys.BULK_SWEEP, bulk_id)
        pipe.execute()
