"""Job records in Redis: submit, read, cancel (api side) and claim, finish (worker side).

On a Redis Cluster every script and transaction here touches one hash slot: a job's record and
its lane's keys share the lane's slot (batching.keys), and so does the tenant's row count that
admit and ack keep per slot (its total across lanes is the sum over the slot tags in use). On one
Redis a submit writes the record, admits, counts the tenant's rows and audits in one script
(SUBMIT): one command; on a Cluster three round trips (the tenant's rows elsewhere, the admit,
the audit). Each pipeline is one round trip; a pipeline is no transaction, so its commands may
go to several Cluster nodes.

Client data crosses this boundary sealed (maas.core.sealing): a lane entry's inputs and a job's
metadata at submit, its outputs at finish, each bound to the job's id and tenant.
"""

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace

import orjson
import redis.asyncio as aioredis

from batching import audit as audit_log
from batching import keys, lua, slot_tags
from batching.call_groups import CallGroups
from batching.entry import LaneEntry
from batching.jobs.record import JobError, JobRecord, JobResult, JobStatus
from batching.jobs.scripts import (
    ACK,
    ADMITTED,
    CLAIM,
    FINISH,
    TRANSITION,
)
from batching.jobs.submit_calls import admit_args, check_admitted, queue_cluster_admit, submit_call
from batching.jobs.tenant_rows import counter_of, tenant_queued_rows
from maas.core.errors import (
    JobNotFoundError,
    JobStateError,
    NotReplicatedError,
)
from maas.core.ids import tag_of
from maas.core.sealing import CLEAR, Purpose, Sealer


def _by_tag(entries: list[LaneEntry]) -> dict[str | None, list[int]]:
    """The entries' positions by the slot tag of their job (None: made before slot tags)."""
    by_tag: dict[str | None, list[int]] = defaultdict(list)
    for i, entry in enumerate(entries):
        by_tag[tag_of(entry.job_id)].append(i)
    return by_tag


EXPIRED_ERROR = JobError("expired", "the job waited past its deadline and was not computed")


def job_keys(job_id: str, publish: str) -> dict[str, str]:
    """The keys and channel a job's terminal step touches, all in its slot; `publish`: PUBLISH
    or SPUBLISH (Redis Cluster)."""
    tag = tag_of(job_id)
    return {
        "job": keys.job(job_id),
        "outbox": keys.webhook_outbox(tag),
        "channel": keys.job_events(tag),
        "publish": publish,
    }


BATCH_ROWS_BUCKETS = tuple(2**i for i in range(11))  # 1, 2, 4, ... 1024; larger: "inf"


def batch_bucket(rows: int) -> str:
    """The lane stats field that counts batches of `rows` rows: `batch_rows_le_N`, N the least
    bucket bound holding it (a histogram of batch sizes, not cumulative)."""
    bound = next((b for b in BATCH_ROWS_BUCKETS if rows <= b), None)
    return f"batch_rows_le_{bound if bound is not None else 'inf'}"


def _ack(
    batch: lua.Batch, lane: str, entries: list[LaneEntry], computed_rows: int, cluster: bool, dead: int = 0
):
    """One ack per tenant sub-stream the entries came from; the lane's stats go with the first."""
    by_tenant: dict[str, list[LaneEntry]] = defaultdict(list)
    for entry in entries:
        by_tenant[entry.tenant].append(entry)
    recomputed = sum(e.rows for e in entries if e.deliveries > 1) if computed_rows else 0
    tenant_rows = counter_of(lane, cluster)
    for i, (tenant, group) in enumerate(by_tenant.items()):
        batch.run(
            ACK,
            stream=keys.lane_stream(lane, tenant),
            lane_rows=keys.lane_rows(lane),
            stats=keys.lane_stats(lane),
            tenants=keys.lane_tenants(lane),
            tenant_rows=tenant_rows,
            group=keys.LANE_GROUP,
            tenant=tenant,
            computed_rows=computed_rows if i == 0 else 0,
            recomputed_rows=recomputed if i == 0 else 0,
            dead_letters=dead if i == 0 else 0,
            batch_bucket=batch_bucket(computed_rows),
            entries=[item for e in group for item in (e.stream_id, e.rows)],
        )


