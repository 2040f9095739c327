"""The one way maas processes connect to Redis: a bounded pool that waits for a free connection
instead of failing under a burst, and fails fast (one quick retry) when Redis is down."""

import redis.asyncio as aioredis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

POOL_WAIT_S = 5.0


def connect(url: str, max_connections: int) -> aioredis.Redis:
    retry = Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1)
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=POOL_WAIT_S,
        socket_connect_timeout=1.0,
        socket_timeout=10.0,
        socket_keepalive=True,
        health_check_interval=30,
        retry=retry,
    )
    return aioredis.Redis(connection_pool=pool, retry=retry)
