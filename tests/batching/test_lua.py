"""The one way maas runs Lua: named KEYS and ARGV, EVALSHA, reloaded after Redis forgot it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from batching import lua
from batching.bulk.record import BULK_TERMINAL, BulkStatus
from batching.bulk.scripts import BULK_PRELUDE
from batching.jobs.record import TERMINAL, JobStatus
from batching.jobs.scripts import JOB_PRELUDE

REPO_ROOT = Path(__file__).resolve().parents[2]

# Adds `by` to the counter and appends the rest to the list: enough to see every name arrive.
ADD = lua.Script(
    "add",
    keys=("counter", "log"),
    args=("by",),
    rest="items",
    body="""
local total = redis.call('INCRBY', K.counter, A.by)
if #ARGV >= REST then redis.call('RPUSH', K.log, unpack(ARGV, REST)) end
return total
""",
)


# Sets each of the keys in the KEYS tail to `value`, and the named key to how many there were.
SET_ALL = lua.Script(
    "set_all",
    keys=("count",),
    rest_keys="targets",
    args=("value",),
    body="""
for i = KREST, #KEYS do redis.call('SET', KEYS[i], A.value) end
redis.call('SET', K.count, #KEYS - KREST + 1)
""",
)


async def test_a_keys_tail_arrives_after_the_named_keys(redis):
    await SET_ALL.run(redis, count="n", targets=["a", "b", "c"], value="v")
    assert await redis.mget("n", "a", "b", "c") == [b"3", b"v", b"v", b"v"]
    await SET_ALL.run(redis, count="n", value="w")  # an empty tail may be left out
    assert await redis.get("n") == b"0"
    with pytest.raises(TypeError, match="Lua script set_all: targets is None"):
        SET_ALL.call(count="n", targets=["a", None], value="v")
    with pytest.raises(TypeError, match=r"missing \['count'\].*rest_keys targets"):
        SET_ALL.call(targets=["a"], value="v")


async def test_a_script_runs_again_after_the_script_cache_is_flushed(redis):
    assert await ADD.run(redis, counter="c", log="l", by=2, items=["a"]) == 2
    await redis.script_flush()
    assert await ADD.run(redis, counter="c", log="l", by=3, items={"f": "v"}) == 5
    assert await redis.lrange("l", 0, -1) == [b"a", b"f", b"v"]


def test_a_script_runs_again_after_a_flush_on_a_synchronous_client(redis_server):
    client = sync_redis.Redis.from_url(redis_server.url)
    try:
        client.delete("sync")
        client.script_flush()
        assert ADD.run_sync(client, counter="sync", log="sync-log", by=4) == 4
        assert client.script_exists(ADD.sha) == [True]
    finally:
        client.close()


async def test_a_pipeline_reloads_its_scripts_and_runs_its_other_commands_once(redis):
    await ADD.run(redis, counter="c", log="l", by=1)  # loaded ...
    await redis.script_flush()  # ... and forgotten, as after a Redis restart

    def build(batch: lua.Batch):
        batch.pipe.incr("plain")
        batch.run(ADD, counter="c", log="l", by=10)
        batch.pipe.incr("plain")
        batch.run(ADD, counter="c", log="l", by=100, items=["x"])

    assert await lua.execute(redis, build) == [1, 11, 2, 111]
    assert await redis.get("plain") == b"2"  # not re-sent with the scripts
    assert await redis.lrange("l", 0, -1) == [b"x"]


async def test_a_pipeline_still_raises_a_script_error(redis):
    await redis.set("c", "not a number")
    with pytest.raises(aioredis.ResponseError, match="not an integer"):
        await lua.execute(redis, lambda batch: batch.run(ADD, counter="c", log="l", by=1))


@pytest.mark.parametrize(
    "named, problem",
    [
        ({"counter": "c", "by": 1}, r"missing \['log'\]"),
        ({"counter": "c", "log": "l", "by": 1, "bye": 2}, r"unknown \['bye'\]"),
        ({"counter": "c", "log": "l", "by": None}, "by is None"),
        ({"counter": "c", "log": "l", "by": 1, "items": [True]}, "items is True"),
    ],
)
async def test_wrong_names_or_values_fail_in_python_before_redis_is_touched(named, problem):
    nowhere = aioredis.Redis(port=1)  # nothing listens: touching Redis would be a ConnectionError
    with pytest.raises(TypeError, match=f"Lua script add: .*{problem}"):
        await ADD.run(nowhere, **named)
    with pytest.raises(TypeError, match=problem):
        await lua.execute(nowhere, lambda batch: batch.run(ADD, **named))
    await nowhere.aclose()


def test_names_must_be_distinct_identifiers():
    with pytest.raises(ValueError, match="distinct identifiers"):
        lua.Script("bad", keys=("job",), args=("job",), body="return 1")
    with pytest.raises(ValueError, match="distinct identifiers"):
        lua.Script("bad", keys=("a-b",), args=(), body="return 1")


@pytest.mark.parametrize(
    "prelude, states, terminal",
    [(JOB_PRELUDE, JobStatus, TERMINAL), (BULK_PRELUDE, BulkStatus, BULK_TERMINAL)],
    ids=["jobs", "bulk"],
)
async def test_lua_knows_the_terminal_states_the_enum_names(redis, prelude, states, terminal):
    probe = lua.Script(
        "probe", keys=(), args=("state",), prelude=prelude, body="return is_terminal(A.state) and 1 or 0"
    )
    for state in states:
        assert await probe.run(redis, state=state.value) == (state in terminal), state


def test_a_script_has_the_same_text_in_every_process():
    """Sets iterate in a per-process order; a script built from one would change sha per process."""
    code = "from batching.jobs import scripts as j; from batching.bulk import scripts as b; " + (
        "print([s.sha for s in (j.TRANSITION, j.CLAIM, j.ADMIT, j.ACK, b.TRANSITION, b.START)])"
    )
    shas = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(shas) == 1, shas
