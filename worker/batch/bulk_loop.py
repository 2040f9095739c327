"""Serves a model version's bulk lane beside its online lane, with the online lane's runtime and
inference thread, in its spare capacity: bulk micro-batches run only while no online batch is
held or running, so an online job waits at most one bulk micro-batch (or SLICE_S of them).

A chunk's result file is written whole (atomically) before the chunk is counted, and counted
before its lane entry is acknowledged: a worker killed anywhere leaves the chunk to be
reclaimed and recomputed, and it is counted and written once.

Chunks are pipelined, so that a light model's inference thread does not wait on I/O between
chunks: while one chunk is scored, the next is read (its entry held, kept alive, handed back if
the loop stops first) and the previous ones' results are written, counted and acknowledged
(MAX_FINISHING at most). So a worker holds at most two chunks' inputs and MAX_FINISHING results.
A chunk delivered before (it may have crashed a worker) is scored with no other chunk held.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from batching import keys
from batching.bulk.arrays import npy_columns, rows_chunk
from batching.bulk.chunk import ChunkFile
from batching.bulk.lane import BulkLaneReader, ChunkEntry
from batching.bulk.record import BulkFormat, chunk_path, input_path, result_path
from batching.bulk.store import BulkStore
from batching.jobs.record import JobError
from batching.metrics import BULK_CHUNK_SECONDS, BULK_ROWS
from maas.core import tracing
from maas.core.file_store import FileStore, open_store
from maas.core.log_fields import fields
from maas.core.sealing import CLEAR, Sealer
from maas.core.signature import Signature
from maas.models.registry import ModelVersion
from worker.batch.bulk_scoring import BatchResult, MicroBatch, chunk_result, dead_lettered, micro_batches

log = logging.getLogger(__name__)
T = TypeVar("T")
IDLE_BLOCK_MS = 400
ONLINE_POLL_S = 0.001
# Longest run of back-to-back bulk micro-batches in one go, while the online lane is idle; an
# online job waits at most this or one micro-batch, whichever is longer.
SLICE_S = 0.005
# Results being written, counted and acknowledged while the next chunks are scored: a file's
# fsync can take longer than a light model takes to score a chunk, so several are in flight.
MAX_FINISHING = 4


def read_chunk(files: FileStore, entry: ChunkEntry, signature: Signature) -> ChunkFile:
    """The chunk's file, or, for a chunk of a .npy job, its rows of the input file."""
    if entry.first_row < 0:
        with files.open_read(chunk_path(entry.bulk_id, entry.index)) as f:
            return ChunkFile.decode(f.read())
    with files.open_read(input_path(entry.bulk_id, BulkFormat.NPY)) as f:
        return rows_chunk(npy_columns(f, signature), entry.index, entry.first_row, entry.rows)


def write_chunk(files: FileStore, path: str, chunk: ChunkFile) -> None:
    with files.write_atomic(path) as f:
        f.write(chunk.encode())


def missing_results(files: FileStore, bulk_id: str, chunks: int) -> list[int]:
    return [i for i in range(chunks) if not files.exists(result_path(bulk_id, i))]


class InferenceSlot(Protocol):
    """What the bulk lane borrows from the online lane of its model version: the loaded
    version, its inference thread, and whether an online batch is waiting for that thread."""

    @property
    def model(self) -> ModelVersion: ...

    def online_busy(self) -> bool:
        """An online batch is held or running; also read from the inference thread."""
        ...

    async def run_block(
        self, chunk: ChunkFile, batches: list[MicroBatch], first: int, budget_s: float
    ) -> list[BatchResult]:
        """Scores batches[first], then the next ones while the online lane stays idle and
        budget_s lasts, on the inference thread."""
        ...


@dataclass(frozen=True)
class Loaded:
    """A chunk read from the lane and started: its rows when they are to be scored."""

    entry: ChunkEntry
    state: str  # what START said: 'running' (score it), 'done' (counted before), or the job's state
    files: FileStore | None = None
    chunk: ChunkFile | None = None


def _fields(entry: ChunkEntry, **more: object) -> dict[str, object]:
    return fields(bulk_id=entry.bulk_id, chunk=entry.index, **more)


