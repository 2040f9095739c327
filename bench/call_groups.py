"""The client's CPU per script call sent alone (a pipeline each, as `lua.execute` sends it) and
through `batching.call_groups.CallGroups` (the calls made in one turn of the loop as one
pipeline), with the same concurrent callers, against a fresh redis-server, alternating.

    python bench/call_groups.py [--calls 5000] [--callers 32] [--rounds 3]
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from batching import lua
from batching.call_groups import CallGroups
from batching.connection import connect
from maas.cli.redis_server import RedisServer
from maas.core.settings import Settings

# About a submit's shape: a hash of ~20 fields written, its TTL set, a short reply.
WRITE = lua.Script(
    "bench_write",
    keys=("key",),
    args=("ttl",),
    rest="fields",
    body="redis.call('HSET', K.key, unpack(ARGV, REST)); redis.call('EXPIRE', K.key, A.ttl); return {1, 2}",
)
FIELDS = [item for i in range(20) for item in (f"field{i}", "x" * 16)]


async def alone(redis, call: lua.Call) -> None:
    await lua.execute(redis, lambda batch: batch.queue(call))


async def run(send, calls: int, callers: int) -> float:
    """CPU microseconds per call of `calls` calls made by `callers` concurrent callers."""
    gate = asyncio.Semaphore(callers)

    async def one(i: int) -> None:
        async with gate:
            await send(WRITE.call(key=f"k{i % 1000}", ttl=60, fields=FIELDS))

    started = time.process_time()
    await asyncio.gather(*(one(i) for i in range(calls)))
    return (time.process_time() - started) / calls * 1e6


async def measure(url: str, calls: int, callers: int, rounds: int) -> None:
    redis = connect(Settings(redis_url=url))
    groups = CallGroups(redis)
    await WRITE.load(redis)
    figures: dict[str, list[float]] = {"alone": [], "grouped": []}
    for _ in range(rounds):
        figures["alone"].append(await run(lambda call: alone(redis, call), calls, callers))
        figures["grouped"].append(await run(groups.run, calls, callers))
    await redis.aclose()
    alone_us, grouped_us = (statistics.median(figures[k]) for k in ("alone", "grouped"))
    print(f"{callers} callers, {calls} calls x {rounds} rounds, client CPU us per call (median):")
    print(f"  alone {alone_us:.1f}  grouped {grouped_us:.1f}  ({alone_us / grouped_us:.2f}x less)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="maas-call-groups-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            asyncio.run(measure(server.url, args.calls, args.callers, args.rounds))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
