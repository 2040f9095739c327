"""What one lane loop counts (batching/metrics.py) and logs. Label children are bound once, so
the hot path is a few additions per batch, never a label lookup per job; the per-batch and
per-job log records are DEBUG, built only when that level is on."""

import itertools
import logging
from collections.abc import Sequence

from batching.entry import LaneEntry
from batching.jobs.record import JobResult, JobStatus
from batching.metrics import (
    BATCH_ROWS,
    BATCHES,
    END_TO_END_SECONDS,
    INFERENCE_SECONDS,
    JOBS_FINISHED,
    QUEUE_SECONDS,
    ROWS_RECOMPUTED,
)
from maas.core.log_fields import fields
from maas.models.registry import ModelVersion

log = logging.getLogger(__name__)


class LaneMetrics:
    def __init__(self, model: ModelVersion, worker_id: str):
        self.labels = (model.name, str(model.version))
        self.worker_id = worker_id
        self._batch_ids = itertools.count(1)
        self.queue = QUEUE_SECONDS.labels(*self.labels)
        self.inference = INFERENCE_SECONDS.labels(*self.labels)
        self.end_to_end = END_TO_END_SECONDS.labels(*self.labels)
        self.batch_rows = BATCH_ROWS.labels(*self.labels)
        self.batches = BATCHES.labels(*self.labels)
        self.recomputed = ROWS_RECOMPUTED.labels(*self.labels)
        self.succeeded = JOBS_FINISHED.labels(*self.labels, JobStatus.SUCCEEDED.value, "")

    def claimed(self, entries: Sequence[LaneEntry], claimed_at: float) -> None:
        for entry in entries:
            self.queue.observe(max(0.0, claimed_at - entry.created_at))

    def expired(self, count: int) -> None:
        """Jobs the claim found past their deadline (it ended them without computing)."""
        if count:
            JOBS_FINISHED.labels(*self.labels, JobStatus.EXPIRED.value, "expired").inc(count)

    def dead_lettered(self, count: int) -> None:
        JOBS_FINISHED.labels(*self.labels, JobStatus.FAILED.value, "dead_lettered").inc(count)

    def fields(self, **more: object) -> dict[str, object]:
        """Log fields naming this lane's model version and worker, and `more`."""
        return fields(model=self.labels[0], version=self.labels[1], worker_id=self.worker_id, **more)

    def batch(self, entries: Sequence[LaneEntry], inference_ms: Sequence[float]) -> str:
        """Counts a batch run; returns its id (unique in this worker) for the logs."""
        batch_id = f"{self.worker_id}-{next(self._batch_ids)}"
        rows = sum(e.rows for e in entries)
        if log.isEnabledFor(logging.DEBUG):
            extra = self.fields(batch_id=batch_id, rows=rows, jobs=len(entries), duration_ms=inference_ms[0])
            log.debug("batch ran", extra=extra)
        self.batches.inc()
        self.batch_rows.observe(rows)
        recomputed = sum(e.rows for e in entries if e.deliveries > 1)
        if recomputed:
            self.recomputed.inc(recomputed)
        for ms in inference_ms:
            self.inference.observe(ms / 1000)
        return batch_id

    def finished(
        self, results: Sequence[tuple[LaneEntry, JobResult]], applied: Sequence[bool], batch_id: str
    ) -> None:
        """Counts the results whose write ended their job (a job ends once, whoever wrote)."""
        debug = log.isEnabledFor(logging.DEBUG)
        for (entry, result), ended in zip(results, applied, strict=True):
            if debug:
                status = result.status.value if ended else "already ended"
                log.debug(
                    "job finished", extra=self.fields(job_id=entry.job_id, batch_id=batch_id, status=status)
                )
            if not ended:
                continue
            if result.status is JobStatus.SUCCEEDED:
                self.succeeded.inc()
            else:
                code = result.error.code if result.error is not None else ""
                JOBS_FINISHED.labels(*self.labels, result.status.value, code).inc()
            self.end_to_end.observe(max(0.0, result.finished_at - entry.created_at))
