"""The Redis side of deleting bulk jobs whose retention ran out: claim the due ones, then forget
a job (its record, chunk marks, and its place in its tenant's list and the sweep list).

Claiming moves a job's due time a lease ahead in one script (SWEEP_CLAIM), so any number of
sweepers (one per rq worker) never work on one job at once, and a sweeper that dies mid-way
leaves its jobs to be claimed again when the lease runs out. Every step is idempotent.
"""

import redis

from batching import keys
from batching.bulk.scripts import SWEEP_CLAIM
from maas.core.ids import tag_of


def claim_due(client: redis.Redis, now: float, lease_s: float, limit: int) -> list[str]:
    """Up to `limit` bulk job ids due by `now`, now this caller's for `lease_s` seconds, from
    every slot's sweep list (one script per slot: Redis Cluster)."""
    tags = sorted(t.decode() for t in client.smembers(keys.SLOT_TAGS))
    claimed: list[str] = []
    for sweep in [keys.BULK_SWEEP, *(keys.bulk_sweep(t) for t in tags)]:
        if len(claimed) >= limit:
            break
        ids = SWEEP_CLAIM.call(
            sweep=sweep, now=repr(now), lease_until=repr(now + lease_s), limit=limit - len(claimed)
        ).run_sync(client)
        claimed += [i.decode() for i in ids]
    return claimed


def forget(client: redis.Redis, bulk_id: str, tenant: str | None) -> None:
    """Deletes the job's record and chunk marks and drops it from the lists (its files are
    deleted before: the record names their store). No transaction: the tenant's list is in
    another slot, and each step is idempotent, so a sweep cut short is finished by the next."""
    with client.pipeline(transaction=False) as pipe:
        if tenant is not None:
            pipe.zrem(keys.tenant_bulk_jobs(tenant), bulk_id)
        pipe.delete(keys.bulk_job(bulk_id))  # one key per DELETE: a Cluster pipeline takes no more
        pipe.delete(keys.bulk_chunks_done(bulk_id))
        pipe.zrem(keys.bulk_sweep(tag_of(bulk_id)), bulk_id)  # last: the claim is kept till then
        pipe.execute()
