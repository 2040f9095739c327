"""The worker's spans of a batch, made only while tracing is on (maas.core.tracing.on()).

Each job's spans are children of its submit span (the traceparent in its lane entry): its wait
in the queue and the write of its result. The batch has one span of its own, linked to every
job it ran (one batch, many parents), since OpenTelemetry spans have one parent each.
"""

import time

from batching.entry import LaneEntry
from maas.core import tracing
from maas.models.registry import ModelVersion

NS_PER_S = 1_000_000_000


def queue_waits(entries: list[LaneEntry], claimed_at: float) -> None:
    """`maas.queue_wait` per traced job: from its submit to its claim by this worker."""
    end_ns = int(claimed_at * NS_PER_S)
    for entry in entries:
        if entry.traceparent:
            start_ns = min(end_ns, int(entry.created_at * NS_PER_S))
            tracing.record_span(
                "maas.queue_wait", entry.traceparent, start_ns, end_ns, {"maas.job.id": entry.job_id}
            )


def batch_inference(model: ModelVersion, entries: list[LaneEntry], start_ns: int, lane: str) -> None:
    """`maas.batch_inference`: the runtime's run of the batch, linked to each traced job."""
    tracing.record_span(
        "maas.batch_inference",
        None,
        start_ns,
        time.time_ns(),
        {
            "maas.model": model.name,
            "maas.model.version": model.version,
            "maas.lane": lane,
            "maas.batch.jobs": len(entries),
            "maas.batch.rows": sum(e.rows for e in entries),
        },
        links=[e.traceparent for e in entries if e.traceparent],
    )


def result_writes(results: list, start_ns: int) -> None:
    """`maas.result_write` per traced job: the round trip that wrote its result."""
    end_ns = time.time_ns()
    for entry, result in results:
        if entry.traceparent:
            attributes = {"maas.job.id": entry.job_id, "maas.job.status": result.status.value}
            tracing.record_span("maas.result_write", entry.traceparent, start_ns, end_ns, attributes)
