"""Script calls made together go to Redis together (batching.call_groups): one pipeline on one
connection, each call with its own reply or error, a cancelled caller harming no neighbour."""

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from batching import lua
from batching.call_groups import MAX_CALLS, CallGroups

ECHO = lua.Script(
    "echo_or_refuse",
    keys=("key",),
    args=("value",),
    body="""
if A.value == 'bad' then return redis.error_reply('refused ' .. K.key) end
redis.call('SET', K.key, A.value)
return A.value
""",
)


async def _clients_named(redis, name: str) -> int:
    return sum(1 for client in await redis.client_list() if client["name"] == name)


async def test_calls_made_together_share_one_connection_and_keep_their_own_replies(redis, redis_server):
    grouped = aioredis.from_url(redis_server.url, client_name="grouped")
    try:
        groups = CallGroups(grouped)
        calls = [ECHO.call(key=f"k{i}", value=f"v{i}") for i in range(50)]
        replies = await asyncio.gather(*(groups.run(call) for call in calls))
        assert replies == [(f"v{i}".encode(), None) for i in range(50)]
        # Fifty callers at once, one pipeline: the client never needed a second connection.
        assert await _clients_named(redis, "grouped") == 1
        assert await redis.get("k49") == b"v49"
    finally:
        await grouped.aclose()


async def test_one_call_refused_leaves_its_neighbours_answered(redis):
    groups = CallGroups(redis)
    outcomes = await asyncio.gather(
        groups.run(ECHO.call(key="a", value="1")),
        groups.run(ECHO.call(key="b", value="bad")),
        groups.run(ECHO.call(key="c", value="3")),
        return_exceptions=True,
    )
    assert outcomes[0] == (b"1", None) and outcomes[2] == (b"3", None)
    assert isinstance(outcomes[1], ResponseError) and "refused b" in str(outcomes[1])
    assert await redis.mget("a", "b", "c") == [b"1", None, b"3"]


async def test_scripts_redis_forgot_are_loaded_and_each_call_runs_once(redis):
    await redis.script_flush()
    groups = CallGroups(redis)
    counter = lua.Script("count", keys=("key",), args=(), body="return redis.call('INCR', K.key)")
    replies = await asyncio.gather(*(groups.run(counter.call(key="n")) for _ in range(10)))
    assert sorted(reply for reply, _ in replies) == list(range(1, 11))
    assert await redis.get("n") == b"10"


async def test_a_cancelled_caller_neither_cancels_its_neighbours_nor_unsends_its_call(redis):
    groups = CallGroups(redis)
    first = asyncio.create_task(groups.run(ECHO.call(key="gone", value="sent")))
    second = asyncio.create_task(groups.run(ECHO.call(key="kept", value="ok")))
    await asyncio.sleep(0)  # both calls are in the group now
    first.cancel()
    assert await second == (b"ok", None)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await redis.get("gone") == b"sent"


async def test_more_calls_than_a_group_holds_go_in_several_groups_all_answered(redis):
    groups = CallGroups(redis)
    count = 2 * MAX_CALLS + 5
    replies = await asyncio.gather(*(groups.run(ECHO.call(key=f"m{i}", value=str(i))) for i in range(count)))
    assert [int(reply) for reply, _ in replies] == list(range(count))


async def test_with_wait_every_call_gets_the_groups_replica_count(redis):
    groups = CallGroups(redis, wait=(1, 10))  # this Redis has no replica: WAIT answers 0
    replies = await asyncio.gather(*(groups.run(ECHO.call(key=f"w{i}", value="x")) for i in range(3)))
    assert replies == [(b"x", 0)] * 3


async def test_redis_unreachable_fails_every_call_of_the_group_as_a_connection_error():
    down = aioredis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.5)
    try:
        groups = CallGroups(down)
        outcomes = await asyncio.gather(
            *(groups.run(ECHO.call(key=f"d{i}", value="x")) for i in range(3)), return_exceptions=True
        )
        assert all(isinstance(outcome, RedisConnectionError) for outcome in outcomes)
    finally:
        await down.aclose()
