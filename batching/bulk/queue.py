"""The rq tasks of bulk jobs: enqueued with the JSON serializer (never pickle), a deterministic
id (enqueueing the same step twice runs it once) and a Retry (a task cut off by a crash is
abandoned, and rq reruns only tasks that carry a Retry)."""

import redis
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

from batching import keys
from batching.tasks import SPLIT_BULK_JOB

SPLIT_RETRY_DELAYS_S = [1, 5, 15, 60, 300]


def bulk_queue(client: redis.Redis) -> Queue:
    return Queue(keys.BULK_QUEUE, connection=client, serializer=JSONSerializer)


def enqueue_split(client: redis.Redis, bulk_id: str, fed: int, task_s: float) -> str:
    """Queues the split of a bulk job from chunk `fed` on; returns the rq task id."""
    task_id = f"bulk-split-{bulk_id}-{fed}"
    if not Job.exists(task_id, connection=client):
        bulk_queue(client).enqueue(
            SPLIT_BULK_JOB,
            bulk_id,
            job_id=task_id,
            retry=Retry(len(SPLIT_RETRY_DELAYS_S), SPLIT_RETRY_DELAYS_S),
            job_timeout=int(3 * task_s) + 1,
            result_ttl=86_400,
            failure_ttl=7 * 86_400,
        )
    return task_id
