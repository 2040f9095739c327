"""`maas rq-worker`: runs rq tasks (webhook deliveries, bulk splits) and relays webhook events
into rq.

rq jobs are JSON-serialized (rq's default is pickle, which maas never uses). A SimpleWorker
runs each task in-process: a delivery is one bounded HTTP request, not worth a fork.
"""

import logging
import os
import secrets
import signal
import socket
import threading

import redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from batching import keys
from batching.bulk.queue import bulk_queue
from maas.core.child_process import die_with_parent
from maas.core.settings import Settings
from maas.core.url_safety import webhook_policy
from maas.models.registry import ModelRepository
from worker.tasks import bulk_split
from worker.tasks.rq_job import RenamedTaskJob
from worker.webhooks.delivery import DeliveryContext, configure
from worker.webhooks.relay import OutboxRelay

log = logging.getLogger(__name__)


class MaasRqWorker(SimpleWorker):
    """rq deems a task abandoned (its worker died) a fixed 60 s after its timeout; here that
    grace is a setting, so a delivery cut off by a SIGKILL is retried sooner."""

    abandoned_grace_s = 60

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        return int(job.timeout or 60) + int(self.abandoned_grace_s)


def _after_fork_in_child(client: redis.Redis) -> None:
    """rq forks its scheduler. The child dies with this process (SIGTERM: it then releases the
    scheduler lock, or the next worker could not schedule retries for a minute), and closes its
    copies of this process's Redis sockets at once: while a copy of the socket of a BLMOVE lives
    on, Redis hands the next task to a worker that is already dead."""
    die_with_parent(signal.SIGTERM)
    pool = client.connection_pool
    inherited = [*getattr(pool, "_available_connections", ()), *getattr(pool, "_in_use_connections", ())]
    for connection in inherited:
        connection.disconnect()  # in a child: close our copy only, no shutdown of the parent's


def webhook_queue(client: redis.Redis) -> Queue:
    return Queue(keys.WEBHOOK_QUEUE, connection=client, serializer=JSONSerializer)


def run_rq_worker(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, health_check_interval=30)
    os.register_at_fork(after_in_child=lambda: _after_fork_in_child(client))
    configure(
        DeliveryContext(
            client, settings.webhook_secrets, webhook_policy(settings), settings.webhook_timeout_s
        )
    )
    bulk_split.configure(
        bulk_split.SplitContext(
            client,
            ModelRepository(settings.model_repository),
            settings.bulk_task_s,
            settings.bulk_chunk_max_bytes,
        )
    )
    name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    queue = webhook_queue(client)
    relay = OutboxRelay(
        client,
        queue,
        name,
        settings.webhook_retry_delays_s,
        settings.webhook_retry_jitter,
        task_timeout_s=int(settings.webhook_timeout_s) + 5,
    )
    threading.Thread(target=relay.run, name="webhook-relay", daemon=True).start()
    maintenance_s = max(1, int(settings.rq_abandoned_after_s / 2))
    worker = MaasRqWorker(
        [queue, bulk_queue(client)],
        connection=client,
        serializer=JSONSerializer,
        job_class=RenamedTaskJob,  # tasks queued by the previous release under older paths
        name=name,
        maintenance_interval=maintenance_s,
        # An idle rq worker blocks on the queue for worker_ttl - 15 s and only checks for
        # abandoned tasks between waits: keep the waits as short as the maintenance interval.
        worker_ttl=maintenance_s + 15,
    )
    worker.abandoned_grace_s = settings.rq_abandoned_after_s
    try:
        worker.work(with_scheduler=True, logging_level=settings.log_level.upper())
    finally:
        relay.stopping.set()
