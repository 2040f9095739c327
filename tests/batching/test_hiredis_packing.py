"""Commands packed by hiredis are the bytes redis-py's Python packer makes, refuse what it
refuses, and every standalone and Sentinel client the factory builds packs that way."""

import pytest
import redis.asyncio as aioredis
import redis.asyncio.sentinel as aiosentinel
from redis.exceptions import DataError

from batching.connection import connect
from batching.hiredis_packing import HiredisPacking, packed_by_hiredis

COMMANDS = [
    ("SET", "k", "v"),
    ("HSET", "maas:job:{ab}:01J", "at", 1732.125, "rows", 64, "neg", -3, "big", 1e20, "one", 1.0),
    ("XADD", "s", "*", "inputs", b"\x00\xff" * 5000, "view", memoryview(b"abc"), "text", "é中"),
    ("CONFIG GET", "maxmemory"),  # a command name of two words is sent as two arguments
    ("EVALSHA", "a" * 40, 2, "k1", "k2", bytearray(b"xy"), 0.1),
]


def _joined(chunks) -> bytes:
    return b"".join(bytes(c) for c in chunks)


def test_the_bytes_are_those_of_redis_py_s_python_packer():
    python, hiredis = aioredis.Connection(), packed_by_hiredis(aioredis.Connection)()
    for command in COMMANDS:
        assert _joined(hiredis.pack_command(*command)) == _joined(python.pack_command(*command)), command
    assert _joined(hiredis.pack_commands(COMMANDS)) == _joined(python.pack_commands(COMMANDS))


@pytest.mark.parametrize("value", [None, True, object()])
def test_a_value_redis_cannot_take_is_refused_as_by_redis_py(value):
    python, hiredis = aioredis.Connection(), packed_by_hiredis(aioredis.Connection)()
    with pytest.raises(DataError):
        python.pack_command("SET", "k", value)
    with pytest.raises(DataError):
        hiredis.pack_command("SET", "k", value)


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("redis://127.0.0.1:1/0", aioredis.Connection),
        ("rediss://127.0.0.1:1/0", aioredis.SSLConnection),
        ("unix:///tmp/maas-none.sock", aioredis.UnixDomainSocketConnection),
    ],
)
def test_standalone_clients_keep_their_scheme_s_connection_class(settings, url, base):
    client = connect(settings.model_copy(update={"redis_url": url}))
    cls = client.connection_pool.connection_class
    assert issubclass(cls, base) and issubclass(cls, HiredisPacking)


def test_sentinel_clients_pack_with_hiredis(settings):
    sentinel = settings.model_copy(update={"redis_sentinels": ["127.0.0.1:1"], "redis_sentinel_master": "m"})
    cls = connect(sentinel).connection_pool.connection_class
    assert issubclass(cls, aiosentinel.SentinelManagedConnection) and issubclass(cls, HiredisPacking)


async def test_what_a_client_writes_reads_back_unchanged(settings, redis):
    client = connect(settings)
    try:
        fields = {"at": 1732.125, "rows": 64, "inputs": b"\x00\xff" * 5000, "text": "é中"}
        async with client.pipeline(transaction=False) as pipe:
            pipe.hset("h", mapping=fields)
            pipe.hgetall("h")
            _, stored = await pipe.execute()
        assert stored == {
            k.encode(): str(v).encode() if not isinstance(v, bytes) else v for k, v in fields.items()
        }
    finally:
        await client.aclose()
