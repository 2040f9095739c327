"""Redis: where it is (one URL, Sentinel, or a Cluster), where rq's queues are, how every client
connects, how sure a 202 is."""

from pathlib import Path

from pydantic import BaseModel, Field, field_validator, model_validator

from maas.core.settings.fields import SECRET


class RedisSettings(BaseModel):
    redis_url: str | None = Field(
        None,
        repr=False,  # it may carry a password
        description="Redis to use, e.g. redis://host:6379/0 or rediss://user:password@host:6380/0 "
        "(ACL user and password in the URL). Unset: `maas serve` starts a local redis-server with "
        "its data under state_dir. With redis_sentinels, its scheme, user, password and database "
        "apply to the master the sentinels name, and its host is ignored (write the master name).",
    )

    redis_cluster: bool = Field(
        False,
        description="redis_url names one node of a Redis Cluster: clients learn the others from it "
        "and follow slot moves. Needs rq_redis_url (rq does not run on a Cluster).",
    )

    rq_redis_url: str | None = Field(
        None,
        repr=False,  # it may carry a password
        description="The Redis of rq's queues (webhook deliveries, bulk splits): a standalone Redis "
        "URL, TLS with the redis_tls_* files as for redis_url. Unset: the main Redis (redis_url, or "
        "the Sentinel master). Required with redis_cluster.",
    )

    redis_max_connections: int = Field(
        64, ge=2, description="Redis connections per process; more requests wait for one."
    )

    redis_sentinels: list[str] = Field(
        default_factory=list,
        description='Sentinel addresses as a JSON list, e.g. ["s1:26379","s2:26379","s3:26379"]; '
        "set: every client asks them for redis_sentinel_master's address and follows a failover.",
    )

    redis_sentinel_master: str | None = Field(
        None, description="Name of the master the sentinels watch (their `sentinel monitor` name)."
    )

    redis_sentinel_username: str | None = Field(
        None, description="ACL user for the sentinels themselves, where they require one."
    )

    redis_sentinel_password: str | None = Field(
        None,
        repr=False,
        json_schema_extra=SECRET,
        description="Password of the sentinels themselves (their requirepass), not of the master.",
    )

    redis_sentinel_tls: bool = Field(
        False, description="Speak TLS to the sentinels (with the redis_tls_* files), as to the master."
    )

    redis_wait_replicas: int = Field(
        0,
        ge=0,
        description="A submit waits (Redis WAIT) until this many replicas hold the job before the "
        "202; fewer within redis_wait_timeout_ms: 503 not_replicated (the job may still run: "
        "retry with the same Idempotency-Key). 0: answer once the primary has it.",
    )

    redis_wait_timeout_ms: int = Field(
        1000, ge=1, description="How long a submit waits for redis_wait_replicas, milliseconds."
    )

    redis_tls_ca: Path | None = Field(
        None,
        description="rediss:// only: PEM CA bundle that verifies the Redis server's certificate; "
        "unset: the system's CAs. Put the ACL user and password in the URL: "
        "rediss://user:password@host:port/0.",
    )

    redis_tls_cert: Path | None = Field(
        None, description="rediss:// only: PEM client certificate, where Redis requires one."
    )

    redis_tls_key: Path | None = Field(None, description="rediss:// only: PEM key of redis_tls_cert.")

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinels_are_addresses(cls, sentinels: list[str]) -> list[str]:
        for address in sentinels:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"redis_sentinels: {address!r} is not host:port")
        return sentinels

    @model_validator(mode="after")
    def _redis_is_complete(self) -> "RedisSettings":
        if bool(self.redis_tls_cert) != bool(self.redis_tls_key):
            raise ValueError("redis_tls_cert and redis_tls_key go together")
        redis_tls = self.redis_tls_ca or self.redis_tls_cert
        if redis_tls and self.redis_url and not self.redis_url.startswith("rediss://"):
            raise ValueError("redis_tls_* need a rediss:// redis_url")
        if self.redis_sentinels and not (self.redis_sentinel_master and self.redis_url):
            raise ValueError("redis_sentinels need redis_sentinel_master and redis_url")
        if self.redis_cluster:
            self._check_cluster()
        return self

    def _check_cluster(self) -> None:
        if not (self.redis_url and self.rq_redis_url):
            raise ValueError(
                "redis_cluster needs redis_url (a node) and rq_redis_url (rq cannot use a Cluster)"
            )
        if self.redis_sentinels:
            raise ValueError(
                "redis_cluster and redis_sentinels exclude each other (a Cluster fails over itself)"
            )
        if self.redis_wait_replicas:
            # WAIT counts one connection's writes on one node; a submit's pipeline spans nodes.
            raise ValueError("redis_wait_replicas is not supported with redis_cluster")
