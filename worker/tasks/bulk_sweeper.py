"""Deletes bulk jobs whose retention ran out: their files (input, chunks, results), then their
record. Runs on a thread of every rq worker, every MAAS_BULK_SWEEP_INTERVAL_S.

A job is due its retention after it ended, or, if it never ends, its retention after the longest
a job may take (MAAS_BULK_MAX_RETENTION_S) from its submission: such a job is deleted all the
same (its worker then finds no record and drops its chunks). Several sweepers share the work
through per-job claims (batching/bulk/retention.py); deleting twice deletes nothing more.
"""

import logging
import threading
import time
from dataclasses import dataclass

import redis

from batching import keys
from batching.bulk.record import BulkRecord
from batching.bulk.retention import claim_due, forget
from batching.connection import UNREACHABLE
from maas.core.file_store import FileStore, open_store
from maas.core.ids import is_job_id
from maas.core.log_fields import fields

log = logging.getLogger(__name__)
LEASE_S = 300.0  # a claimed job is another sweeper's again after this (its sweeper died)
CLAIM_BATCH = 100


@dataclass
class BulkSweeper:
    client: redis.Redis
    default_store: FileStore  # where a job's files are when its record is gone already
    interval_s: float

    def sweep(self, now: float | None = None) -> int:
        """Deletes every bulk job due by `now`; returns how many."""
        deleted = 0
        while True:
            claimed = claim_due(self.client, now or time.time(), LEASE_S, CLAIM_BATCH)
            for bulk_id in claimed:
                try:
                    self._delete(bulk_id)
                except UNREACHABLE:
                    raise
                except Exception:  # a file error: leave it to the next claim, after the lease
                    log.exception("bulk job %s: deleting its files failed; retried later", bulk_id)
                else:
                    deleted += 1
            if len(claimed) < CLAIM_BATCH:
                return deleted

    def _delete(self, bulk_id: str) -> None:
        raw = self.client.hgetall(keys.bulk_job(bulk_id))
        record = BulkRecord.from_fields(raw) if raw else None
        if is_job_id(bulk_id):  # never a path of our own making otherwise; drop it all the same
            files = open_store(record.store) if record is not None else self.default_store
            files.remove_tree(bulk_id)
        if record is not None and not record.terminal:
            log.warning("bulk job %s is still %s past its longest life; deleted", bulk_id, record.status)
        forget(self.client, bulk_id, record.tenant if record is not None else None)
        log.info("bulk job retention over; files and record deleted", extra=fields(bulk_id=bulk_id))

    def run(self, stopping: threading.Event) -> None:
        """Sweeps now, then every interval_s until `stopping` is set; Redis errors only delay it."""
        while not stopping.is_set():
            try:
                self.sweep()
            except UNREACHABLE as e:
                log.warning("bulk sweeper: Redis error %r; retrying in %.0f s", e, self.interval_s)
            stopping.wait(self.interval_s)
