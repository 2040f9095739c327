"""The one settings object; every entry point builds it once and passes it down."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAAS_", extra="forbid")

    redis_url: str | None = Field(
        None,
        description="Redis to use, e.g. redis://host:6379/0. Unset: `maas serve` starts a local "
        "redis-server with its data under state_dir.",
    )
    state_dir: Path = Field(
        Path(".maas"), description="Directory for the embedded Redis's data and logs."
    )
    model_repository: Path = Field(
        Path("models"), description="Model repository: <name>/<version>/model.onnx (+config.json)."
    )
    host: str = Field("127.0.0.1", description="API bind address.")
    port: int = Field(8000, description="API port.")
    redis_max_connections: int = Field(
        64, ge=2, description="Redis connections per process; more requests wait for one."
    )
    max_body_bytes: int = Field(16 * 1024 * 1024, description="Largest request body, bytes (413).")
    max_wait_s: float = Field(60.0, description="Longest long-poll / Prefer: wait, seconds.")
    result_ttl_s: int = Field(
        86_400, description="How long a finished job's record and result stay readable, seconds."
    )
    idempotency_retention_s: int = Field(
        86_400, description="How long an Idempotency-Key maps to its job, seconds."
    )
    max_queue_time_s: float = Field(
        3_600.0,
        description="Longest a job may wait in a lane before it expires, seconds; a job's "
        "timeout_s can only shorten it.",
    )
    visibility_timeout_s: float = Field(
        30.0,
        description="An entry a worker has held unacknowledged this long is claimed by another "
        "worker (the first one presumably died), seconds.",
    )
    max_deliveries: int = Field(
        5,
        description="An entry handed out this many times without finishing (its worker crashed "
        "or stalled each time) goes to the lane's dead-letter stream and its job fails.",
    )
    redis_appendfsync: str = Field(
        "everysec",
        description="Embedded Redis only: AOF fsync policy, `everysec` (may lose the last ~1 s "
        "of accepted jobs on a machine crash) or `always` (a 202 means fsynced).",
    )
    heartbeat_interval_s: float = Field(2.0, description="Worker heartbeat period, seconds.")
    worker_models: list[str] = Field(
        default_factory=list, description="Models a worker serves; empty means every model."
    )
    device: str = Field("cpu", description="Worker device: cpu or cuda.")
    drain_timeout_s: float = Field(
        25.0, description="On SIGTERM a worker finishes in-flight batches within this, seconds."
    )
    allow_plugin_runtimes: bool = Field(
        False,
        description="Let a model config name a Python class as its runtime (`module:Class`); "
        "off by default, since it runs code named by the model repository.",
    )
    access_log: bool = Field(
        False, description="One log line per HTTP request (costs a few % of API throughput)."
    )
    log_level: str = Field("INFO", description="Logging level of every maas process.")
