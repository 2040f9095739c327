"""The batch loop of one lane: collect a micro-batch, claim it, run it, write results back.

While one batch runs in the inference thread, the next is being collected and claimed, so
Redis round trips overlap inference.
"""

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from redis.exceptions import RedisError

from batching import keys
from batching.bulk.chunk import ChunkFile
from batching.codec import decode_tensors
from batching.collector import BatchCollector
from batching.entry import LaneEntry
from batching.fair_lane import FairLaneReader
from batching.fair_share import EVEN, FairShare
from batching.jobs.record import JobError, JobResult, JobStatus, JobTimings
from batching.jobs.store import JobStore
from batching.lane import ISOLATE_FROM_DELIVERY
from batching.policy import BatchPolicy
from maas.core import tracing
from maas.core.errors import MaasError
from maas.models.registry import ModelVersion
from worker.batch import job_spans
from worker.batch.batch_runner import Outcome, run_batch
from worker.batch.bulk_loop import BulkLoop
from worker.batch.bulk_scoring import BatchResult, MicroBatch, score_while_idle
from worker.batch.lane_metrics import LaneMetrics
from worker.runtimes.base import Runtime

log = logging.getLogger(__name__)
IDLE_READ_S = 0.5


@dataclass(frozen=True)
class Reliability:
    visibility_timeout_s: float
    max_deliveries: int


@dataclass(frozen=True)
class Claimed:
    entry: LaneEntry
    claimed_at: float
    inputs: dict[str, np.ndarray]


def policy_of(model: ModelVersion) -> BatchPolicy:
    config = model.config
    return BatchPolicy(
        config.max_batch_size, config.max_queue_delay_ms / 1000, tuple(config.preferred_batch_sizes)
    )


