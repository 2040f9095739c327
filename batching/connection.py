"""The one way maas processes connect to Redis: a bounded pool that waits for a free connection
instead of failing under a burst, and fails fast (one quick retry) when Redis is down.

Every client (the API's, a batch worker's, the rq worker's sync one, the CLI's) is built here
from the Settings, so a rediss:// URL with an ACL user and password, the CA and client
certificate settings, and Sentinel apply to all of them alike. With `redis_sentinels`, a pool
asks the sentinels for the master's address whenever it opens a connection (never caches it
past a broken one): after a failover the first new connection lands on the new master, and a
connection to a demoted one is dropped on its READONLY reply (redis-py's Sentinel pool).

With `redis_cluster`, clients are redis-py's Cluster clients, seeded with redis_url's node; rq,
which does not support Cluster, gets its own Redis (`rq_settings`: rq_redis_url), and so may a
standalone or Sentinel deployment that sets rq_redis_url."""

import logging
import ssl

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel as aiosentinel
import redis.cluster
import redis.sentinel
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    RedisClusterException,
    RedisError,
    ResponseError,
)
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)

from batching.cluster_client import BoundedRedisCluster
from batching.hiredis_packing import packed_by_hiredis
from maas.core.errors import MaasError
from maas.core.settings import Settings, redacted_url

log = logging.getLogger(__name__)
POOL_WAIT_S = 5.0
# A reply slower than this is a dead connection; a blocking read must ask for less (MAX_BLOCK_S).
SOCKET_TIMEOUT_S = 10.0
_REFUSED_CREDENTIALS = ("WRONGPASS", "NOAUTH", "NOPERM")


# What a Redis raises when it cannot be reached: redis-py's errors, and on a Cluster those of the
# slot map (a slot no node covers while a master fails over: RedisClusterException, no
# RedisError). A loop that outlives a lost connection catches these.
UNREACHABLE = (RedisError, RedisClusterException)


class RedisSetupError(MaasError):
    """Redis refused this process's credentials or TLS setup: no retry will fix it."""

    code = "redis_setup"


def tls_options(settings: Settings) -> dict:
    """redis-py's ssl_* arguments for a rediss:// URL (the certificate is always verified)."""
    if not (settings.redis_url or "").startswith("rediss://"):
        return {}
    paths = {
        "ssl_ca_certs": settings.redis_tls_ca,
        "ssl_certfile": settings.redis_tls_cert,
        "ssl_keyfile": settings.redis_tls_key,
    }
    return {"ssl_cert_reqs": "required", **{k: str(v) for k, v in paths.items() if v}}


def rq_settings(settings: Settings) -> Settings:
    """The settings rq's clients are built from: rq_redis_url's standalone Redis when set, else
    the main Redis's (never a Cluster: the settings refuse a Cluster without rq_redis_url)."""
    if not settings.rq_redis_url:
        return settings
    return settings.model_copy(
        update={"redis_url": settings.rq_redis_url, "redis_cluster": False, "redis_sentinels": []}
    )


def where(settings: Settings) -> str:
    """What the logs may say about the Redis in use (no password)."""
    if settings.redis_cluster:
        return f"cluster seeded by {redacted_url(settings.redis_url)}"
    if settings.redis_sentinels:
        return f"master {settings.redis_sentinel_master!r} of sentinels {','.join(settings.redis_sentinels)}"
    return str(redacted_url(settings.redis_url))


def _sentinel_setup(settings: Settings) -> tuple[list[tuple[str, int]], dict, dict]:
    """The sentinels' addresses, the options to reach them, and the master's connection options
    (user, password, database, TLS) taken from redis_url, whose host is not used."""
    addresses = [(host, int(port)) for host, _, port in (a.rpartition(":") for a in settings.redis_sentinels)]
    url = redis.connection.parse_url(settings.redis_url or "redis://")
    master = {k: url[k] for k in ("username", "password", "db") if url.get(k) is not None}
    tls = tls_options(settings)
    if tls:
        master |= {"ssl": True, **tls}  # the Sentinel pool picks its SSL connection class on ssl
    reach: dict = {"socket_connect_timeout": 1.0, "socket_timeout": 2.0}
    if settings.redis_sentinel_username:
        reach["username"] = settings.redis_sentinel_username
    if settings.redis_sentinel_password:
        reach["password"] = settings.redis_sentinel_password
    if settings.redis_sentinel_tls:
        reach |= {"ssl": True, **(tls or {"ssl_cert_reqs": "required"})}
    return addresses, reach, master


