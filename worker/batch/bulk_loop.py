"""Serves a model version's bulk lane beside its online lane, with the online lane's runtime and
inference thread, in its spare capacity: bulk micro-batches run only while no online batch is
held or running, so an online job waits at most one bulk micro-batch (or SLICE_S of them).

A chunk's result file is written whole (atomically) before the chunk is counted, and counted
before its lane entry is acknowledged: a worker killed anywhere leaves the chunk to be
reclaimed and recomputed, and it is counted and written once.
"""

import asyncio
import logging
import time
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from batching import keys
from batching.bulk.chunk import ChunkFile
from batching.bulk.lane import BulkLaneReader, ChunkEntry
from batching.bulk.record import chunk_path, result_path
from batching.bulk.store import BulkStore
from batching.jobs.record import JobError
from batching.metrics import BULK_CHUNK_SECONDS, BULK_ROWS
from maas.core import tracing
from maas.core.file_store import FileStore, open_store
from maas.core.log_fields import fields
from maas.core.sealing import CLEAR, Sealer
from maas.models.registry import ModelVersion
from worker.batch.bulk_scoring import BatchResult, MicroBatch, chunk_result, dead_lettered, micro_batches

log = logging.getLogger(__name__)
IDLE_BLOCK_MS = 400
ONLINE_POLL_S = 0.001
# Longest run of back-to-back bulk micro-batches in one go, while the online lane is idle; an
# online job waits at most this or one micro-batch, whichever is longer.
SLICE_S = 0.005


def read_chunk(files: FileStore, path: str) -> ChunkFile:
    with files.open_read(path) as f:
        return ChunkFile.decode(f.read())


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

    async def run(self, stopping: asyncio.Event) -> None:
        backoff_s = 0.1
        while not stopping.is_set():
            try:
                await self.reader.ensure_group()
                while not stopping.is_set():
                    if entry := await self.reader.next(IDLE_BLOCK_MS):
                        await self._serve_or_fail(entry, stopping)
                    backoff_s = 0.1
            except RedisError as e:
                log.warning("bulk lane %s: Redis error %r; retrying", self.reader.stream, e)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 5.0)

    async def _serve_or_fail(self, entry: ChunkEntry, stopping: asyncio.Event) -> None:
        """A chunk that cannot be served (its files gone or corrupt, a disk error) fails its whole
        bulk job, visibly, rather than the loop: other chunks and jobs go on. A Redis error leaves
        the chunk pending, to be retried or reclaimed."""
        try:
            with tracing.job_span("maas.bulk_chunk", entry.traceparent or None):
                tracing.annotate(
                    {"maas.bulk.id": entry.bulk_id, "maas.bulk.chunk": entry.index, "maas.rows": entry.rows}
                )
                await self._serve(entry, stopping)
        except RedisError:
            raise
        except Exception as e:  # anything else about this chunk must cost only its job
            error = JobError.of(e, "bulk_chunk_failed")
            log.error("bulk chunk failed: %s", error.message, extra=_fields(entry))
            where = JobError(error.code, f"chunk {entry.index}: {error.message}")
            await self.store.fail(entry.bulk_id, where)
            await self.reader.ack(entry)

    async def _serve(self, entry: ChunkEntry, stopping: asyncio.Event) -> None:
        state = await self.store.start_chunk(entry.bulk_id, entry.index)
        if state == "running":
            files = open_store(entry.store, self.sealer)
            result = await self._result(files, entry, stopping)
            if result is None:  # stopping: another worker takes the chunk over at once
                await self.reader.release(entry)
                return
            await asyncio.to_thread(write_chunk, files, result_path(entry.bulk_id, entry.index), result)
            failed = len(result.errors)
            state = await self.store.chunk_done(entry.bulk_id, entry.index, len(result.ids) - failed, failed)
            self._count(len(result.ids) - failed, failed)
        elif state == "done":  # computed and counted before its worker died: finish the steps after
            state = await self.store.chunk_done(entry.bulk_id, entry.index, 0, 0)
        if state == "finalizing":
            await self._finalize(entry)
        await self.reader.ack(entry)

    async def _result(self, files: FileStore, entry: ChunkEntry, stopping: asyncio.Event) -> ChunkFile | None:
        chunk = await asyncio.to_thread(read_chunk, files, chunk_path(entry.bulk_id, entry.index))
        if entry.deliveries > self.max_deliveries:
            log.error("bulk chunk dead-lettered", extra=_fields(entry))
            return dead_lettered(chunk, self.max_deliveries)
        started = self._refreshed_at = time.monotonic()
        results: list[BatchResult] = []
        batches = micro_batches(chunk, self.model.config.max_batch_size)
        while len(results) < len(batches):
            await self._wait_for_spare_capacity(entry, stopping)
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

    async def _wait_for_spare_capacity(self, entry: ChunkEntry, stopping: asyncio.Event) -> None:
        """Online batches first; meanwhile keep the chunk ours (refresh its idle time)."""
        while True:
            if time.monotonic() - self._refreshed_at > self.reader.visibility_timeout_s / 3:
                await self.reader.keep_alive(entry)
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
