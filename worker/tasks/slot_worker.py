"""rq workers for `maas rq-worker`: one that runs up to N tasks at once, each on its own thread
(webhook deliveries: waiting on a receiver takes no CPU), with at most M of them bound for one
destination; and one that runs in a thread beside it, serving another queue (bulk splits).

rq runs a task's timeout with SIGALRM, which only the main thread receives: tasks on threads
get rq's timer-based death penalty instead.
"""

import logging
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from rq import Queue, SimpleWorker, worker_registration
from rq.executions import Execution
from rq.job import Job
from rq.registry import clean_registries
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty
from rq.utils import now

log = logging.getLogger(__name__)
DEFER_S = 1.0  # a task whose destination is full is offered again this much later


class DestinationSlots:
    """Tasks in flight, in all (at most `total`) and per destination (at most `per_destination`);
    shared by the dispatching thread and the task threads."""

    def __init__(self, total: int, per_destination: int):
        self.total = total
        self.per_destination = per_destination
        self._changed = threading.Condition()
        self._in_flight = 0
        self._by_destination: Counter[str] = Counter()

    def try_take(self, destination: str | None) -> bool:
        """Takes a slot unless `destination` has its share in flight; the caller has waited
        for a free slot (wait_for_free) before taking the task at all."""
        with self._changed:
            if destination is not None and self._by_destination[destination] >= self.per_destination:
                return False
            self._in_flight += 1
            if destination is not None:
                self._by_destination[destination] += 1
            return True

    def release(self, destination: str | None) -> None:
        with self._changed:
            self._in_flight -= 1
            if destination is not None:
                self._by_destination[destination] -= 1
                if not self._by_destination[destination]:
                    del self._by_destination[destination]
            self._changed.notify_all()

    def wait_for_free(self, timeout_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._in_flight < self.total, timeout_s)

    @property
    def in_flight(self) -> int:
        return self._in_flight


class MaasRqWorker(SimpleWorker):
    """rq deems a task abandoned (its worker died) a fixed 60 s after its timeout; here that
    grace is a setting, so a delivery cut off by a SIGKILL is retried sooner."""

    abandoned_grace_s: float = 60
    # rq retries a lost Redis with a doubling sleep (1, 2, 4 ... 60 s), and one stale pooled
    # connection after a restart costs one more doubling: the worker slept on long after Redis
    # was back. A dequeue attempt costs one connect, so retry every second instead.
    max_connection_wait_time = 1.0
    scheduled_queues: list[Queue] | None = None  # the queues its rq scheduler serves; None: its own

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        return int(job.timeout or 60) + int(self.abandoned_grace_s)

    def clean_registries(self) -> None:
        """rq's registry cleaning (which notices abandoned tasks and retries them) under a lock
        that lasts a few maintenance intervals, not rq's 899 s: a worker SIGKILLed while it
        cleaned left the lock behind, and no other worker noticed an abandoned split or
        delivery for 15 minutes."""
        lock_s = max(2, 3 * int(self.maintenance_interval))
        for queue in self.queues:
            if self.connection.set(queue.registry_cleaning_key, 1, nx=True, ex=lock_s):
                self.log.info("Worker %s: cleaning registries for queue: %s", self.name, queue.name)
                clean_registries(queue, self._exc_handlers)
                worker_registration.clean_worker_registry(queue)
                queue.intermediate_queue.cleanup(self, queue)
                queue.release_maintenance_lock()
        self.last_cleaned_at = now()  # type: ignore[assignment]  # rq annotates it None

    def _start_scheduler(self, burst: bool = False, logging_level: str | None = "INFO", *args, **kwargs):
        """One scheduler (its own process) for every queue of the process, not per worker."""
        self.scheduler = RQScheduler(
            self.scheduled_queues or self.queues,
            connection=self.connection,
            logging_level=logging_level or "INFO",
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks(auto_start=True)


class SlotWorker(MaasRqWorker):
    """Takes a task only while a slot is free, runs it on a thread, and takes the next at once.
    A task for a destination that has its share in flight goes back to rq's schedule for
    DEFER_S (no attempt counted), so a receiver that never answers holds at most its share."""

    death_penalty_class = TimerDeathPenalty

    def __init__(self, *args, slots: DestinationSlots, destination_of: Callable[[Job], str | None], **kwargs):
        super().__init__(*args, **kwargs)
        self.slots = slots
        self.destination_of = destination_of
        self.pool = ThreadPoolExecutor(slots.total, thread_name_prefix="rq-slot")

    def execute_job(self, job: Job, queue: Queue) -> None:
        destination = self.destination_of(job)
        if not self.slots.try_take(destination):
            self._defer(job, queue)
            return
        try:
            execution = self.prepare_execution(job)
            self.pool.submit(self._perform, job, queue, execution, destination)
        except BaseException:
            self.slots.release(destination)
            raise
        while not self.slots.wait_for_free(timeout_s=5.0):
            self.heartbeat()  # every slot is busy: stay visibly alive while they finish

    def _perform(self, job: Job, queue: Queue, execution: Execution, destination: str | None) -> None:
        try:
            self.perform_job(job, queue, execution)  # records success, failure or retry itself
        except Exception:  # its bookkeeping failed (Redis away): rq sees it abandoned and retries
            log.exception("task %s: could not record its outcome", job.id)
        finally:
            self.executions.pop(execution.id, None)
            self.slots.release(destination)

    def _defer(self, job: Job, queue: Queue) -> None:
        at = datetime.now(UTC) + timedelta(seconds=DEFER_S)
        with self.connection.pipeline() as pipe:
            queue.schedule_job(job, at, pipeline=pipe)
            pipe.lrem(queue.intermediate_queue_key, 1, job.id)  # rq's dequeue parked it there
            pipe.execute()
        log.debug("task %s deferred: its destination has its share of slots", job.id)

    def teardown(self) -> None:
        self.pool.shutdown(wait=True)  # tasks in flight finish (each within its timeout)
        super().teardown()


class ThreadWorker(MaasRqWorker):
    """A worker run on a thread beside the process's main worker, which owns the signals: it
    stops when stop() is called, after the task it runs."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass  # signal handlers can only be set from the main thread

    def stop(self) -> None:
        self._stop_requested = True