class _BlockingSentinelPool(aiosentinel.SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """The Sentinel pool's master lookup with the bounded pool's wait for a free connection."""


def connect(settings: Settings, max_connections: int | None = None) -> aioredis.Redis:
    # One quick retry on a broken connection (a pooled one that died with a Redis restart), so a
    # request does not fail for a socket Redis closed while idle. Not on a timeout: a command
    # that timed out may have run, and repeating a write (an XADD) must not happen silently.
    # (The async client needs redis.asyncio's Retry: the sync one never awaits the call.)
    retry = Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1, supported_errors=(RedisConnectionError,))
    options = {
        "max_connections": max_connections or settings.redis_max_connections,
        "timeout": POOL_WAIT_S,
        "socket_connect_timeout": 1.0,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_keepalive": True,
        "health_check_interval": 30,
        "retry": retry,
    }
    if settings.redis_cluster:
        return _connect_cluster(settings, options)
    if settings.redis_sentinels:
        addresses, reach, master = _sentinel_setup(settings)
        sentinel = aiosentinel.Sentinel(addresses, sentinel_kwargs=reach)
        managed = (
            aiosentinel.SentinelManagedSSLConnection
            if master.get("ssl")
            else aiosentinel.SentinelManagedConnection
        )
        return sentinel.master_for(
            settings.redis_sentinel_master,
            connection_pool_class=_BlockingSentinelPool,
            connection_class=packed_by_hiredis(managed),
            **options,
            **master,
        )
    # As BlockingConnectionPool.from_url builds it (the URL's options win), with the connection
    # class its scheme picks (TCP, TLS, Unix socket) packing with hiredis.
    pool_options = {**options, **tls_options(settings), **parse_url(settings.redis_url)}
    by_scheme = pool_options.get("connection_class", aioredis.Connection)
    pool = aioredis.BlockingConnectionPool(
        **pool_options | {"connection_class": packed_by_hiredis(by_scheme)}
    )
    return aioredis.Redis(connection_pool=pool, retry=retry)


def _connect_cluster(settings: Settings, options: dict) -> aioredis.Redis:
    """The async Cluster client: a pool of max_connections per node, at most max_connections
    commands at once (the rest wait up to POOL_WAIT_S), the same timeouts and retry."""
    cluster_options = {k: v for k, v in options.items() if k != "timeout"} | {"wait_s": POOL_WAIT_S}
    client = BoundedRedisCluster.from_url(settings.redis_url, **cluster_options, **tls_options(settings))
    return client  # type: ignore[return-value]  # the same commands as a Redis, routed by slot


def connect_sync(settings: Settings, **options) -> redis.Redis:
    """A synchronous client (rq needs one, on rq_settings); `options` are redis-py's, e.g.
    socket timeouts."""
    if settings.redis_cluster:
        return redis.cluster.RedisCluster.from_url(settings.redis_url, **tls_options(settings), **options)  # type: ignore[return-value]
    if settings.redis_sentinels:
        addresses, reach, master = _sentinel_setup(settings)
        sentinel = redis.sentinel.Sentinel(addresses, sentinel_kwargs=reach)
        return sentinel.master_for(settings.redis_sentinel_master, **options, **master)
    return redis.Redis.from_url(settings.redis_url, **tls_options(settings), **options)


def check_setup(settings: Settings) -> None:
    """Pings Redis once at start. Refused credentials or a certificate that does not verify
    raise RedisSetupError with what to fix; Redis merely down is only logged (every client
    reconnects with backoff, and `maas serve` may be restarting it)."""
    at = where(settings)
    client = connect_sync(settings, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except (AuthenticationError, AuthenticationWrongNumberOfArgsError) as e:
        raise RedisSetupError(f"Redis at {at} refused the user and password: {e}") from e
    except ResponseError as e:
        if not str(e).startswith(_REFUSED_CREDENTIALS):
            raise
        raise RedisSetupError(f"Redis at {at} refused the user and password: {e}") from e
    except redis.ConnectionError as e:
        if isinstance(e.__context__, ssl.SSLError):
            raise RedisSetupError(f"TLS with Redis at {at} failed: {e}") from e
        log.warning("Redis at %s is not reachable yet (%s); carrying on", at, e)
    finally:
        client.close()
