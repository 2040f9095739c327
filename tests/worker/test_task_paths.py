"""rq task paths: every one maas enqueues names a function, and a task queued under a path of
the previous release still runs on a real `maas rq-worker` process after an upgrade."""

import asyncio
import time

import pytest
import redis as sync_redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import import_attribute

from batching import keys, tasks
from maas.core.settings import Settings
from tests.support.processes import MaasProcess


@pytest.mark.parametrize("path", tasks.ALL)
def test_every_task_path_names_a_function(path):
    assert callable(import_attribute(path))


def test_every_legacy_path_maps_to_a_current_task():
    assert set(tasks.LEGACY_PATHS.values()) <= set(tasks.ALL)
    assert all(tasks.current_path(old) in tasks.ALL for old in tasks.LEGACY_PATHS)
    assert all(tasks.current_path(path) == path for path in tasks.ALL)


def wait_until_ended(job: Job, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while job.get_status(refresh=True) not in (JobStatus.FINISHED, JobStatus.FAILED):
        assert time.monotonic() < deadline, f"{job.id}: still {job.get_status()}"
        time.sleep(0.1)


async def test_tasks_queued_under_the_old_paths_run_after_an_upgrade(
    redis, redis_server, model_repo, tmp_path
):
    client = sync_redis.Redis.from_url(redis_server.url)
    webhooks = Queue(keys.WEBHOOK_QUEUE, connection=client, serializer=JSONSerializer)
    bulk = Queue(keys.BULK_QUEUE, connection=client, serializer=JSONSerializer)
    queued = [
        bulk.enqueue("worker.bulk_split.split", "gone-bulk-job"),
        webhooks.enqueue("worker.webhook_delivery.deliver", "gone-job"),
        webhooks.enqueue("worker.bulk_webhook.deliver", "gone-bulk-job"),
    ]
    settings = Settings(redis_url=redis_server.url, model_repository=model_repo, state_dir=tmp_path)
    process = MaasProcess("rq-worker", tmp_path / "rq-worker.log", settings).start()
    try:
        for job in queued:
            await asyncio.to_thread(wait_until_ended, job, 30)
    finally:
        process.stop()
    log = (tmp_path / "rq-worker.log").read_text()
    assert [job.get_status() for job in queued] == [JobStatus.FINISHED] * 3, log
    assert [job.return_value() for job in queued] == [
        "bulk job gone",
        "job gone (its result expired)",
        "bulk job gone (expired)",
    ]
