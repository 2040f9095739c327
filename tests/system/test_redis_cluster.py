"""maas on a real Redis Cluster: three masters started here (redis-server in cluster mode, joined
by `redis-cli --cluster create`), rq on a standalone Redis beside it (rq does not support
Cluster). API, batch workers and rq worker are real processes. The core path, a webhook, a bulk
job and a worker SIGKILLed mid-batch behave as on one Redis; a script or transaction spanning
slots would fail here (CROSSSLOT), and announcements are sharded (SPUBLISH)."""

import asyncio
import json
import shutil
from collections import Counter

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from batching import slot_tags
from batching.connection import connect
from batching.jobs.announcement import announced_ids
from batching.jobs.events import slot_channels
from maas.cli.redis_server import free_port
from tests.conftest import DIGITS
from tests.support import onnx_models
from tests.support.bulk_helpers import jsonl, output_lines, submit, wait_for_status
from tests.support.lane_holders import pending_of, signal_a_holder
from tests.support.redis_cluster import RedisCluster
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import LOCAL_RECEIVERS, SECRET, Receiver
from tests.worker.test_worker_faults import (
    HEAVY_LANE,
    HEAVY_WIDTH,
    MAX_BATCH,
    Feeder,
    computed_rows,
    final_jobs,
    heavy_expected,
    submit_all,
    wait_until_computed,
)

ROWS = np.random.default_rng(3).random((3, 64)).astype(np.float32)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with RedisCluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


@pytest.fixture
def model_repo(tmp_path):
    root = tmp_path / "models"
    shutil.copytree(DIGITS, root / "digits" / "1")
    heavy = {"max_batch_size": MAX_BATCH, "max_queue_delay_ms": 5, "onnxruntime": {"intra_op_num_threads": 1}}
    onnx_models.heavy(root / "heavy" / "1" / "model.onnx", width=HEAVY_WIDTH, config=heavy)
    return root


@pytest.fixture
def settings(cluster, model_repo, tmp_path):
    cluster.flush()
    return cluster.settings(
        model_repository=model_repo,
        state_dir=tmp_path / "state",
        port=free_port(),
        heartbeat_interval_s=0.2,
        visibility_timeout_s=1.5,
        max_deliveries=3,
        drain_timeout_s=10,
        **LOCAL_RECEIVERS,
    )


@pytest.fixture
async def redis(settings):
    client = connect(settings)
    yield client
    await client.aclose()


@pytest.fixture
async def api(settings, processes):
    await processes.ready("api")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}", timeout=60) as client:
        yield client


class ShardedEventCounter:
    """Counts the completion announcements of one slot's channels (SSUBSCRIBE on its node)."""

    def __init__(self, redis, lane: str):
        self.counts: Counter = Counter()
        self._redis = redis
        self._pubsub = redis.pubsub()
        self._channels = slot_channels(slot_tags.tag_of_key(lane))
        self._task: asyncio.Task | None = None

    async def __aenter__(self):
        await self._redis.initialize()  # the slot map, to route SSUBSCRIBE
        await self._pubsub.ssubscribe(*self._channels)
        self._task = asyncio.create_task(self._count())
        return self

    async def _count(self):
        while True:
            message = await self._pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                self.counts.update(announced_ids(message["data"]))

    async def __aexit__(self, *_):
        await asyncio.sleep(0.5)  # a duplicate announcement, were there one, has time to arrive
        self._task.cancel()
        await self._pubsub.aclose()


async def test_a_job_its_webhook_and_a_bulk_job_on_a_cluster(api, processes, settings):
    await processes.ready("worker")
    await processes.ready("rq-worker")
    receiver = Receiver(free_port(), [SECRET]).start()
    try:
        answer = await api.post(
            "/v1/jobs", json={"model": "digits", "inputs": ROWS.tolist()}, headers={"Prefer": "wait=30"}
        )
        assert answer.status_code == 200 and answer.json()["status"] == "succeeded", answer.text
        session = ort.InferenceSession(str(DIGITS / "model.onnx"), providers=["CPUExecutionProvider"])
        [expected] = session.run(None, {"pixels": ROWS})
        np.testing.assert_allclose(answer.json()["outputs"]["probabilities"], expected, rtol=1e-6, atol=1e-7)
        hook = {"url": f"http://127.0.0.1:{receiver.port}/hook"}
        hooked = await api.post(
            "/v1/jobs", json={"model": "digits", "inputs": ROWS[:1].tolist(), "webhook": hook}
        )
        assert hooked.status_code == 202, hooked.text
        job_id = hooked.json()["id"]
        await wait_until(lambda: [c for c in receiver.calls if c.body["id"] == job_id], 60, "the webhook")
        [call] = [c for c in receiver.calls if c.body["id"] == job_id]
        assert call.verified_with == [0] and call.body["status"] == "succeeded"
        lines = [{"id": f"r{i}", "inputs": {"pixels": [row]}} for i, row in enumerate(ROWS.tolist() * 20)]
        bulk = await submit(
            api, "rows.jsonl", jsonl(lines), model="digits", chunk_rows=16, webhook=json.dumps(hook)
        )
        done = await wait_for_status(api, bulk["id"], {"succeeded", "failed"})
        assert done["status"] == "succeeded" and done["counts"]["succeeded"] == 60, done
        assert [line["id"] for line in await output_lines(api, bulk["id"])] == [f"r{i}" for i in range(60)]
        await wait_until(lambda: [c for c in receiver.calls if c.body["id"] == bulk["id"]], 60, "its webhook")
    finally:
        receiver.stop()


async def test_sigkill_of_a_worker_mid_batch_loses_nothing_on_a_cluster(api, redis, processes, model_repo):
    rows = np.random.default_rng(1).standard_normal((1000, HEAVY_WIDTH)).astype(np.float32)
    spare = np.random.default_rng(11).standard_normal((20_000, HEAVY_WIDTH)).astype(np.float32)
    async with ShardedEventCounter(redis, HEAVY_LANE) as events:
        ids = await submit_all(api, "heavy", rows)  # in flight before the workers start
        started = [processes.start("worker"), processes.start("worker")]
        for worker in started:
            await worker.ready()
        for path in ("/metrics", "/v1/models/heavy", "/v1/admin/overview"):  # every live worker's
            answer = await api.get(path)  # report is read: their keys are in several slots
            assert answer.status_code == 200, (path, answer.text[-2000:])
        await wait_until_computed(redis, 200)
        async with Feeder(api, "heavy", spare) as feeder:  # the lane never runs dry meanwhile
            victim = await signal_a_holder(redis, HEAVY_LANE, started, 9, timeout_s=120)  # SIGKILL
        assert await pending_of(redis, HEAVY_LANE, victim.pid) > 0  # it died holding entries
        ids += feeder.ids
        rows = np.concatenate([rows, spare[: len(feeder.ids)]])
        jobs = await final_jobs(api, ids, timeout_s=120)
        await wait_until(lambda: all(events.counts[i] for i in ids), 10, "every end announced")
    assert [job["status"] for job in jobs] == ["succeeded"] * len(rows)
    got = np.concatenate([np.asarray(job["outputs"]["y"], np.float32) for job in jobs])
    np.testing.assert_allclose(got, heavy_expected(model_repo, rows), rtol=1e-4, atol=1e-5)
    assert all(events.counts[job["id"]] == 1 for job in jobs)  # each ended exactly once
    assert await computed_rows(redis, "heavy") == len(rows)
    assert 0 < await computed_rows(redis, "heavy", "recomputed_rows") <= 4 * MAX_BATCH