class BulkLoop:
    """Serves the bulk lane of `slot`'s model version, as consumer `consumer`; an entry held
    visibility_timeout_s is taken over by another worker, and one delivered more than
    max_deliveries times is dead-lettered."""

    def __init__(
        self,
        slot: InferenceSlot,
        client: aioredis.Redis,
        consumer: str,
        visibility_timeout_s: float,
        max_deliveries: int,
        sealer: Sealer = CLEAR,
    ):
        self.slot = slot
        self.sealer = sealer  # chunk and result files are sealed under it
        self.model = slot.model
        self.store = BulkStore(client)
        self.max_deliveries = max_deliveries
        self.reader = BulkLaneReader(
            client, keys.bulk_lane(self.model.name, self.model.version), consumer, visibility_timeout_s
        )
        self._refreshed_at = 0.0
        self._backoff_s = 0.1
        # Entries read and not yet acknowledged (the chunk scored, the next one read ahead, the
        # previous one finishing): kept alive together while online batches go first.
        self._held: dict[bytes, ChunkEntry] = {}
        self._finishing: deque[asyncio.Task[None]] = deque()  # oldest first

    async def run(self, stopping: asyncio.Event) -> None:
        try:
            while not stopping.is_set():
                try:
                    await self.reader.ensure_group()
                    await self._serve_lane(stopping)
                except RedisError as e:
                    log.warning("bulk lane %s: Redis error %r; retrying", self.reader.stream, e)
                    await asyncio.sleep(self._backoff_s)
                    self._backoff_s = min(self._backoff_s * 2, 5.0)
        finally:
            try:
                await self._settle(0)
            except RedisError as e:  # its chunk stays pending: another worker reclaims it
                log.warning("bulk lane %s: last chunk not finished: %r", self.reader.stream, e)

    async def _serve_lane(self, stopping: asyncio.Event) -> None:
        """Chunks one after the other, with the next one read while this one is scored and the
        previous one's result written and counted meanwhile: the inference thread need not wait
        for Redis or the file store between chunks."""
        self._held.clear()  # after a Redis error: what was held is left to be reclaimed
        ahead: asyncio.Task[Loaded | None] | None = None
        try:
            while not stopping.is_set():
                current = await ahead if ahead is not None else await self._load(IDLE_BLOCK_MS)
                ahead = None
                if current is None:
                    continue
                if current.entry.deliveries > 1:
                    # A chunk that may have crashed a worker runs alone: no chunk held beside it
                    # is charged a delivery if it crashes this one too.
                    await self._settle(0)
                else:
                    ahead = asyncio.create_task(self._load(None, reclaim=False))
                await self._guarded(current.entry, self._serve(current, stopping))
        finally:
            if ahead is not None and (loaded := await ahead) is not None:
                await self._release(loaded.entry)  # not started: another worker takes it at once

    async def _load(self, block_ms: int | None, reclaim: bool = True) -> "Loaded | None":
        """The next chunk, started and read (None: none came within block_ms, None: no wait, or
        it could not be read and its job failed). Read ahead (reclaim False), a stalled chunk is
        left for the loop to take once it holds nothing else."""
        entry = await self.reader.next(block_ms, reclaim)
        if entry is None:
            return None
        self._backoff_s = 0.1
        self._held[entry.stream_id] = entry
        return await self._guarded(entry, self._start(entry))

    async def _start(self, entry: ChunkEntry) -> "Loaded":
        state = await self.store.start_chunk(entry.bulk_id, entry.index)
        if state != "running":
            return Loaded(entry, state)
        files = open_store(entry.store, self.sealer)
        chunk = await asyncio.to_thread(read_chunk, files, entry, self.model.signature)
        return Loaded(entry, state, files, chunk)

    async def _guarded(self, entry: ChunkEntry, step: Awaitable[T]) -> T | None:
        """A chunk that cannot be served (its files gone or corrupt, a disk error) fails its whole
        bulk job, visibly, rather than the loop: other chunks and jobs go on. A Redis error leaves
        the chunk pending, to be retried or reclaimed."""
        try:
            return await step
        except RedisError:
            raise
        except Exception as e:  # anything else about this chunk must cost only its job
            error = JobError.of(e, "bulk_chunk_failed")
            log.error("bulk chunk failed: %s", error.message, extra=_fields(entry))
            where = JobError(error.code, f"chunk {entry.index}: {error.message}")
            await self.store.fail(entry.bulk_id, where)
            await self._ack(entry)
            return None

    async def _serve(self, loaded: "Loaded", stopping: asyncio.Event) -> None:
        entry, state = loaded.entry, loaded.state
        if loaded.chunk is not None and loaded.files is not None:
            with tracing.job_span("maas.bulk_chunk", entry.traceparent or None):
                tracing.annotate(
                    {"maas.bulk.id": entry.bulk_id, "maas.bulk.chunk": entry.index, "maas.rows": entry.rows}
                )
                result = await self._result(loaded.chunk, entry, stopping)
            if result is None:  # stopping: another worker takes the chunk over at once
                await self._release(entry)
                return
            await self._settle(MAX_FINISHING - 1)  # memory stays bounded
            finish = self._finish(loaded.files, entry, result)
            self._finishing.append(asyncio.create_task(self._guarded(entry, finish)))
            return
        if state == "done":  # computed and counted before its worker died: finish the steps after
            state = await self.store.chunk_done(entry.bulk_id, entry.index, 0, 0)
        if state == "finalizing":
            await self._finalize(entry)
        await self._ack(entry)

    async def _finish(self, files: FileStore, entry: ChunkEntry, result: ChunkFile) -> None:
        """The result file written whole, then the chunk counted, then its entry acknowledged."""
        await asyncio.to_thread(write_chunk, files, result_path(entry.bulk_id, entry.index), result)
        failed = len(result.errors)
        state = await self.store.chunk_done(entry.bulk_id, entry.index, len(result.ids) - failed, failed)
        self._count(len(result.ids) - failed, failed)
        if state == "finalizing":
            await self._finalize(entry)
        await self._ack(entry)

    async def _settle(self, at_most: int) -> None:
        """Waits until at most `at_most` results are finishing (a Redis error in one is raised
        here), the oldest first."""
        while len(self._finishing) > at_most:
            await self._finishing.popleft()

    async def _ack(self, entry: ChunkEntry) -> None:
        await self.reader.ack(entry)
        self._held.pop(entry.stream_id, None)

    async def _release(self, entry: ChunkEntry) -> None:
        await self.reader.release(entry)
        self._held.pop(entry.stream_id, None)

    async def _result(self, chunk: ChunkFile, entry: ChunkEntry, stopping: asyncio.Event) -> ChunkFile | None:
        if entry.deliveries > self.max_deliveries:
            log.error("bulk chunk dead-lettered", extra=_fields(entry))
            return dead_lettered(chunk, self.max_deliveries)
        started = self._refreshed_at = time.monotonic()
        results: list[BatchResult] = []
        batches = micro_batches(chunk, self.model.config.max_batch_size)
        while len(results) < len(batches):
            await self._wait_for_spare_capacity(stopping)
            if stopping.is_set():
                return None
            results += await self.slot.run_block(chunk, batches, len(results), SLICE_S)
        elapsed_s = time.monotonic() - started
        BULK_CHUNK_SECONDS.labels(self.model.name, str(self.model.version)).observe(elapsed_s)
        log.debug(
            "bulk chunk scored", extra=_fields(entry, rows=len(chunk.ids), duration_ms=elapsed_s * 1000)
        )
        return chunk_result(chunk, results)

    def _count(self, succeeded: int, failed: int) -> None:
        labels = (self.model.name, str(self.model.version))
        BULK_ROWS.labels(*labels, "succeeded").inc(succeeded)
        BULK_ROWS.labels(*labels, "failed").inc(failed)

    async def _wait_for_spare_capacity(self, stopping: asyncio.Event) -> None:
        """Online batches first; meanwhile keep the chunks held ours (refresh their idle time)."""
        while True:
            if time.monotonic() - self._refreshed_at > self.reader.visibility_timeout_s / 3:
                await self.reader.keep_alive(list(self._held.values()))
                self._refreshed_at = time.monotonic()
            if not self.slot.online_busy() or stopping.is_set():
                return
            await asyncio.sleep(ONLINE_POLL_S)

    async def _finalize(self, entry: ChunkEntry) -> None:
        """Every chunk is counted: check every result file is there, then end the job."""
        record = await self.store.get(entry.bulk_id)
        files = open_store(entry.store, self.sealer)
        missing = await asyncio.to_thread(missing_results, files, entry.bulk_id, record.chunks or 0)
        if missing:
            error = JobError("results_missing", f"result files of chunks {missing[:10]} are missing")
            await self.store.fail(entry.bulk_id, error)
        elif await self.store.succeed(entry.bulk_id):
            extra = fields(bulk_id=entry.bulk_id, rows=record.total, status="succeeded")
            log.info("bulk job succeeded, %d rows failed", record.failed, extra=extra)
