"""A wait for a batch to fill is one blocking read that ends on time: not at Redis' next cron
tick (hz), and without polling."""

import time

import pytest

from batching import keys
from batching.blocking_read import BlockingReads
from batching.fair_lane import FairLaneReader

LANE = keys.online_lane("digits", 1)


@pytest.fixture
async def slow_ticks(redis):
    """Redis with one cron tick a second: a read left to time out there would last ~1 s."""
    await redis.config_set("hz", 1)
    yield
    await redis.config_set("hz", 10)


async def xreadgroup_calls(redis) -> int:
    stats = await redis.info("commandstats")
    return stats.get("cmdstat_xreadgroup", {}).get("calls", 0)


async def test_a_short_wait_ends_on_time_not_on_the_redis_tick(redis, slow_ticks):
    reader = FairLaneReader(redis, LANE, "c1", 30)
    await reader.ensure_group()
    await redis.config_resetstat()
    started = time.monotonic()
    assert await reader.read(32, 0.05) == []
    waited_s = time.monotonic() - started
    assert 0.05 <= waited_s < 0.5  # a read left to Redis' own timeout would take ~1 s here
    # One read to top up the read-ahead, one blocking read: no polling in between.
    assert await xreadgroup_calls(redis) <= 2
    await reader.aclose()


async def test_an_unblock_never_ends_the_next_read(redis, slow_ticks):
    """The timer of a read answered early is cancelled; one that fired is awaited first."""
    await redis.xgroup_create("s", "g", id="0", mkstream=True)
    reads = BlockingReads(redis)
    for _ in range(3):
        started = time.monotonic()
        assert not await reads.xreadgroup("g", "c", {"s": ">"}, 1, 0.02)
        assert time.monotonic() - started >= 0.02
    await redis.xadd("s", {"k": "v"})
    [(_, [(_, fields)])] = await reads.xreadgroup("g", "c", {"s": ">"}, 1, 5.0)
    assert fields == {b"k": b"v"}
    await reads.aclose()
