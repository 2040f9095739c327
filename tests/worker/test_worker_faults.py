"""Worker processes that are killed, drained or crashed by an input lose no job (real processes,
real Redis, real onnxruntime)."""

import asyncio
import json
import shutil
import signal
import time
from collections import Counter

import numpy as np
import onnxruntime as ort
import pytest

from batching import keys
from batching.jobs.announcement import announced_ids
from batching.jobs.events import PATTERNS
from maas.core.settings import Settings
from tests.conftest import DIGITS
from tests.support import onnx_models
from tests.support.crash_runtime import MARKER
from tests.support.lane_holders import pending_of, signal_a_holder
from tests.support.waiting import wait_until

HEAVY_WIDTH = 512
MAX_BATCH = 32
HEAVY_LANE = keys.online_lane("heavy", 1)


@pytest.fixture
def model_repo(tmp_path):
    root = tmp_path / "models"
    onnx_models.heavy(
        root / "heavy" / "1" / "model.onnx",
        width=HEAVY_WIDTH,
        config={
            "max_batch_size": MAX_BATCH,
            "max_queue_delay_ms": 5,
            "onnxruntime": {"intra_op_num_threads": 1},
        },
    )
    shutil.copytree(DIGITS, root / "crashy" / "1")
    (root / "crashy" / "1" / "config.json").write_text(
        json.dumps({"runtime": "tests.support.crash_runtime:CrashOnMarker", "max_queue_delay_ms": 20})
    )
    return root


@pytest.fixture
def settings(redis_server, model_repo, tmp_path) -> Settings:
    return Settings(
        redis_url=redis_server.url,
        model_repository=model_repo,
        heartbeat_interval_s=0.2,
        visibility_timeout_s=1.5,
        max_deliveries=3,
        drain_timeout_s=10,
        allow_plugin_runtimes=True,
    )


class EventCounter:
    """Counts completion announcements per job id, to prove each job ends exactly once."""

    def __init__(self, redis):
        self.counts: Counter = Counter()
        self.expected: list[str] = []  # job ids whose announcement the exit waits for
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self._task: asyncio.Task | None = None

    async def __aenter__(self):
        await self._pubsub.psubscribe(*PATTERNS)
        self._task = asyncio.create_task(self._count())
        return self

    async def _count(self):
        async for message in self._pubsub.listen():
            self.counts.update(announced_ids(message["data"]))

    def _all_announced(self) -> bool:
        return all(self.counts[job_id] for job_id in self.expected)

    async def __aexit__(self, *_):
        await wait_until(self._all_announced, 10, "every expected job's completion is announced")
        await asyncio.sleep(0.2)  # and a duplicate announcement, were there one, has time to arrive
        self._task.cancel()
        await self._pubsub.aclose()


async def submit_all(api, model: str, rows: np.ndarray) -> list[str]:
    ids = []
    for start in range(0, len(rows), 100):
        responses = await asyncio.gather(
            *(
                api.post("/v1/jobs", json={"model": model, "inputs": [row.tolist()]})
                for row in rows[start : start + 100]
            )
        )
        bad = [r for r in responses if r.status_code != 202]
        assert not bad, (bad[0].status_code, bad[0].text) if bad else None
        ids += [r.json()["id"] for r in responses]
    return ids


class Feeder:
    """Submits `rows` a hundred at a time until the block ends (or they run out), so a lane
    stays busy for as long as a test needs without guessing how long that is. `ids` are the jobs
    it submitted, in the order of `rows`; the exit waits for the hundred under way."""

    def __init__(self, api, model: str, rows: np.ndarray):
        self.api, self.model, self.rows = api, model, rows
        self.ids: list[str] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def _feed(self) -> None:
        for start in range(0, len(self.rows), 100):
            if self._stop.is_set():
                return
            self.ids += await submit_all(self.api, self.model, self.rows[start : start + 100])

    async def __aenter__(self) -> "Feeder":
        self._task = asyncio.create_task(self._feed())
        return self

    async def __aexit__(self, *_) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task


async def final_jobs(api, ids: list[str], timeout_s: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    jobs = []
    for job_id in ids:
        remaining = max(0.1, deadline - time.monotonic())
        jobs.append((await api.get(f"/v1/jobs/{job_id}", params={"wait": remaining})).json())
    return jobs


async def computed_rows(redis, model: str, counter: str = "computed_rows") -> int:
    raw = await redis.hget(keys.lane_stats(keys.online_lane(model, 1)), counter)
    return int(raw or 0)


def heavy_expected(model_repo, rows: np.ndarray) -> np.ndarray:
    path = model_repo / "heavy" / "1" / "model.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": rows})[0]


