"""`maas rq-worker`: runs rq tasks and relays webhook events into rq.

Two rq workers share the process, one per queue, so neither waits for the other's tasks:
webhook deliveries run on up to MAAS_WEBHOOK_CONCURRENCY threads (a delivery mostly waits on
its receiver), with at most MAAS_WEBHOOK_PER_DESTINATION bound for one receiver; bulk splits
run one at a time on a thread of their own. One rq scheduler serves both queues' retries.
Another thread deletes bulk jobs whose retention ran out (worker/tasks/bulk_sweeper.py).

rq jobs are JSON-serialized (rq's default is pickle, which maas never uses). Tasks run
in-process: a delivery is one bounded HTTP request, not worth a fork.

rq's queues, registries and scheduler live on rq's Redis (MAAS_RQ_REDIS_URL; unset, the main
one); the tasks, the relay and the sweeper read and write maas's records on the main Redis,
which may be a Cluster that rq could not use.
"""

import logging
import os
import secrets
import signal
import socket
import threading

import redis
from rq import Queue
from rq.serializers import JSONSerializer
from rq.worker import WorkerStatus

from batching import keys
from batching.bulk.limits import InputLimits
from batching.bulk.queue import bulk_queue
from batching.connection import connect_sync, rq_settings
from maas.core.child_process import die_with_parent
from maas.core.file_store import configured_store
from maas.core.sealing import Sealer, announce
from maas.core.settings import Settings
from maas.core.url_safety import webhook_policy
from maas.models.registry import ModelRepository
from worker.tasks import bulk_split
from worker.tasks.bulk_sweeper import BulkSweeper
from worker.tasks.rq_job import RenamedTaskJob
from worker.tasks.slot_worker import DestinationSlots, MaasRqWorker, SlotWorker, ThreadWorker
from worker.webhooks import delivery
from worker.webhooks.relay import OutboxRelay

log = logging.getLogger(__name__)


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


def _configure_tasks(client: redis.Redis, rq_client: redis.Redis, settings: Settings) -> None:
    sealer = Sealer.from_setting(settings.data_keys)
    announce(sealer, "rq-worker")
    delivery.configure(
        delivery.DeliveryContext(
            client,
            settings.webhook_secrets,
            webhook_policy(settings),
            settings.webhook_timeout_s,
            settings.webhook_connect_timeout_s,
            sealer,
        )
    )
    bulk_split.configure(
        bulk_split.SplitContext(
            client,
            rq_client,
            ModelRepository(settings.model_repository),
            settings.bulk_task_s,
            settings.bulk_chunk_max_bytes,
            InputLimits(settings.bulk_max_rows, settings.bulk_max_input_bytes),
            sealer,
        )
    )


def _worker_options(client: redis.Redis, settings: Settings, name: str) -> dict:
    maintenance_s = max(1, int(settings.rq_abandoned_after_s / 2))
    return {
        "connection": client,
        "serializer": JSONSerializer,
        "job_class": RenamedTaskJob,  # tasks queued by the previous release under older paths
        "name": name,
        "maintenance_interval": maintenance_s,
        # An idle rq worker blocks on the queue for worker_ttl - 15 s and only checks for
        # abandoned tasks between waits: keep the waits as short as the maintenance interval.
        "worker_ttl": maintenance_s + 15,
    }


def _with_grace(worker: MaasRqWorker, settings: Settings) -> MaasRqWorker:
    worker.abandoned_grace_s = settings.rq_abandoned_after_s
    return worker


def _start_sweeper(client: redis.Redis, settings: Settings) -> threading.Event:
    """The bulk retention sweeper's thread; setting the event returned stops it."""
    store = configured_store(settings)
    sweeper = BulkSweeper(client, store, settings.bulk_sweep_interval_s)
    stopping = threading.Event()
    threading.Thread(target=sweeper.run, args=(stopping,), name="bulk-sweeper", daemon=True).start()
    return stopping


def run_rq_worker(settings: Settings) -> None:
    if not settings.redis_url:
        raise ValueError("the rq worker needs MAAS_REDIS_URL")
    client = connect_sync(settings, socket_connect_timeout=2, health_check_interval=30)
    rq_client = connect_sync(rq_settings(settings), socket_connect_timeout=2, health_check_interval=30)
    os.register_at_fork(after_in_child=lambda: _after_fork_in_child(rq_client))
    _configure_tasks(client, rq_client, settings)
    name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    deliveries, splits = webhook_queue(rq_client), bulk_queue(rq_client)
    relay = OutboxRelay(
        client,
        deliveries,
        name,
        settings.webhook_retry_delays_s,
        settings.webhook_retry_jitter,
        task_timeout_s=int(settings.webhook_timeout_s) + 5,
    )
    threading.Thread(target=relay.run, name="webhook-relay", daemon=True).start()
    splitter = ThreadWorker([splits], **_worker_options(rq_client, settings, f"{name}-split"))
    splitter.abandoned_grace_s = settings.rq_abandoned_after_s
    split_thread = threading.Thread(
        target=splitter.work,
        kwargs={"logging_level": settings.log_level.upper()},
        name="bulk-split",
        daemon=True,
    )
    split_thread.start()
    sweeper_stopping = _start_sweeper(client, settings)
    slots = DestinationSlots(settings.webhook_concurrency, settings.webhook_per_destination)
    options = _worker_options(rq_client, settings, name)
    worker = _with_grace(
        SlotWorker([deliveries], slots=slots, destination_of=delivery.destination, **options), settings
    )
    worker.scheduled_queues = [deliveries, splits]
    try:
        worker.work(with_scheduler=True, logging_level=settings.log_level.upper())
    finally:
        relay.stopping.set()
        sweeper_stopping.set()
        splitter.stop()
        if splitter.get_state() == WorkerStatus.BUSY:  # a split slice ends within its task_s
            split_thread.join(timeout=settings.bulk_task_s + 5)
