"""The submit's Redis calls, built from a job's record and lane entry (JobStore.submit sends
them): on one Redis one SUBMIT call; on a Cluster the record, its listing and the ADMIT in the
lane's slot. Plain functions of their arguments, no I/O."""

from batching import audit as audit_log
from batching import keys, lua
from batching.entry import LaneEntry
from batching.jobs.listing import index_floor, index_job
from batching.jobs.record import JobRecord
from batching.jobs.scripts import ADMIT, LANE_FULL, SUBMIT, TENANT_FULL
from batching.jobs.tenant_rows import counter_of
from maas.core.errors import QueueFullError, TenantQuotaError


def admit_args(
    record: JobRecord, entry: LaneEntry, lane: str, caps: tuple[int, int], elsewhere: int, cluster: bool
) -> dict:
    """The admit's KEYS and ARGV (ADMIT's, and SUBMIT's first): `caps` are the lane's and the
    tenant's row caps, `elsewhere` the tenant's rows in other slots (a Cluster's)."""
    max_rows, tenant_max_rows = caps
    return dict(
        stream=keys.lane_stream(lane, record.tenant),
        lane_rows=keys.lane_rows(lane),
        tenants=keys.lane_tenants(lane),
        wake=keys.lane_wake(lane),
        tenant_rows=counter_of(lane, cluster),
        rows=entry.rows,
        max_rows=max_rows,
        tenant=record.tenant,
        tenant_max_rows=tenant_max_rows,
        tenant_elsewhere=elsewhere,
        # Workers always read the default tenant's sub-stream (the lane's own stream).
        announce=int(record.tenant != keys.DEFAULT_TENANT),
    )


def check_admitted(admitted: int, count: int, record: JobRecord, max_rows: int, tenant_max_rows: int) -> None:
    """Raises the refusal the admit answered (`count`: the rows waiting in the lane, or the
    tenant's queued rows)."""
    if admitted == LANE_FULL:
        raise QueueFullError(
            f"model {record.model} v{record.version} has {count} rows waiting (limit {max_rows}); retry later"
        )
    if admitted == TENANT_FULL:
        raise TenantQuotaError(
            f"tenant {record.tenant} has {count} rows queued across models (limit "
            f"{tenant_max_rows}); this job's {record.rows} would exceed it; retry later"
        )


def submit_call(
    record: JobRecord, fields: dict, entry: LaneEntry, admit: dict, ttl: int, tag: str, audit: dict
) -> lua.Call:
    """One Redis: the whole submit (SUBMIT) of the job whose record is `fields`, kept `ttl` s."""
    return SUBMIT.call(
        **admit,
        job=keys.job(record.id),
        slot_tags=keys.SLOT_TAGS,
        index=keys.tenant_jobs(record.tenant),
        audit=keys.AUDIT_DATA,
        tenant_audit=keys.tenant_audit(record.tenant, keys.AUDIT_DATA),
        job_id=record.id,
        job_ttl=ttl,
        tag=tag,
        index_floor=index_floor(ttl),
        index_ttl=ttl,
        record_fields=2 * len(fields),
        audit_fields=2 * len(audit),
        audit_max=audit_log.MAX_ENTRIES,
        tenant_audit_max=audit_log.MAX_TENANT_ENTRIES,
        record_audit_entry=[*lua.pairs(fields), *lua.pairs(audit), *lua.pairs(entry.to_fields())],
    )


def queue_cluster_admit(
    batch: lua.Batch, record: JobRecord, fields: dict, entry: LaneEntry, admit: dict, ttl: int, tag: str
) -> None:
    """A Cluster: the record first (a worker drops an entry whose record is missing), its TTL,
    the slot tag, the tenant's listing, then the ADMIT, in one pipeline."""
    batch.pipe.hset(keys.job(record.id), mapping=fields)
    batch.pipe.expire(keys.job(record.id), ttl)
    batch.pipe.sadd(keys.SLOT_TAGS, tag)  # before the job can end: its outbox is found
    index_job(batch.pipe, record, ttl)
    batch.run(ADMIT, **admit, entry=entry.to_fields())