async def wait_until_computed(redis, at_least: int, timeout_s: float = 30) -> None:
    async def computed() -> bool:
        return await computed_rows(redis, "heavy") >= at_least

    await wait_until(computed, timeout_s, f"workers computed {at_least} rows", 0.01)


async def test_sigkill_of_a_worker_mid_batch_loses_nothing(api, redis, processes, model_repo):
    rows = np.random.default_rng(1).standard_normal((2000, HEAVY_WIDTH)).astype(np.float32)
    spare = np.random.default_rng(11).standard_normal((20_000, HEAVY_WIDTH)).astype(np.float32)
    async with EventCounter(redis) as events:
        ids = await submit_all(api, "heavy", rows)  # 2,000 jobs in flight before workers start
        started = [processes.start("worker"), processes.start("worker")]
        for worker in started:  # on a loaded machine one may start long after the other
            await worker.ready()
        await wait_until_computed(redis, 300)
        # SIGKILL while it holds a batch: whichever holds entries, not the first started. Jobs
        # keep arriving meanwhile, so however long the search takes the lane never runs dry.
        async with Feeder(api, "heavy", spare) as feeder:
            victim = await signal_a_holder(redis, HEAVY_LANE, started, signal.SIGKILL, timeout_s=120)
        assert await pending_of(redis, HEAVY_LANE, victim.pid) > 0  # it died holding entries
        ids += feeder.ids
        rows = np.concatenate([rows, spare[: len(feeder.ids)]])
        events.expected = ids
        jobs = await final_jobs(api, ids, timeout_s=120)
    assert [job["status"] for job in jobs] == ["succeeded"] * len(rows)
    got = np.concatenate([np.asarray(job["outputs"]["y"], np.float32) for job in jobs])
    np.testing.assert_allclose(got, heavy_expected(model_repo, rows), rtol=1e-4, atol=1e-5)
    assert all(events.counts[job["id"]] == 1 for job in jobs)  # each ended exactly once
    assert await computed_rows(redis, "heavy") == len(rows)  # each row's result written once
    recomputed = await computed_rows(redis, "heavy", "recomputed_rows")
    print(f"rows run again after the SIGKILL (the dead worker's unacknowledged ones): {recomputed}")
    assert 0 < recomputed <= 4 * MAX_BATCH


async def test_sigterm_drains_a_worker_under_load_without_loss_or_recompute(api, redis, processes, settings):
    started = [processes.start("worker"), processes.start("worker")]
    for worker in started:
        await worker.ready()
    rows = np.random.default_rng(2).standard_normal((1000, HEAVY_WIDTH)).astype(np.float32)
    submitting = asyncio.create_task(submit_all(api, "heavy", rows))
    await wait_until_computed(redis, 200)
    # The one draining holds a batch then, so the drain has work to finish.
    draining = await signal_a_holder(redis, HEAVY_LANE, started, signal.SIGTERM)
    exit_code = await asyncio.to_thread(draining.process.wait, settings.drain_timeout_s)
    assert exit_code == 0
    jobs = await final_jobs(api, await submitting)
    assert [job["status"] for job in jobs] == ["succeeded"] * len(rows)
    assert await computed_rows(redis, "heavy") == len(rows)  # nothing computed twice


async def test_an_input_that_crashes_the_worker_is_dead_lettered_alone(api, redis, processes):
    good = np.random.default_rng(3).integers(0, 16, (20, 64)).astype(np.float32)
    bad = np.full((1, 64), MARKER, np.float32)
    rows = np.concatenate([good[:10], bad, good[10:]])
    ids = await submit_all(api, "crashy", rows)
    deadline = time.monotonic() + 60
    bad_job = {"status": "queued"}
    while bad_job["status"] not in ("failed", "succeeded") and time.monotonic() < deadline:
        worker = processes.start("worker")  # the test plays supervisor: restart it when it dies
        while worker.alive() and time.monotonic() < deadline:
            bad_job = (await api.get(f"/v1/jobs/{ids[10]}", params={"wait": 0.5})).json()
            if bad_job["status"] == "failed":
                break
    assert bad_job["status"] == "failed"
    assert bad_job["error"]["code"] == "dead_lettered"
    jobs = await final_jobs(api, ids)
    assert [job["status"] for job in jobs[:10] + jobs[11:]] == ["succeeded"] * 20
    dead = await redis.xrange(keys.dead_letters(keys.online_lane("crashy", 1)))
    assert [fields[b"job"].decode() for _, fields in dead] == [ids[10]]
    assert int(dead[0][1][b"deliveries"]) == 4  # max_deliveries (3) tries, then out
