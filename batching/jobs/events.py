"""Job completion events: workers PUBLISH a job id when it ends; waiters here wake without polling."""

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import redis.asyncio as aioredis

from batching import keys

log = logging.getLogger(__name__)


class JobEvents:
    """One subscription per process, fanned out to every coroutine waiting on a job."""

    def __init__(self, redis: aioredis.Redis):
        self._redis = redis
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task | None = None
        self.subscribed = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="job-events")

    async def stop(self, timeout_s: float = 2.0) -> None:
        """Cancels the listener; bounded, since a cancel that lands mid-connect can leave the
        client's connection cleanup waiting, and shutdown must not hang on it."""
        if self._task:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=timeout_s)

    @contextlib.contextmanager
    def watch(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set when the job ends. Enter it *before* reading the job, so no end is missed."""
        event = asyncio.Event()
        self._waiters.setdefault(job_id, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[job_id]

    async def _listen(self) -> None:
        backoff_s = 0.1
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(keys.JOB_EVENTS_CHANNEL)
                    self.subscribed.set()
                    backoff_s = 0.1
                    async for message in pubsub.listen():
                        self._wake(message["data"].decode())
            except asyncio.CancelledError:
                raise
            except Exception as e:  # any connection failure: wake everyone, resubscribe
                self.subscribed.clear()
                log.warning("job events subscription lost (%s); retrying in %.1fs", e, backoff_s)
                for waiters in self._waiters.values():
                    for event in waiters:
                        event.set()
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 5.0)

    def _wake(self, job_id: str) -> None:
        for event in self._waiters.get(job_id, ()):
            event.set()
