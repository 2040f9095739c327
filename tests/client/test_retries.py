"""The retry paths, against real processes (each test with `Client` and `AsyncClient`): a full
lane answers 429 until a worker drains it, Redis down answers 503 until it is back; a client
without retries raises the typed error, one with them ends with the job."""

import asyncio
import json

import pytest
from maas_client import QueueFull, Unavailable

from maas.cli.redis_server import RedisServer
from tests.client.conftest import (
    NO_RETRY,
    background,
    call,
    close,
    digits_copy,
    digits_rows,
    new_client,
    running_service,
)

STILL_RETRYING_S = 1.5  # the retrying submit is checked to be still waiting after this


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("client-retries")
    repo = root / "models"
    digits_copy(repo, "digits")
    digits_copy(repo, "tiny", json.dumps({"max_queue_rows": 1}))  # no worker until a test starts one
    with running_service(root, repo, worker_models="digits", rq_worker=False) as running:
        yield running


async def test_a_full_lane_answers_429_and_the_retried_submit_succeeds_once_drained(client, kind, service):
    row = digits_rows(1)
    first = await call(client.jobs.submit, "tiny", row)  # the lane's one row
    impatient = new_client(kind, service.url, retry=NO_RETRY)
    with pytest.raises(QueueFull) as full:
        await call(impatient.jobs.submit, "tiny", row)
    await close(impatient)
    assert full.value.status == 429 and full.value.retry_after == 1.0

    retried = background(client.jobs.submit, "tiny", row)
    await asyncio.sleep(STILL_RETRYING_S)
    assert not retried.done()  # refused, and retrying
    worker = service.processes.start("worker", "--models", "tiny")
    try:
        job = await asyncio.wait_for(retried, 60)
        assert (await call(job.result, timeout=30))["probabilities"].shape == (1, 10)
        assert (await call(first.result, timeout=30))["probabilities"].shape == (1, 10)
    finally:
        worker.stop()


async def test_redis_down_answers_503_and_the_retried_submit_succeeds_once_it_is_back(client, kind, service):
    first = service.redis[0]
    service.redis[-1].stop()
    impatient = new_client(kind, service.url, retry=NO_RETRY)
    with pytest.raises(Unavailable) as down:
        await call(impatient.jobs.submit, "digits", digits_rows(1))
    await close(impatient)
    assert down.value.status == 503 and down.value.code == "queue_unavailable"

    retried = background(client.jobs.submit, "digits", digits_rows(1))
    await asyncio.sleep(STILL_RETRYING_S)
    assert not retried.done()
    service.redis.append(RedisServer(first.data_dir, port=first.port, appendfsync="always"))
    service.redis[-1].start()
    job = await asyncio.wait_for(retried, 60)
    assert (await call(job.result, timeout=30))["probabilities"].shape == (1, 10)