def _transition(
    batch: lua.Batch, job_id: str, allowed: str, status: JobStatus, ttl_s: int, fields: dict, publish: str
):
    batch.run(
        TRANSITION,
        **job_keys(job_id, publish),
        allowed=allowed,
        state=status.value,
        ttl=ttl_s,
        fields=fields,
    )


class JobStore:
    def __init__(
        self,
        redis: aioredis.Redis,
        result_ttl_s: int,
        sealer: Sealer = CLEAR,
        wait_replicas: tuple[int, int] | None = None,
        cluster: bool = False,
    ):
        self.redis = redis
        self.cluster = cluster  # a Redis Cluster: every script keeps to one slot
        # How a job's end is announced: SPUBLISH on a Cluster (only the shard of its channel
        # hears it), else PUBLISH (Redis 6 knows no SPUBLISH).
        self.publish = "SPUBLISH" if cluster else "PUBLISH"
        self.result_ttl_s = result_ttl_s
        self.sealer = sealer
        # (replicas, timeout ms): a submit returns only once that many replicas hold the job.
        self.wait_replicas = wait_replicas if wait_replicas and wait_replicas[0] > 0 else None
        # On one Redis, submits made together go to Redis together (batching.call_groups).
        self._submits = CallGroups(redis, self.wait_replicas)

    async def submit(
        self,
        record: JobRecord,
        entry: LaneEntry,
        lane: str,
        max_rows: int,
        tenant_max_rows: int = 0,
        audit_entry: Mapping[str, str | bytes] | None = None,
    ) -> None:
        """Admits the job's entry to the record's tenant's sub-stream of the lane unless the
        lane holds `max_rows` rows or the tenant `tenant_max_rows` across lanes (0: no limit),
        with its record and, only if admitted, `audit_entry` (batching.audit.entry_of) in the
        data-plane audit trail. On one Redis all of it is one script (SUBMIT). On a Cluster the
        record goes first in the admit's pipeline (a worker drops an entry whose record is
        missing; a refused job's record is deleted after) and the audit entry follows in a
        second round trip (other slots), so a crash between the two may leave an admitted job
        unaudited, never a refused one audited."""
        ttl = max(1, int(record.deadline - time.time()) + self.result_ttl_s)
        tag = slot_tags.tag_of_key(lane)
        # On a Cluster, its rows in other slots, read before: concurrent submits to other slots
        # may pass the cap together by their own rows (within one slot the check is exact).
        elsewhere = 0
        if self.cluster and tenant_max_rows:
            elsewhere = await tenant_queued_rows(self.redis, record.tenant, cluster=True, but=tag)
        # The record says whose job it is; the inputs are sealed for that job and tenant.
        inputs = self.sealer.seal(Purpose.JOB_INPUTS, record.id, record.tenant, entry.inputs)
        entry = replace(entry, tenant=record.tenant, inputs=inputs)
        admit = admit_args(record, entry, lane, (max_rows, tenant_max_rows), elsewhere, self.cluster)
        audit = dict(audit_entry or {})
        if self.cluster:
            admitted, count, replicas = await self._admit_in_cluster(record, entry, admit, ttl, tag)
        else:
            admitted, count, replicas = await self._submit_script(record, entry, admit, ttl, tag, audit)
        if admitted != ADMITTED and self.cluster:
            await self.redis.delete(keys.job(record.id))
        check_admitted(admitted, count, record, max_rows, tenant_max_rows)
        if audit and self.cluster:
            await audit_log.write(self.redis, record.tenant, audit, keys.AUDIT_DATA)
        if replicas is not None and self.wait_replicas and replicas < self.wait_replicas[0]:
            raise NotReplicatedError(
                f"job {record.id} is queued on the Redis primary but only {replicas} of "
                f"{self.wait_replicas[0]} replicas confirmed it within {self.wait_replicas[1]} ms; "
                "it may still run: retry with the same Idempotency-Key"
            )

    async def _submit_script(
        self, record: JobRecord, entry: LaneEntry, admit: dict, ttl: int, tag: str, audit: dict
    ) -> tuple[int, int, int | None]:
        """One Redis: the whole submit as one SUBMIT call, sent with the submits made beside it."""
        call = submit_call(record, record.to_fields(self.sealer), entry, admit, ttl, tag, audit)
        (admitted, count), replicas = await self._submits.run(call)
        return admitted, count, replicas

    async def _admit_in_cluster(
        self, record: JobRecord, entry: LaneEntry, admit: dict, ttl: int, tag: str
    ) -> tuple[int, int, int | None]:
        """A Cluster: the record, its listing entry and the admit in one pipeline (the lane's
        slot; the listing's may be elsewhere)."""
        fields = record.to_fields(self.sealer)

        def build(batch: lua.Batch):
            queue_cluster_admit(batch, record, fields, entry, admit, ttl, tag)

        replies = await lua.execute(self.redis, build, self.wait_replicas)
        admitted, count = replies[-2] if self.wait_replicas else replies[-1]
        return admitted, count, replies[-1] if self.wait_replicas else None

    async def get(self, job_id: str) -> JobRecord:
        raw = await self.redis.hgetall(keys.job(job_id))
        if not raw:
            raise JobNotFoundError(f"job {job_id!r} not found (unknown, or its result expired)")
        return JobRecord.from_fields(raw, self.sealer)

    def open_inputs(self, entry: LaneEntry) -> bytes:
        """The entry's encoded inputs (batching.codec); SealError if not sealed for its job."""
        return self.sealer.open(Purpose.JOB_INPUTS, entry.job_id, entry.tenant, entry.inputs)

    async def cancel(self, job_id: str) -> None:
        applied, state = await self._apply(
            job_id, JobStatus.QUEUED.value, JobStatus.CANCELLED, {"finished_at": repr(time.time())}
        )
        if not applied:
            if not state:
                raise JobNotFoundError(f"job {job_id!r} not found")
            raise JobStateError(f"job {job_id} is {state}; only a queued job can be cancelled")

    async def expire_if_overdue(self, record: JobRecord) -> bool:
        """Marks a job still queued past its deadline expired; True when it did."""
        if record.status is not JobStatus.QUEUED or time.time() <= record.deadline:
            return False
        fields = {"finished_at": repr(time.time()), "error": orjson.dumps(EXPIRED_ERROR.__dict__)}
        applied, _ = await self._apply(record.id, JobStatus.QUEUED.value, JobStatus.EXPIRED, fields)
        return bool(applied)

    async def _apply(self, job_id: str, allowed: str, status: JobStatus, fields: dict):
        [(applied, state)] = await lua.execute(
            self.redis,
            lambda batch: _transition(
                batch, job_id, allowed, status, self.result_ttl_s, fields, self.publish
            ),
        )
        return applied, state.decode()

    async def claim(self, entries: list[LaneEntry], worker_id: str) -> list[str]:
        """Marks the entries' jobs running; returns each job's state ('running' = compute it).
        One script call per slot the jobs are in: a lane's jobs share its slot (only jobs made
        before slot tags, on one Redis, are elsewhere)."""
        now = repr(time.time())
        error = orjson.dumps(EXPIRED_ERROR.__dict__)
        by_tag = _by_tag(entries)

        def build(batch: lua.Batch):
            for tag, positions in by_tag.items():
                batch.run(
                    CLAIM,
                    outbox=keys.webhook_outbox(tag),
                    channel=keys.job_events(tag),
                    publish=self.publish,
                    jobs=[keys.job(entries[i].job_id) for i in positions],
                    now=now,
                    worker=worker_id,
                    ttl=self.result_ttl_s,
                    expiry_error=error,
                )

        states: list[str] = [""] * len(entries)
        for positions, replies in zip(by_tag.values(), await lua.execute(self.redis, build), strict=True):
            for i, state in zip(positions, replies, strict=True):
                states[i] = state.decode()
        return states

    async def finish(
        self,
        lane: str,
        results: list[tuple[LaneEntry, JobResult]],
        done: list[LaneEntry],
        computed_rows: int = 0,
    ) -> list[bool]:
        """Writes results (the first terminal write wins), then acknowledges and deletes every
        entry in `done`, in one round trip. Returns, per result, whether its write was the one
        that ended the job (False: it had ended already, e.g. cancelled or a reclaimed copy)."""

        by_tag = _by_tag([entry for entry, _ in results])

        def build(batch: lua.Batch):
            self._end_jobs(batch, results, by_tag)
            if done:
                _ack(batch, lane, done, computed_rows, self.cluster)

        replies = await lua.execute(self.redis, build)
        applied = [False] * len(results)
        for positions, per_job in zip(by_tag.values(), replies, strict=False):
            for i, (ended, _) in zip(positions, per_job, strict=True):
                applied[i] = bool(ended)
        return applied

    def _end_jobs(
        self,
        batch: lua.Batch,
        results: list[tuple[LaneEntry, JobResult]],
        by_tag: dict[str | None, list[int]],
    ) -> None:
        """Queues one FINISH call per slot (`by_tag`: _by_tag of the results' entries), which
        announces the jobs it ends in one batch frame on the slot's job_ends channel."""
        for tag, positions in by_tag.items():
            items: list = []
            for i in positions:
                entry, result = results[i]
                fields = lua.pairs(result.to_fields(self.sealer, entry.job_id, entry.tenant))
                items += [result.status.value, len(fields), *fields]
            batch.run(
                FINISH,
                outbox=keys.webhook_outbox(tag),
                channel=keys.job_ends(tag),  # one frame for the slot's jobs it ends
                publish=self.publish,
                jobs=[keys.job(results[i][0].job_id) for i in positions],
                ttl=self.result_ttl_s,
                results=items,
            )

    async def dead_letter(self, lane: str, entries: list[LaneEntry], max_deliveries: int) -> None:
        """Copies the entries to the lane's dead-letter stream, fails their jobs, then acks them."""
        error = JobError(
            "dead_lettered",
            f"delivered {max_deliveries} times without finishing: the worker running it crashed "
            "or stalled every time",
        )
        result = JobResult(JobStatus.FAILED, time.time(), error=error)
        failed = [(entry, result) for entry in entries]

        def build(batch: lua.Batch):
            for entry in entries:
                copy = {**entry.to_fields(), "deliveries": entry.deliveries, "at": repr(time.time())}
                batch.pipe.xadd(keys.dead_letters(lane), copy, maxlen=100_000, approximate=True)
            self._end_jobs(batch, failed, _by_tag(entries))
            _ack(batch, lane, entries, 0, self.cluster, dead=len(entries))

        await lua.execute(self.redis, build)

    async def queue_redelivery(self, job_id: str, interval_s: float = 0) -> float:
        """Queues a redelivery unless one was queued less than interval_s ago; returns 0, or the
        seconds until one may be."""
        if interval_s > 0:
            key = keys.webhook_redelivered(job_id)
            if not await self.redis.set(key, b"1", nx=True, px=max(1, int(interval_s * 1000))):
                return max(await self.redis.pttl(key), 1) / 1000
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.job(job_id), mapping={"webhook_state": "pending", "webhook_next_attempt_at": ""})
            pipe.xadd(keys.webhook_outbox(tag_of(job_id)), {"job": job_id, "redeliver": "1"})
            await pipe.execute()
        return 0.0

    async def lane_stats(self, lane: str) -> dict[str, int]:
        raw = await self.redis.hgetall(keys.lane_stats(lane))
        return {k.decode(): int(v) for k, v in raw.items()}
