"""Moves webhook events from the outbox streams (written with the job's terminal state) into
rq tasks. The rq task id is derived from the event, so a relay that dies after enqueueing but
before acknowledging enqueues nothing twice: the outboxes are on the main Redis (a Cluster,
maybe), the rq queue on rq's own, and an event is acknowledged only once its task exists there.

There is one outbox per hash slot in use (batching.keys: a job's event is written in its own
slot), found from the SLOT_TAGS set, plus the untagged one of jobs made before slot tags. Each
is read on its own (one slot per command, as Redis Cluster requires), without blocking: a round
that finds nothing waits IDLE_WAIT_S."""

import logging
import random
import threading
import time

import redis
from redis.exceptions import ResponseError
from rq import Queue, Retry
from rq.job import Job

from batching import keys
from batching.connection import UNREACHABLE
from batching.tasks import DELIVER_BULK_WEBHOOK, DELIVER_JOB_WEBHOOK

log = logging.getLogger(__name__)
GROUP = "relay"
STALE_AFTER_MS = 30_000  # an outbox entry held this long by a relay is taken over (it died)
# A round over the outboxes that found nothing waits this long: the most an idle relay adds to a
# webhook's latency, for 2 commands per outbox per round.
IDLE_WAIT_S = 0.1
OUTBOXES_REFRESH_S = 1.0  # how often the set of slot tags in use is read again


def jittered(delays_s: list[float], jitter: float) -> list[float]:
    return [round(d * random.uniform(1 - jitter, 1 + jitter), 3) for d in delays_s]


class OutboxRelay:
    def __init__(
        self,
        client: redis.Redis,
        queue: Queue,
        consumer: str,
        retry_delays_s: list[float],
        jitter: float,
        task_timeout_s: int,
    ):
        self.redis = client
        self.queue = queue
        self.consumer = consumer
        self.retry_delays_s = retry_delays_s
        self.jitter = jitter
        self.task_timeout_s = task_timeout_s
        self.stopping = threading.Event()
        self._outboxes: list[str] = []  # each with its group made
        self._outboxes_at = -OUTBOXES_REFRESH_S

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                while not self.stopping.is_set():
                    if not self.relay_round():
                        self.stopping.wait(IDLE_WAIT_S)
            except UNREACHABLE as e:
                log.warning("webhook relay: Redis error %r; retrying", e)
                self._outboxes_at = -OUTBOXES_REFRESH_S  # make the groups again (Redis restarted)
                self.stopping.wait(1.0)

    def relay_round(self) -> int:
        """Hands every event waiting in an outbox to rq; returns how many."""
        handed = 0
        for outbox in self.outboxes():
            for entry_id, fields in self._read(outbox):
                self._enqueue(outbox, entry_id, fields)
                handed += 1
        return handed

    def outboxes(self) -> list[str]:
        now = time.monotonic()
        if now - self._outboxes_at >= OUTBOXES_REFRESH_S:
            tags = sorted(t.decode() for t in self.redis.smembers(keys.SLOT_TAGS))
            outboxes = [keys.WEBHOOK_OUTBOX, *(keys.webhook_outbox(t) for t in tags)]
            for outbox in outboxes:
                self._ensure_group(outbox)
            self._outboxes, self._outboxes_at = outboxes, now
        return self._outboxes

    def _ensure_group(self, outbox: str) -> None:
        try:
            self.redis.xgroup_create(outbox, GROUP, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def _read(self, outbox: str) -> list[tuple[bytes, dict]]:
        _, stale, *_ = self.redis.xautoclaim(outbox, GROUP, self.consumer, STALE_AFTER_MS, count=100)
        if stale:
            return [(i, f) for i, f in stale if f]
        response = self.redis.xreadgroup(GROUP, self.consumer, {outbox: ">"}, count=100)
        return [(i, f) for _, messages in response or [] for i, f in messages if f]

    def _enqueue(self, outbox: str, entry_id: bytes, fields: dict) -> None:
        bulk = b"bulk" in fields  # a bulk job's event, else a job's
        job_id = fields[b"bulk" if bulk else b"job"].decode()
        task = DELIVER_BULK_WEBHOOK if bulk else DELIVER_JOB_WEBHOOK
        task_id = f"webhook-{job_id}"
        if b"redeliver" in fields:
            task_id += "-" + entry_id.decode()
        if not Job.exists(task_id, connection=self.queue.connection):
            self.queue.enqueue(
                task,
                job_id,
                job_id=task_id,
                # rq annotates the delays as int; float seconds work the same (a timedelta).
                retry=Retry(len(self.retry_delays_s), jittered(self.retry_delays_s, self.jitter))  # type: ignore[arg-type]
                if self.retry_delays_s
                else None,
                job_timeout=self.task_timeout_s,
                result_ttl=86_400,
                failure_ttl=7 * 86_400,
            )
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.xack(outbox, GROUP, entry_id)
            pipe.xdel(outbox, entry_id)
            pipe.execute()
