"""A bulk chunk's items in micro-batches, each run as one block of rows, and the chunk's result.

The items of a micro-batch are consecutive, so their rows are one slice of the chunk's tensors:
a batch runs as that slice, with no per-item stacking or splitting. Only a batch that fails is
run again item by item (bisected by the batch runner), so that a bad item fails alone.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from batching.bulk.chunk import ChunkFile
from batching.jobs.record import JobError
from batching.policy import BatchPolicy
from worker.batch.batch_runner import Outcome, run_batch
from worker.runtimes.base import Runtime


@dataclass(frozen=True)
class MicroBatch:
    items: Sequence[int]  # item positions in the chunk
    start: int  # its rows in the chunk's tensors
    end: int


@dataclass(frozen=True)
class BatchResult:
    batch: MicroBatch
    outputs: dict[str, np.ndarray] | None  # the whole batch's outputs, when it ran in one go
    per_item: dict[int, Outcome]  # else each item's outcome


def micro_batches(chunk: ChunkFile, max_batch_size: int) -> list[MicroBatch]:
    """At most max_batch_size rows each (a larger item goes alone), as for online batches."""
    count = len(chunk.ids)
    if not chunk.errors and chunk.rows.count(1) == count:  # an array chunk: one row per item
        bounds = ((start, min(start + max_batch_size, count)) for start in range(0, count, max_batch_size))
        return [MicroBatch(range(start, end), start, end) for start, end in bounds]
    policy = BatchPolicy(max_batch_size, 0.0)
    ok, batches, first, start = chunk.ok_items(), [], 0, 0
    while first < len(ok):
        # Every item has a row at least, so a batch takes at most max_batch_size items.
        window = ok[first : first + max_batch_size]
        items = window[: policy.take([chunk.rows[i] for i in window])]
        end = start + sum(chunk.rows[i] for i in items)
        batches.append(MicroBatch(items, start, end))
        first, start = first + len(items), end
    return batches


def score(runtime: Runtime, chunk: ChunkFile, batch: MicroBatch) -> BatchResult:
    """Runs in the inference thread."""
    rows = {name: array[batch.start : batch.end] for name, array in chunk.tensors.items()}
    try:  # the batch in one go, with no per-batch bookkeeping: a light model's batch is tiny
        outputs = runtime.run(rows)
    except Exception:  # the runtime may raise anything: the items are run alone, below
        outputs = None
    if outputs is not None and _batch_major(outputs, batch.end - batch.start):
        return BatchResult(batch, outputs, {})
    slices = chunk.slices()
    outcomes = run_batch(runtime, [slices[i] for i in batch.items])
    return BatchResult(batch, None, dict(zip(batch.items, outcomes, strict=True)))


def score_while_idle(
    runtime: Runtime,
    chunk: ChunkFile,
    batches: list[MicroBatch],
    first: int,
    budget_s: float,
    online_busy: Callable[[], bool],
) -> list[BatchResult]:
    """Runs in the inference thread: batches[first], then the next ones while the online lane
    stays idle and budget_s has not passed (a light model's batches take microseconds; one
    thread hop each would cost more than the batch)."""
    started = time.perf_counter()
    results = [score(runtime, chunk, batches[first])]
    for batch in batches[first + 1 :]:
        if time.perf_counter() - started >= budget_s or online_busy():
            break
        results.append(score(runtime, chunk, batch))
    return results


def _batch_major(outputs: dict[str, np.ndarray], rows: int) -> bool:
    return all(array.ndim > 0 and array.shape[0] == rows for array in outputs.values())


def chunk_result(chunk: ChunkFile, results: list[BatchResult]) -> ChunkFile:
    """The result file of a chunk: the items' outputs in order, and every failed item's error."""
    errors = dict(chunk.errors)
    parts = []
    for result in results:
        if result.outputs is not None:
            parts.append(result.outputs)
            continue
        for i, outcome in result.per_item.items():
            if outcome.error is not None:
                errors[i] = outcome.error
            elif outcome.outputs is not None:  # always, once error is None
                parts.append(outcome.outputs)
    tensors = {}
    if parts:
        tensors = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    return ChunkFile(chunk.index, chunk.ids, chunk.rows, dict(sorted(errors.items())), tensors)


def dead_lettered(chunk: ChunkFile, max_deliveries: int) -> ChunkFile:
    """A chunk that crashed or stalled its worker every time: every item fails, none is run."""
    error = JobError(
        "dead_lettered",
        f"its chunk was delivered {max_deliveries} times without finishing: the worker running "
        "it crashed or stalled every time",
    )
    errors = {i: chunk.errors.get(i, error) for i in range(len(chunk.ids))}
    return ChunkFile(chunk.index, chunk.ids, chunk.rows, errors, {})
