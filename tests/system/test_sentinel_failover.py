"""Redis high availability: maas (API, batch worker, rq worker as real processes) on a primary,
two replicas and three sentinels. The primary is SIGKILLed under a steady load of jobs; the
sentinels promote a replica and the service recovers by itself: the API answers 503 only while
there is no master, workers and the API's completion listener reconnect, the rq worker delivers
webhooks again, and with MAAS_REDIS_WAIT_REPLICAS=1 every job answered 202 succeeds."""

import asyncio
import functools
import time
from dataclasses import dataclass, field

import httpx
import pytest

from maas.cli.redis_server import free_port
from maas.core.settings import Settings
from tests.support.processes import MaasProcesses
from tests.support.sentinel import SentinelGroup
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import LOCAL_RECEIVERS, SECRET, Receiver

ROW = [1.0] * 64
JOB = {"model": "digits", "version": 1, "inputs": [ROW]}
# Generous on a loaded 2-core machine: a failover takes ~2-5 s here (down-after 1 s + election).
FAILOVER_TIMEOUT_S = 60
JOBS_BEFORE, JOBS_AFTER = 30, 30


@dataclass
class Load:
    """A steady stream of single-row jobs, one at a time, with what each submit was answered."""

    client: httpx.AsyncClient
    accepted: list[str] = field(default_factory=list)
    answers: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, status)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while not self.stopping.is_set():
            try:
                response = await self.client.post("/v1/jobs", json=JOB)
                status = response.status_code
            except httpx.HTTPError:
                status = 0  # no answer at all: counted, and the test fails on it below
            self.answers.append((time.monotonic(), status))
            if status == 202:
                self.accepted.append(response.json()["id"])
            await asyncio.sleep(0.05 if status == 202 else 0.2)

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> set[int]:
        return {status for at, status in self.answers if since <= at < until}


@pytest.fixture
def sentinels(tmp_path):
    with SentinelGroup(tmp_path / "redis", replicas=2) as group:
        yield group


async def final_states(client: httpx.AsyncClient, job_ids: list[str], timeout_s: float) -> list[str]:
    deadline = time.monotonic() + timeout_s
    states = []
    for job_id in job_ids:
        wait_s = max(0.1, min(20.0, deadline - time.monotonic()))
        states.append((await client.get(f"/v1/jobs/{job_id}", params={"wait": wait_s})).json()["status"])
    return states


def ha_settings(sentinels: SentinelGroup, model_repo, tmp_path) -> Settings:
    return sentinels.settings(
        model_repository=model_repo,
        state_dir=tmp_path / "state",
        port=free_port(),
        heartbeat_interval_s=0.5,
        visibility_timeout_s=3,
        drain_timeout_s=5,
        redis_wait_replicas=1,
        redis_wait_timeout_ms=2000,
        **LOCAL_RECEIVERS,
    )


async def kill_the_primary_under(load: Load, streaming: asyncio.Task, sentinels: SentinelGroup):
    """Kills the primary once jobs flow; returns when it was killed and when a new master was
    settled, once jobs flow again."""
    await wait_until(lambda: streaming.done() or len(load.accepted) >= JOBS_BEFORE, 60, "jobs before")
    old = sentinels.master_port()
    killed_at = time.monotonic()
    sentinels.kill("primary")
    settled = functools.partial(sentinels.settled_on_new_master, old)
    await asyncio.to_thread(sentinels.wait, settled, FAILOVER_TIMEOUT_S, "a new master")
    settled_at, at_failover = time.monotonic(), len(load.accepted)
    await wait_until(
        lambda: streaming.done() or len(load.accepted) >= at_failover + JOBS_AFTER,
        FAILOVER_TIMEOUT_S,
        "jobs accepted after the failover",
    )
    return killed_at, settled_at


async def test_a_killed_primary_fails_over_and_no_acknowledged_job_is_lost(sentinels, model_repo, tmp_path):
    settings = ha_settings(sentinels, model_repo, tmp_path)
    receiver = Receiver(free_port(), [SECRET]).start()
    with MaasProcesses(settings, tmp_path) as maas:
        processes = [await maas.ready(role) for role in ("api", "worker", "rq-worker")]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}", timeout=30) as client:
            load = Load(client)
            streaming = asyncio.create_task(load.run())
            killed_at, settled_at = await kill_the_primary_under(load, streaming, sentinels)
            # The completion listener and the rq worker reconnected: a job submitted now is
            # answered with its result at once, and its webhook arrives.
            hooked = {**JOB, "webhook": {"url": f"http://127.0.0.1:{receiver.port}/hook"}}
            answer = await client.post("/v1/jobs", json=hooked, headers={"Prefer": "wait=20"})
            load.stopping.set()
            await streaming
            states = await final_states(client, load.accepted, 90)
        await wait_until(lambda: receiver.calls, 60, "the webhook of a job submitted after the failover")
        alive = [p.role for p in processes if p.alive()]
    receiver.stop()
    print(f"accepted {len(load.accepted)}; failover {settled_at - killed_at:.1f} s; {load.statuses()}")
    assert alive == ["api", "worker", "rq-worker"]  # nothing restarted: each reconnected by itself
    assert load.statuses(until=killed_at) == {202}
    assert load.statuses() <= {202, 503}  # never a 500, never a hang without an answer
    assert 503 in load.statuses(since=killed_at)  # the failover was seen, and answered 503
    # 503 only around the failover (and the replica's resync after it): by the end of the load
    # the service answers 202 again by itself. Ordering, not a time bound: a loaded machine
    # stretches the resync.
    assert [status for _, status in load.answers[-5:]] == [202] * 5, load.answers[-10:]
    assert answer.status_code == 200 and answer.json()["status"] == "succeeded", answer.text
    assert states == ["succeeded"] * len(load.accepted)
