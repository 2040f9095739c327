"""Moves webhook events from the outbox stream (written with the job's terminal state) into
rq tasks. The rq task id is derived from the event, so a relay that dies after enqueueing but
before acknowledging enqueues nothing twice."""

import logging
import random
import threading

import redis
from redis.exceptions import RedisError, ResponseError
from rq import Queue, Retry
from rq.job import Job

from batching import keys
from batching.tasks import DELIVER_BULK_WEBHOOK, DELIVER_JOB_WEBHOOK

log = logging.getLogger(__name__)
GROUP = "relay"
STALE_AFTER_MS = 30_000  # an outbox entry held this long by a relay is taken over (it died)


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

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._ensure_group()
                while not self.stopping.is_set():
                    for entry_id, fields in self._read():
                        self._enqueue(entry_id, fields)
            except RedisError as e:
                log.warning("webhook relay: Redis error %r; retrying", e)
                self.stopping.wait(1.0)

    def _ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(keys.WEBHOOK_OUTBOX, GROUP, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def _read(self) -> list[tuple[bytes, dict]]:
        _, stale, *_ = self.redis.xautoclaim(
            keys.WEBHOOK_OUTBOX, GROUP, self.consumer, STALE_AFTER_MS, count=100
        )
        if stale:
            return [(i, f) for i, f in stale if f]
        response = self.redis.xreadgroup(
            GROUP, self.consumer, {keys.WEBHOOK_OUTBOX: ">"}, count=100, block=1000
        )
        return [(i, f) for _, messages in response or [] for i, f in messages if f]

    def _enqueue(self, entry_id: bytes, fields: dict) -> None:
        bulk = b"bulk" in fields  # a bulk job's event, else a job's
        job_id = fields[b"bulk" if bulk else b"job"].decode()
        task = DELIVER_BULK_WEBHOOK if bulk else DELIVER_JOB_WEBHOOK
        task_id = f"webhook-{job_id}"
        if b"redeliver" in fields:
            task_id += "-" + entry_id.decode()
        if not Job.exists(task_id, connection=self.redis):
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
            pipe.xack(keys.WEBHOOK_OUTBOX, GROUP, entry_id)
            pipe.xdel(keys.WEBHOOK_OUTBOX, entry_id)
            pipe.execute()
