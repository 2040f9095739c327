"""Every client the factory builds (async and sync) reaches the master through real sentinels
and follows it when the sentinels move it; the Sentinel settings are checked together."""

import pytest
from pydantic import ValidationError

from batching.connection import connect, connect_sync, where
from maas.core.settings import Settings
from tests.support.sentinel import MASTER, SentinelGroup
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def sentinels(tmp_path_factory):
    with SentinelGroup(tmp_path_factory.mktemp("sentinel")) as group:
        yield group


async def test_async_and_sync_clients_follow_the_master_the_sentinels_name(sentinels):
    settings = sentinels.settings()
    redis, sync = connect(settings), connect_sync(settings, socket_connect_timeout=1)
    try:
        await redis.set("before", "1")
        assert sync.get("before") == b"1"
        first = sentinels.master_port()
        with sentinels.client(sentinels.sentinel_ports[0]) as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", MASTER)  # a graceful switch
        await wait_until(lambda: sentinels.settled_on_new_master(first), 30, "the master moved")
        # (A graceful switch has a moment with two masters; wait until the old one follows.)
        await wait_until(lambda: sentinels.replica_link_up(first), 30, "the old master replicates")

        async def written() -> bool:
            try:
                await redis.set("after", "2")
                return True
            except Exception:  # noqa: BLE001 - READONLY or refused while the roles change
                return False

        await wait_until(written, 30, "the async client writes to the new master")
        assert sync.get("after") == b"2"
        assert (await redis.connection_pool.get_master_address())[1] == sentinels.master_port()
    finally:
        await redis.aclose()
        sync.close()


def test_sentinel_settings_go_together():
    with pytest.raises(ValidationError, match="redis_sentinel_master"):
        Settings(redis_url="redis://m/0", redis_sentinels=["127.0.0.1:26379"])
    with pytest.raises(ValidationError, match="host:port"):
        Settings(redis_url="redis://m/0", redis_sentinels=["nowhere"], redis_sentinel_master="m")


def test_logs_name_the_sentinels_not_the_password():
    settings = Settings(
        redis_url="redis://:hunter2@m/0", redis_sentinels=["s1:26379", "s2:26379"], redis_sentinel_master="m"
    )
    assert where(settings) == "master 'm' of sentinels s1:26379,s2:26379"
    assert "hunter2" not in repr(settings)


def test_cluster_settings_refuse_what_a_cluster_cannot_do():
    node = "redis://127.0.0.1:7000/0"
    with pytest.raises(ValidationError, match="rq_redis_url"):
        Settings(redis_url=node, redis_cluster=True)
    with pytest.raises(ValidationError, match="exclude each other"):
        Settings(
            redis_url=node,
            redis_cluster=True,
            rq_redis_url="redis://127.0.0.1:6379/0",
            redis_sentinels=["127.0.0.1:26379"],
            redis_sentinel_master="m",
        )
    with pytest.raises(ValidationError, match="redis_wait_replicas is not supported"):
        Settings(
            redis_url=node, redis_cluster=True, rq_redis_url="redis://127.0.0.1:6379/0", redis_wait_replicas=1
        )
    assert Settings(redis_url=node, redis_cluster=True, rq_redis_url="redis://127.0.0.1:6379/0").redis_cluster
