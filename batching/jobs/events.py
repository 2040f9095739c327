"""Job completion events: workers PUBLISH a job when it ends; waiters here wake without polling.

An announcement is the job's id, then (unless the record is large: batching.jobs.scripts) a
newline and the ended record's fields, each as `<length>:<bytes>`; a waiter woken with the
record answers without reading it from Redis again.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import redis.asyncio as aioredis

from batching import keys
from maas.core.ids import base_of

log = logging.getLogger(__name__)


class Ended(asyncio.Event):
    """Set when the job ends; `fields` is the ended record as announced (HGETALL's shape), or
    None when the announcement carried only the id (or the subscription was lost)."""

    fields: dict[bytes, bytes] | None = None


def announced_job_id(data: bytes) -> str:
    """The job id of an announcement, without parsing the record it may carry."""
    return data.split(b"\n", 1)[0].decode()


def announced_fields(payload: bytes) -> dict[bytes, bytes]:
    """The record's fields from an announcement's payload (after the newline)."""
    items: list[bytes] = []
    at = 0
    while at < len(payload):
        colon = payload.index(b":", at)
        end = colon + 1 + int(payload[at:colon])
        items.append(payload[colon + 1 : end])
        at = end
    return dict(zip(items[::2], items[1::2], strict=True))


class JobEvents:
    """One subscription per process, fanned out to every coroutine waiting on a job."""

    def __init__(self, redis: aioredis.Redis):
        self._redis = redis
        self._waiters: dict[str, set[Ended]] = {}
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
    def watch(self, job_id: str) -> Iterator[Ended]:
        """An event set when the job ends. Enter it *before* reading (or writing) the job, so no
        end is missed."""
        event = Ended()
        base = base_of(job_id)  # with or without its slot tag (a submit watches before it knows it)
        self._waiters.setdefault(base, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(base)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[base]

    async def _listen(self) -> None:
        backoff_s = 0.1
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    # Every slot's channel (and the untagged one): each shares this prefix.
                    await pubsub.psubscribe(keys.JOB_EVENTS_CHANNEL + "*")
                    self.subscribed.set()
                    backoff_s = 0.1
                    async for message in pubsub.listen():
                        self._wake(message["data"])
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

    def _wake(self, data: bytes) -> None:
        job_id, _, payload = data.partition(b"\n")
        waiters = self._waiters.get(base_of(job_id.decode()))
        if not waiters:  # most announcements are for jobs another API process waits on
            return
        fields = announced_fields(payload) if payload else None
        for event in waiters:
            event.fields = fields
            event.set()
