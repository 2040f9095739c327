"""The batch loop of one lane: collect a micro-batch, claim it, run it, write results back.

While one batch runs in the inference thread, the next is being collected and claimed, so
Redis round trips overlap inference.
"""

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from redis.exceptions import RedisError

from batching import keys
from batching.codec import decode_tensors
from batching.collector import BatchCollector
from batching.entry import LaneEntry
from batching.job import JobError, JobResult, JobStatus, JobTimings
from batching.lane import LaneReader
from batching.policy import BatchPolicy
from batching.store import JobStore
from maas.errors import MaasError
from maas.registry import ModelVersion
from worker.batch_runner import Outcome, run_batch
from worker.runtime import Runtime

log = logging.getLogger(__name__)
IDLE_READ_S = 0.5


def policy_of(model: ModelVersion) -> BatchPolicy:
    config = model.config
    return BatchPolicy(
        config.max_batch_size, config.max_queue_delay_ms / 1000, tuple(config.preferred_batch_sizes)
    )


class LaneLoop:
    def __init__(
        self, model: ModelVersion, runtime: Runtime, store: JobStore, consumer: str,
        visibility_timeout_s: float,
    ):
        self.model = model
        self.runtime = runtime
        self.store = store
        self.consumer = consumer
        self.lane = keys.online_lane(model.name, model.version)
        self.reader = LaneReader(store.redis, self.lane, consumer, visibility_timeout_s)
        self.collector = BatchCollector(policy_of(model), self.reader)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"infer-{model.name}")
        self._finishing: set[asyncio.Task] = set()
        self._inflight: asyncio.Task | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        """Serves the lane until `stopping` is set, then finishes the batches it holds."""
        backoff_s = 0.1
        while not stopping.is_set():
            try:
                await self.reader.ensure_group()
                while not stopping.is_set():
                    if batch := await self.collector.next_batch(IDLE_READ_S):
                        await self._dispatch(batch)
            except RedisError as e:
                log.warning("lane %s: Redis error %r; retrying in %.1fs", self.lane, e, backoff_s)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 5.0)
        while batch := self.collector.flush():
            await self._dispatch(batch)
        if self._inflight is not None:
            await self._inflight
        await asyncio.gather(*self._finishing, return_exceptions=True)
        self._executor.shutdown()

    async def _dispatch(self, batch: list[LaneEntry]) -> None:
        """Claims the batch while the previous one runs, then starts it once that one is done."""
        runnable = await self._claim(batch)
        if self._inflight is not None:
            await self._inflight
            self._inflight = None
        if runnable:
            self._inflight = asyncio.create_task(self._infer(runnable))

    async def _claim(self, batch: list[LaneEntry]) -> list[tuple[LaneEntry, float, dict]]:
        """Marks the batch's jobs running; drops cancelled/expired ones, fails undecodable ones."""
        states = await self.store.claim(batch, self.consumer)
        claimed_at = time.time()
        runnable, failed, dropped = [], [], []
        for entry, state in zip(batch, states, strict=True):
            if state != JobStatus.RUNNING.value:
                dropped.append(entry)
                continue
            try:
                inputs = decode_tensors(entry.inputs)
                self.model.signature.check_inputs(inputs)
            except MaasError as e:
                failed.append((entry, _failure(JobError(e.code, e.message))))
                continue
            runnable.append((entry, claimed_at, inputs))
        if failed or dropped:
            self._spawn_finish(failed, [e for e, _ in failed] + dropped)
        return runnable

    async def _infer(self, runnable: list[tuple[LaneEntry, float, dict]]) -> None:
        jobs = [inputs for _, _, inputs in runnable]
        loop = asyncio.get_running_loop()
        outcomes = await loop.run_in_executor(self._executor, run_batch, self.runtime, jobs)
        results = [
            (entry, _result(outcome, entry, claimed_at))
            for (entry, claimed_at, _), outcome in zip(runnable, outcomes, strict=True)
        ]
        rows = sum(entry.rows for entry, _, _ in runnable)
        log.debug(
            "batch done",
            extra={"lane": self.lane, "batch_size": rows, "jobs": len(runnable),
                   "inference_ms": outcomes[0].inference_ms},
        )
        self._spawn_finish(results, [entry for entry, _, _ in runnable])

    def _spawn_finish(self, results: list, done: list[LaneEntry]) -> None:
        task = asyncio.create_task(self.store.finish(self.lane, results, done))
        self._finishing.add(task)
        task.add_done_callback(self._finished)

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
    outputs = {name: np.ascontiguousarray(array) for name, array in outcome.outputs.items()}
    return JobResult(JobStatus.SUCCEEDED, time.time(), outputs=outputs, timings=timings)
