"""A worker's blocking lane read on a Redis Cluster whose master fails over: the read that was
blocked on the killed master fails, and the next reads find the lane on the promoted replica by
themselves (a real 3-master cluster with a replica each, tests/support/redis_cluster.py)."""

import asyncio

import pytest
from redis.exceptions import RedisError

from batching import keys
from batching.connection import connect
from batching.fair_lane import FairLaneReader
from tests.support.redis_cluster import RedisCluster
from tests.support.waiting import wait_until

LANE = keys.online_lane("digits", 1)
FAILOVER_TIMEOUT_S = 60


@pytest.fixture
def cluster(tmp_path):
    with RedisCluster(tmp_path / "redis", replicas=1) as started:
        yield started


async def test_a_read_blocked_on_a_killed_master_reads_from_its_promoted_replica(cluster):
    redis = connect(cluster.settings())
    reader = FairLaneReader(redis, LANE, "c1", 30)
    await reader.ensure_group()
    blocked = asyncio.create_task(reader.read(1, 20))  # waits on the lane's master
    await wait_until(lambda: _blocked_on(cluster, cluster.master_port_of_key(LANE)), 10, "a blocked read")
    old = cluster.kill_master_of(LANE)
    with pytest.raises(RedisError):
        await blocked
    await asyncio.to_thread(cluster.wait_failed_over, LANE, old, FAILOVER_TIMEOUT_S)

    async def reads_again() -> bool:
        try:
            await reader.ensure_group()  # as the lane loop does after an error
            return await reader.read(1, 0.2) == []
        except RedisError:
            return False

    await wait_until(reads_again, 30, "a read that reaches the promoted master")
    await redis.xadd(
        keys.lane_stream(LANE, keys.DEFAULT_TENANT), {"job": "j", "rows": 1, "t": 0, "inputs": b""}
    )
    read = await wait_until(lambda: reader.read(1, 1.0), 10, "the entry added after the failover")
    assert [entry.job_id for entry in read] == ["j"]
    await reader.aclose()
    await redis.aclose()


def _blocked_on(cluster: RedisCluster, port: int) -> bool:
    with cluster.client(port) as client:
        return any(c.get("cmd") == "xreadgroup" and "b" in c.get("flags", "") for c in client.client_list())
