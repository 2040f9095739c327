"""The rq task that checks a bulk job's input file and splits it into chunks in its model
version's bulk lane, streaming (one chunk in memory at a time).

Its input is held to MAAS_BULK_MAX_ROWS and MAAS_BULK_MAX_INPUT_BYTES (batching/bulk/limits.py)
again here, with this worker's settings: array headers before any row is read, a JSONL file's
size before and its rows as they are read; past a cap the job fails (input_too_large) before the
chunk that passed it is fed.

It works for at most `task_s` seconds, then queues its own continuation, so that a task cut off
by a crash is noticed (and retried) within a few multiples of task_s. It resumes from what the
job record says was fed, so a retried split feeds no chunk twice.
"""

import io
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO

import redis
from redis.exceptions import RedisError

from batching import keys
from batching.bulk.arrays import array_chunks, check_length, chunk_bounds, npy_columns, npz_columns, open_npz
from batching.bulk.chunk import ChunkFile
from batching.bulk.jsonl import jsonl_chunks
from batching.bulk.lane import ChunkEntry
from batching.bulk.limits import InputLimits
from batching.bulk.queue import enqueue_split
from batching.bulk.record import BulkFormat, BulkRecord, BulkStatus, chunk_path, input_path
from batching.bulk.scripts import FEED
from batching.bulk.store import FAILABLE, failure_fields, transition_call
from batching.jobs.record import JobError
from maas.core import tracing
from maas.core.errors import InvalidInputError
from maas.core.file_store import FileStore, open_store
from maas.core.log_fields import fields
from maas.core.sealing import CLEAR, Sealer
from maas.core.signature import Signature
from maas.models.registry import ModelRepository
from worker.batch.bulk_loop import write_chunk

log = logging.getLogger(__name__)
SPLITTABLE = frozenset({BulkStatus.VALIDATING, BulkStatus.QUEUED, BulkStatus.RUNNING})


@dataclass(frozen=True)
class SplitContext:
    redis: redis.Redis
    rq_redis: redis.Redis  # rq's (MAAS_RQ_REDIS_URL): the next slice is queued there
    registry: ModelRepository
    task_s: float
    chunk_max_bytes: int
    limits: InputLimits
    sealer: Sealer = CLEAR  # the input and chunk files are sealed under it


_context: SplitContext | None = None


def configure(context: SplitContext) -> None:
    """Called once by the rq-worker entry point; rq calls split() with the bulk job id only."""
    global _context
    _context = context


def split(bulk_id: str) -> str:
    context = _context
    if context is None:
        raise RuntimeError("bulk splitting is not configured: the rq worker calls configure() first")
    raw = context.redis.hgetall(keys.bulk_job(bulk_id))
    if not raw:
        return "bulk job gone"
    record = BulkRecord.from_fields(raw)
    if record.status not in SPLITTABLE or record.chunks is not None:
        return f"nothing to split ({record.status}, {record.fed} chunks fed)"
    try:
        with tracing.job_span("maas.bulk_split", record.traceparent) as traceparent:
            tracing.annotate({"maas.bulk.id": bulk_id, "maas.bulk.fed": record.fed})
            # Its chunks carry this span's context, so their spans are its children.
            finished = feed_chunks(context, replace(record, traceparent=traceparent))
    except RedisError:
        raise  # transient: rq retries the task
    except Exception as e:  # the file itself is bad (corrupt archive, ragged rows): fail visibly
        error = JobError.of(e, "bulk_split_failed")
        log.info("bulk job failed: %s", error.message, extra=fields(bulk_id=bulk_id, status="failed"))
        transition_call(bulk_id, FAILABLE, BulkStatus.FAILED, failure_fields(error)).run_sync(context.redis)
        return f"failed: {error.message}"
    if finished:
        return "split complete"
    fed = int(context.redis.hget(keys.bulk_job(bulk_id), "fed") or 0)
    return f"continues as {enqueue_split(context.rq_redis, bulk_id, fed, context.task_s)}"


@dataclass(frozen=True)
class Piece:
    """A chunk to feed: its file's contents, or, for a .npy job, where its rows lie in the input
    file (which is never rewritten, so the chunk needs no copy of its own)."""

    index: int
    items: int
    offset: int  # where the split resumes after this chunk
    chunk: ChunkFile | None = None
    first_row: int = -1


def _pieces(
    context: SplitContext, record: BulkRecord, stream: BinaryIO, signature: Signature
) -> Iterator[Piece]:
    offset, index, rows = record.split_offset, record.fed, record.chunk_rows
    max_bytes, limits = context.chunk_max_bytes, context.limits
    if record.format is BulkFormat.JSONL:
        limits.check_bytes(stream.seek(0, io.SEEK_END))
        lines = jsonl_chunks(stream, signature, offset, record.total, index, rows, max_bytes)
        return (Piece(c.index, len(c.ids), end, c) for c, end in limits.counted(lines, record.total))
    if record.format is BulkFormat.NPY:
        columns = npy_columns(stream, signature)
        limits.check_columns(columns)
        check_length(columns[0], stream.seek(0, io.SEEK_END))
        bounds = enumerate(chunk_bounds(columns, offset, rows, max_bytes), index)
        return (Piece(i, count, start + count, None, start) for i, (start, count) in bounds)
    # An .npz member may be compressed: it cannot be read from the middle, so chunks are copied.
    columns = npz_columns(open_npz(stream), signature)
    limits.check_columns(columns)
    chunks = array_chunks(columns, offset, index, rows, max_bytes)
    return (Piece(c.index, len(c.ids), end, c) for c, end in chunks)


def feed_chunks(context: SplitContext, record: BulkRecord) -> bool:
    """Writes and feeds chunks until the file ends (True), the job stops (True) or the time
    slice is over (False). A chunk is fed knowing whether it is the last one (one chunk of look
    ahead), so the job's chunk count is set in the same step as its last chunk."""
    files = open_store(record.store, context.sealer)
    signature = context.registry.get(record.model, record.version, include_retired=True).signature
    deadline = time.monotonic() + context.task_s
    with files.open_read(input_path(record.id, record.format)) as stream:
        pieces = _pieces(context, record, stream, signature)
        current = next(pieces, None)
        if current is None and record.fed == 0:
            raise InvalidInputError("file: it holds no rows", ("file",))
        while current is not None:
            following = next(pieces, None)
            if not _feed(context.redis, files, record, current, last=following is None):
                return True
            if following is not None and time.monotonic() > deadline:
                return False
            current = following
    return True


def _feed(client: redis.Redis, files: FileStore, record: BulkRecord, piece: Piece, last: bool) -> bool:
    """Writes the chunk file (if it has one), then puts the chunk in the lane; False once the
    job stopped."""
    if piece.chunk is not None:
        write_chunk(files, chunk_path(record.id, piece.index), piece.chunk)
    entry = ChunkEntry(
        record.id,
        piece.index,
        piece.items,
        record.store,
        traceparent=record.traceparent or "",
        first_row=piece.first_row,
    )
    state = FEED.run_sync(
        client,
        bulk=keys.bulk_job(record.id),
        lane=keys.bulk_lane(record.model, record.version),
        index=piece.index,
        rows=piece.items,
        split_offset=piece.offset,
        last=int(last),
        entry=entry.to_fields(),
    ).decode()
    return state in ("fed", "dup")
