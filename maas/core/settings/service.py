"""Processes, the embedded Redis and HTTPS: where things run (Redis clients: redis.py)."""

from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from maas.core.settings.fields import default_redis_maxmemory_mb


class ServiceSettings(BaseModel):
    state_dir: Path = Field(Path(".maas"), description="Directory for the embedded Redis's data and logs.")

    model_repository: Path = Field(
        Path("models"), description="Model repository: <name>/<version>/model.onnx (+config.json)."
    )

    host: str = Field("127.0.0.1", description="API bind address.")

    port: int = Field(8000, description="API port.")

    api_workers: int = Field(
        1,
        ge=1,
        description="API processes serving one port (`maas api --workers`, `maas serve "
        "--api-workers`): one uses one core; about one per core the workers leave free.",
    )

    redis_appendfsync: str = Field(
        "everysec",
        description="Embedded Redis only: AOF fsync policy, `everysec` (may lose the last ~1 s "
        "of accepted jobs on a machine crash) or `always` (a 202 means fsynced).",
    )

    access_log: bool = Field(
        False, description="One log line per HTTP request (costs a few % of API throughput)."
    )

    log_level: str = Field("INFO", description="Logging level of every maas process.")

    supervisor_max_restarts: int = Field(
        5,
        ge=0,
        description="`maas serve` restarts a child that died (Redis, API, worker, rq worker) at most "
        "this many times within supervisor_restart_window_s; one death more stops the rest and "
        "`maas serve` exits 1, for a process manager (systemd, Kubernetes) to act on.",
    )

    supervisor_restart_window_s: float = Field(
        300.0, gt=0, description="The window supervisor_max_restarts counts in, seconds."
    )

    supervisor_backoff_s: float = Field(
        0.5,
        gt=0,
        description="Wait before restarting a dead child, seconds; doubled for each earlier "
        "restart of it within the window, up to supervisor_backoff_max_s.",
    )

    supervisor_backoff_max_s: float = Field(30.0, gt=0, description="Longest restart wait, seconds.")

    embedded_redis_maxmemory_mb: int = Field(
        default_factory=default_redis_maxmemory_mb,
        ge=8,
        description="Embedded Redis only: its maxmemory, MiB (policy noeviction): past it new jobs "
        "are refused with 503 while accepted ones still finish. Default: a quarter of the "
        "machine's (or cgroup's) memory, 64 MiB to 4 GiB.",
    )

    tls_cert: Path | None = Field(
        None, description="PEM certificate (chain) the API serves HTTPS with; needs tls_key."
    )

    tls_key: Path | None = Field(None, description="PEM private key of tls_cert.")

    tls_client_ca: Path | None = Field(
        None,
        description="PEM CA bundle: when set, the API requires a client certificate it signed "
        "(mutual TLS) and refuses the handshake without one.",
    )

    @model_validator(mode="after")
    def _tls_is_complete(self) -> "ServiceSettings":
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together")
        if self.tls_client_ca and not self.tls_cert:
            raise ValueError("tls_client_ca needs tls_cert and tls_key")
        return self
