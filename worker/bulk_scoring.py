"""A bulk chunk's items in micro-batches, and the chunk's result from the items' outcomes."""

import numpy as np

from batching.bulk_chunk import ChunkFile
from batching.job import JobError
from batching.policy import BatchPolicy
from worker.batch_runner import Outcome


def micro_batches(chunk: ChunkFile, max_batch_size: int) -> list[list[int]]:
    """Item positions per micro-batch, in order; at most max_batch_size rows each (a larger
    item goes alone), the same rule as online batches."""
    policy = BatchPolicy(max_batch_size, 0.0)
    waiting, batches = chunk.ok_items(), []
    while waiting:
        taken = policy.take([chunk.rows[i] for i in waiting])
        batches.append(waiting[:taken])
        waiting = waiting[taken:]
    return batches


def chunk_result(chunk: ChunkFile, outcomes: dict[int, Outcome]) -> ChunkFile:
    """The result file of a chunk: the items' outputs in order, and every failed item's error."""
    errors = dict(chunk.errors)
    parts = []
    for i in chunk.ok_items():
        outcome = outcomes[i]
        if outcome.error is not None:
            errors[i] = outcome.error
        else:
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