class LaneLoop:
    """The online lane of one model version; it is also the InferenceSlot its bulk lane uses."""

    def __init__(
        self,
        model: ModelVersion,
        runtime: Runtime,
        store: JobStore,
        consumer: str,
        reliability: Reliability,
        fair_share: FairShare = EVEN,
    ):
        self.model = model
        self.runtime = runtime
        self.store = store
        self.consumer = consumer
        self.reliability = reliability
        self.lane = keys.online_lane(model.name, model.version)
        # Each tenant's jobs wait in their own sub-stream; batches share the lane fairly.
        self.reader = FairLaneReader(
            store.redis, self.lane, consumer, reliability.visibility_timeout_s, fair_share
        )
        self.collector = BatchCollector(policy_of(model), self.reader)
        self.metrics = LaneMetrics(model, consumer)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"infer-{model.name}")
        self._finishing: set[asyncio.Task] = set()
        self._inflight: asyncio.Task | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        """Serves the lane until `stopping` is set, then finishes the batches it holds."""
        timeout_s, max_deliveries = self.reliability.visibility_timeout_s, self.reliability.max_deliveries
        bulk_loop = BulkLoop(
            self, self.store.redis, self.consumer, timeout_s, max_deliveries, sealer=self.store.sealer
        )
        bulk = asyncio.create_task(bulk_loop.run(stopping))  # the bulk lane, in spare capacity
        backoff_s = 0.1
        while not stopping.is_set():
            try:
                await self.reader.ensure_group()
                while not stopping.is_set():
                    if batch := await self.collector.next_batch(IDLE_READ_S):
                        await self._dispatch(batch)
                    backoff_s = 0.1
            except RedisError as e:
                log.warning("lane %s: Redis error %r; retrying in %.1fs", self.lane, e, backoff_s)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 5.0)
        await self._settle_reads()
        while batch := self.collector.flush() or self.reader.take(self.collector.policy.max_batch_size):
            await self._dispatch(batch)
        await self._settle()
        await asyncio.gather(*self._finishing, return_exceptions=True)
        await self.reader.aclose()
        for outcome in await asyncio.gather(bulk, return_exceptions=True):
            if isinstance(outcome, Exception):  # the online lane drained; say why bulk stopped
                log.error("bulk lane of %s ended with %r", self.lane, outcome)
        self._executor.shutdown()

    async def _settle_reads(self) -> None:
        """Entries a blocking read brought after its deadline are held, so the drain runs them."""
        try:
            await self.reader.settle()
        except RedisError as e:  # they stay pending and are reclaimed by another worker
            log.warning("lane %s: could not collect the last read: %r", self.lane, e)

    async def run_block(
        self, chunk: ChunkFile, batches: list[MicroBatch], first: int, budget_s: float
    ) -> list[BatchResult]:
        """InferenceSlot: bulk micro-batches on this lane's inference thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, score_while_idle, self.runtime, chunk, batches, first, budget_s, self.online_busy
        )

    def online_busy(self) -> bool:
        """An online batch is held or running: bulk chunks wait for it. Also read from the
        inference thread, between bulk micro-batches: a stale answer costs one micro-batch."""
        held = bool(self.collector.held()) or self.reader.holding()
        return held or (self._inflight is not None and not self._inflight.done())

    async def _dispatch(self, batch: list[LaneEntry]) -> None:
        """Dead-letters repeat offenders, isolates suspects, runs the rest as one batch."""
        poison = [e for e in batch if e.deliveries > self.reliability.max_deliveries]
        if poison:
            for entry in poison:
                log.error("dead-lettering a job", extra=self.metrics.fields(job_id=entry.job_id))
            await self.store.dead_letter(self.lane, poison, self.reliability.max_deliveries)
            self.metrics.dead_lettered(len(poison))
        rest = [e for e in batch if e.deliveries <= self.reliability.max_deliveries]
        healthy = [e for e in rest if e.deliveries < ISOLATE_FROM_DELIVERY]
        suspects = [[e] for e in rest if e.deliveries >= ISOLATE_FROM_DELIVERY]
        if healthy:
            await self._start(healthy)
        for suspect in suspects:
            # Nothing else is claimed or run while a suspect runs: if it crashes the process,
            # no innocent entry is charged a delivery for it.
            await self._start(suspect)
            await self._settle()

    async def _start(self, batch: list[LaneEntry]) -> None:
        """Claims the batch while the previous one runs, then starts it once that one is done."""
        runnable = await self._claim(batch)
        await self._settle()
        if runnable:
            self._inflight = asyncio.create_task(self._infer(runnable))

    async def _settle(self) -> None:
        if self._inflight is not None:
            await self._inflight
            self._inflight = None

    async def _claim(self, batch: list[LaneEntry]) -> list[Claimed]:
        """Marks the batch's jobs running; drops cancelled/expired ones, fails undecodable ones."""
        states = await self.store.claim(batch, self.consumer)
        claimed_at = time.time()
        runnable, failed, dropped = [], [], []
        for entry, state in zip(batch, states, strict=True):
            if state != JobStatus.RUNNING.value:
                dropped.append(entry)
                continue
            try:
                inputs = decode_tensors(self.store.open_inputs(entry))
                self.model.signature.check_inputs(inputs)
            except MaasError as e:
                failed.append((entry, _failure(JobError(e.code, e.message))))
                continue
            runnable.append(Claimed(entry, claimed_at, inputs))
        if tracing.on():
            job_spans.queue_waits([c.entry for c in runnable], claimed_at)
        self.metrics.claimed([c.entry for c in runnable], claimed_at)
        self.metrics.expired(states.count(JobStatus.EXPIRED.value))
        if failed or dropped:
            self._spawn_finish(failed, [e for e, _ in failed] + dropped, 0)
        return runnable

    async def _infer(self, runnable: list[Claimed]) -> None:
        entries = [c.entry for c in runnable]
        started_ns = time.time_ns()
        loop = asyncio.get_running_loop()
        running = loop.run_in_executor(self._executor, run_batch, self.runtime, [c.inputs for c in runnable])
        outcomes = await self._keeping_alive(entries, running)
        if tracing.on():
            job_spans.batch_inference(self.model, entries, started_ns, self.lane)
        results = [
            (c.entry, _result(outcome, c.entry, c.claimed_at))
            for c, outcome in zip(runnable, outcomes, strict=True)
        ]
        rows = sum(e.rows for e in entries)
        batch_id = self.metrics.batch(entries, [o.inference_ms for o in outcomes])
        self._spawn_finish(results, entries, rows, batch_id)

    async def _keeping_alive(self, entries: list[LaneEntry], running: asyncio.Future) -> list:
        """Awaits inference; a batch slower than a third of the visibility timeout refreshes its
        entries' idle time so no other worker takes them from a live worker."""
        period_s = self.reliability.visibility_timeout_s / 3
        while True:
            done, _ = await asyncio.wait({running}, timeout=period_s)
            if done:
                return running.result()
            try:
                await self.reader.keep_alive(entries)
            except RedisError as e:
                log.warning("could not refresh a slow batch's entries: %r", e)

    def _spawn_finish(
        self, results: list, done: list[LaneEntry], computed_rows: int, batch_id: str = ""
    ) -> None:
        task = asyncio.create_task(self._finish(results, done, computed_rows, batch_id))
        self._finishing.add(task)
        task.add_done_callback(self._finished)

    async def _finish(self, results: list, done: list[LaneEntry], computed_rows: int, batch_id: str) -> None:
        started_ns = time.time_ns()
        applied = await self.store.finish(self.lane, results, done, computed_rows)
        self.metrics.finished(results, applied, batch_id)
        if tracing.on():
            job_spans.result_writes(results, started_ns)

    def _finished(self, task: asyncio.Task) -> None:
        self._finishing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The entries stay pending and are reclaimed; the first-wins write makes that safe.
            log.error("writing results failed: %r", task.exception())


def _failure(error: JobError) -> JobResult:
    return JobResult(JobStatus.FAILED, time.time(), error=error)


def _result(outcome: Outcome, entry: LaneEntry, claimed_at: float) -> JobResult:
    timings = JobTimings(
        queue_ms=round(max(0.0, claimed_at - entry.created_at) * 1000, 3),
        inference_ms=round(outcome.inference_ms, 3),
        batch_size=outcome.batch_rows,
    )
    if outcome.error is not None:
        return JobResult(JobStatus.FAILED, time.time(), error=outcome.error, timings=timings)
    assert outcome.outputs is not None  # run_batch sets exactly one of outputs and error
    outputs = {name: np.ascontiguousarray(array) for name, array in outcome.outputs.items()}
    return JobResult(JobStatus.SUCCEEDED, time.time(), outputs=outputs, timings=timings)
