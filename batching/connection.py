"""The one way maas processes connect to Redis: a bounded pool that waits for a free connection
instead of failing under a burst, and fails fast (one quick retry) when Redis is down.

Every client (the API's, a batch worker's, the rq worker's sync one) is built here from the
Settings, so a rediss:// URL with an ACL user and password, and the CA and client certificate
settings, apply to all of them alike."""

import logging
import ssl

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    ResponseError,
)
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)

from maas.core.errors import MaasError
from maas.core.settings import Settings, redacted_url

log = logging.getLogger(__name__)
POOL_WAIT_S = 5.0
# A reply slower than this is a dead connection; a blocking read must ask for less (MAX_BLOCK_S).
SOCKET_TIMEOUT_S = 10.0
_REFUSED_CREDENTIALS = ("WRONGPASS", "NOAUTH", "NOPERM")


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


def connect(settings: Settings, max_connections: int | None = None) -> aioredis.Redis:
    # One quick retry on a broken connection (a pooled one that died with a Redis restart), so a
    # request does not fail for a socket Redis closed while idle. Not on a timeout: a command
    # that timed out may have run, and repeating a write (an XADD) must not happen silently.
    # (The async client needs redis.asyncio's Retry: the sync one never awaits the call.)
    retry = Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1, supported_errors=(RedisConnectionError,))
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=max_connections or settings.redis_max_connections,
        timeout=POOL_WAIT_S,
        socket_connect_timeout=1.0,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_keepalive=True,
        health_check_interval=30,
        retry=retry,
        **tls_options(settings),
    )
    return aioredis.Redis(connection_pool=pool, retry=retry)


def connect_sync(settings: Settings, **options) -> redis.Redis:
    """A synchronous client (rq needs one); `options` are redis-py's, e.g. socket timeouts."""
    return redis.Redis.from_url(settings.redis_url, **tls_options(settings), **options)


def check_setup(settings: Settings) -> None:
    """Pings Redis once at start. Refused credentials or a certificate that does not verify
    raise RedisSetupError with what to fix; Redis merely down is only logged (every client
    reconnects with backoff, and `maas serve` may be restarting it)."""
    where = redacted_url(settings.redis_url)
    client = connect_sync(settings, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except (AuthenticationError, AuthenticationWrongNumberOfArgsError) as e:
        raise RedisSetupError(f"Redis at {where} refused the user and password: {e}") from e
    except ResponseError as e:
        if not str(e).startswith(_REFUSED_CREDENTIALS):
            raise
        raise RedisSetupError(f"Redis at {where} refused the user and password: {e}") from e
    except redis.ConnectionError as e:
        if isinstance(e.__context__, ssl.SSLError):
            raise RedisSetupError(f"TLS with Redis at {where} failed: {e}") from e
        log.warning("Redis at %s is not reachable yet (%s); carrying on", where, e)
    finally:
        client.close()
