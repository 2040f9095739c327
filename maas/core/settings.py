"""The one settings object; every entry point builds it once and passes it down."""

import base64
import binascii
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from maas.core.access import parse_rate
from maas.core.errors import InvalidInputError
from maas.core.sealing import parse_ring

# Marks a field whose value is a secret: `maas config show` masks it; keep it out of logs.
SECRET: dict[str, Any] = {"secret": True}


def default_redis_maxmemory_mb() -> int:
    """A quarter of the memory this process may use (the cgroup limit where lower than the
    machine's), between 64 MiB and 4 GiB."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass  # no cgroup v2 limit readable: the machine's memory it is
    return int(min(4096, max(64, total // 4 // 2**20)))


def redacted_url(url: str | None) -> str | None:
    """The URL with its password (if any) replaced by ***."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


class TenantLimit(BaseModel):
    """One tenant's overrides of the tenant defaults (MAAS_TENANT_LIMITS)."""

    model_config = ConfigDict(extra="forbid")

    max_queued_rows: int | None = Field(
        None, ge=0, description="Rows it may have queued across lanes; unset: the default. 0: no limit."
    )
    weight: float = Field(
        1.0,
        ge=0.01,
        le=1000,
        description="Its share of a contended lane's batches relative to other tenants' (default 1).",
    )


class Settings(BaseSettings):
    # hide_input_in_errors: a validation error names the field and the rule, never the value
    # (which may be a token or a secret).
    model_config = SettingsConfigDict(env_prefix="MAAS_", extra="forbid", hide_input_in_errors=True)

    redis_url: str | None = Field(
        None,
        repr=False,  # it may carry a password
        description="Redis to use, e.g. redis://host:6379/0. Unset: `maas serve` starts a local "
        "redis-server with its data under state_dir.",
    )
    state_dir: Path = Field(Path(".maas"), description="Directory for the embedded Redis's data and logs.")
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
    worker_preload: bool = Field(
        True,
        description="Load every servable version at start and as it appears (within the memory "
        "budget); false loads a version only when its first job arrives.",
    )
    worker_memory_budget_mb: float | None = Field(
        None,
        ge=0,
        description="Memory a worker's loaded models may take, MiB; past it, the least recently "
        "used idle model is unloaded, and a version whose load and warm-up alone need more is "
        "refused. Unset: 75% of the machine's memory, or of the container's (cgroup) limit if "
        "lower. 0: no limit (and no rehearsal of loads).",
    )
    model_rescan_s: float = Field(
        5.0,
        gt=0,
        description="Workers rescan the repository this often besides acting on change notices.",
    )
    admin_tokens: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        json_schema_extra=SECRET,
        description="Name -> token. When set, model management (upload, config, retire, aliases) "
        "needs `Authorization: Bearer <token>` and is audited under the name; unset, it is open "
        "to anyone who reaches the API, and only while the API listens on a loopback address.",
    )
    max_model_bytes: int = Field(
        1024 * 1024 * 1024, ge=1, description="Largest model file an upload may carry, bytes (422)."
    )
    drain_timeout_s: float = Field(
        25.0, description="On SIGTERM a worker finishes in-flight batches within this, seconds."
    )
    allow_plugin_runtimes: bool = Field(
        False,
        description="Let a model config name a Python class as its runtime (`module:Class`); "
        "off by default, since it runs code named by the model repository.",
    )
    webhook_secrets: list[str] = Field(
        default_factory=list,
        repr=False,
        json_schema_extra=SECRET,
        description="Standard Webhooks signing secrets (`whsec_` + base64). Every delivery carries "
        "one signature per secret, so a secret is rotated by adding the new one, then removing the "
        "old. Empty: jobs with a webhook are refused.",
    )
    webhook_allow_http: bool = Field(False, description="Allow http:// webhook URLs (not only https).")
    webhook_allowed_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs webhooks may reach although private/loopback, e.g. 127.0.0.0/8 in tests.",
    )
    webhook_allowed_hosts: list[str] = Field(
        default_factory=list, description="Host names webhooks may reach whatever they resolve to."
    )
    webhook_timeout_s: float = Field(10.0, description="Per-attempt timeout of a delivery, seconds.")
    webhook_retry_delays_s: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
        description="Waits before each retry, seconds (Svix's schedule: 8 attempts over ~28 h); "
        "each is spread by +-webhook_retry_jitter.",
    )
    webhook_retry_jitter: float = Field(0.2, ge=0, le=1, description="Fraction of random spread.")
    rq_abandoned_after_s: float = Field(
        60.0,
        description="An rq task whose worker stopped sending heartbeats this long ago is retried "
        "by another rq worker, seconds.",
    )
    access_log: bool = Field(
        False, description="One log line per HTTP request (costs a few % of API throughput)."
    )
    log_level: str = Field("INFO", description="Logging level of every maas process.")
    bulk_store_dir: Path | None = Field(
        None, description="Local directory of bulk jobs' files; unset: <state_dir>/bulk."
    )
    bulk_chunk_rows: int = Field(
        10_000, ge=1, le=1_000_000, description="Default rows (JSONL lines) per bulk chunk."
    )
    bulk_chunk_max_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="A bulk chunk holds fewer rows when they would take more than this, bytes "
        "(array data, or JSONL text), so that a worker's memory stays bounded whatever the rows.",
    )
    bulk_max_upload_bytes: int = Field(
        64 * 1024**3, ge=1, description="Largest bulk input file, bytes (413)."
    )
    bulk_input_dirs: list[Path] = Field(
        default_factory=list,
        description="Server-side directories whose files POST /v1/bulk-jobs may name by `path` "
        "instead of uploading them; empty: uploads only.",
    )
    bulk_retention_s: int = Field(
        7 * 86_400,
        ge=60,
        description="How long a bulk job's record stays readable after its submission, seconds.",
    )
    bulk_task_s: float = Field(
        20.0,
        gt=0,
        description="An rq split task works this long, then queues its continuation, seconds; its "
        "rq timeout is 3x this, so a split cut off by a crash is retried soon.",
    )
    webhook_concurrency: int = Field(
        16,
        ge=1,
        description="Webhook deliveries one rq-worker process makes at once (its delivery slots).",
    )
    webhook_per_destination: int = Field(
        4,
        ge=1,
        description="Of those, at most this many to one receiver (host:port), so that one that never "
        "answers cannot take every slot; its further deliveries wait (rescheduled a second later, "
        "no attempt counted).",
    )
    webhook_connect_timeout_s: float = Field(
        2.0,
        gt=0,
        description="Longest wait for a receiver to accept the TCP connection (per address), "
        "seconds; the whole attempt stays within webhook_timeout_s.",
    )
    webhook_redeliver_interval_s: float = Field(
        10.0,
        ge=0,
        description="A job's webhook may be redelivered once per this many seconds; a sooner "
        "POST .../webhook/redeliver gets 429 with Retry-After. 0: no limit.",
    )

    # --- Keys, tenants and quotas (issue 14) ---
    auth: Literal["keys", "off"] | None = Field(
        None,
        description="`keys`: every /v1 call needs `Authorization: Bearer <key>` (see `maas keys`). "
        "`off`: no keys; every caller is tenant `default`. Unset: off on a loopback host; any "
        "other host refuses to start until it is set.",
    )
    key_hash_secret: str | None = Field(
        None,
        repr=False,
        json_schema_extra=SECRET,
        min_length=32,
        description="Server secret keys are hashed with (HMAC-SHA256); every API process of a "
        "deployment needs the same one. Unset: generated once and kept in "
        "<state_dir>/key_hash_secret (fine for one host).",
    )
    key_cache_s: float = Field(
        0.5,
        gt=0,
        le=1.0,
        description="How long an API process trusts a key it looked up, seconds: a revoked or "
        "expired key stops working everywhere within this.",
    )
    key_last_used_interval_s: float = Field(
        60.0, ge=0, description="A key's last-used time is written at most this often, seconds."
    )
    key_rate: str = Field(
        "100/s",
        description="Requests a key may make unless it has its own `--rate`: COUNT/PERIOD (s, m, "
        "h, d; e.g. 50/s, 1000/m, 100/10s) as a token bucket; `0`: unlimited.",
    )
    tenant_max_active_bulk_jobs: int = Field(
        8,
        ge=0,
        description="Bulk jobs a tenant may have unfinished at once (more get 429); a key's "
        "--max-bulk-jobs overrides it. 0: no limit.",
    )
    tenant_max_active_bulk_jobs_by_tenant: dict[str, int] = Field(
        default_factory=dict,
        description='Per-tenant overrides of tenant_max_active_bulk_jobs, e.g. {"acme": 20}.',
    )

    # Model guard: uploads are validated, and worker loads rehearsed, in a child process with an
    # address-space, CPU-time and wall-clock limit (maas.models.sandbox).
    upload_validation_memory_mb: float = Field(
        1024,
        gt=0,
        description="Memory (address space) an upload's validation may add to its child "
        "process, MiB, plus 3x the file's size; a model that needs more is refused (422).",
    )
    upload_validation_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Longest an upload's validation may take, its child's start included, "
        "seconds; a model that needs longer is refused (422).",
    )
    worker_load_rehearsal_timeout_s: float = Field(
        300.0,
        gt=0,
        description="A worker rehearses each version's load and warm-up in a child process "
        "before loading it (CPU workers, with a memory budget); a version whose rehearsal takes "
        "longer than this is refused, seconds.",
    )

    @field_validator("key_rate")
    @classmethod
    def _rate_parses(cls, rate: str) -> str:
        try:
            parse_rate(rate)
        except InvalidInputError as e:
            raise ValueError(e.message) from e
        return rate

    # Limits on what one request may cost the others (issue 17): each is checked before the
    # expensive step it guards.
    json_offload_bytes: int = Field(
        1024 * 1024,
        ge=0,
        description="A job body larger than this is parsed (and its inputs turned into arrays) in "
        "a child process of the API, one body at a time, so that the API keeps answering (orjson "
        "and numpy hold the GIL while they build objects, in a thread too); bytes.",
    )
    max_metadata_bytes: int = Field(
        64 * 1024,
        ge=0,
        description="Largest `metadata` of a job or bulk job, as compact JSON, bytes (422); it is "
        "stored with the job for as long as the job is.",
    )
    max_echo_chars: int = Field(
        200,
        ge=16,
        description="Longest piece of a request (an id, a name, a list of names) an error message "
        "repeats back, characters; longer ones are cut with a note of how much was left out.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins (scheme://host[:port]) besides the API's own that may send "
        "state-changing requests (POST, PUT, PATCH, DELETE); a request with another `Origin`, or "
        "marked `Sec-Fetch-Site: cross-site`, gets 403.",
    )

    @field_validator("admin_tokens")
    @classmethod
    def _tokens_are_long(cls, tokens: dict[str, str]) -> dict[str, str]:
        short = [name for name, token in tokens.items() if len(token) < 16]
        if short:
            raise ValueError(f"admin tokens of {short} are shorter than 16 characters")
        return tokens

    @field_validator("data_keys")
    @classmethod
    def _data_keys_parse(cls, ring: str | None) -> str | None:
        if ring is not None:
            parse_ring(ring)  # ValueError names the entry, never its key
        return ring or None

    @field_validator("webhook_secrets")
    @classmethod
    def _secrets_are_standard(cls, secrets: list[str]) -> list[str]:
        for secret in secrets:
            try:
                key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
            except binascii.Error as e:
                raise ValueError("each webhook secret must be `whsec_` + base64") from e
            if not secret.startswith("whsec_") or len(key) < 24:
                raise ValueError("each webhook secret must be `whsec_` + base64 of 24+ bytes")
        return secrets

    # --- Reliability and security (issue 17): supervision, bounded Redis, TLS ---
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

    # --- Tenant quotas and fair share (issue 14) ---
    tenant_max_queued_rows: int = Field(
        100_000,
        ge=0,
        description="Rows one tenant may have queued across all online lanes (accepted, not yet "
        "finished); a submit past it gets 429 with Retry-After. 0: no limit. Per tenant: "
        "tenant_limits.",
    )
    tenant_limits: dict[str, TenantLimit] = Field(
        default_factory=dict,
        description='Per-tenant limits, JSON: {"acme": {"max_queued_rows": 5000, "weight": 2}}. '
        "weight: the tenant's share of a lane's batches while other tenants wait too (default 1).",
    )

    # --- Data at rest (issue 17) ---
    data_keys: str | None = Field(
        None,
        repr=False,
        json_schema_extra=SECRET,
        description="AES-256-GCM keys that seal job inputs, outputs and metadata in Redis and bulk "
        "files on disk: `id:base64,id:base64` (32-byte keys; ids of [A-Za-z0-9_.-]). The first "
        "seals, all open: rotate by putting a new key first, drop the old one once its data has "
        "expired. Every API, worker and rq-worker process needs the same ring. Unset: `maas serve` "
        "generates one into <state_dir>/data_keys; other entry points store data in the clear "
        "(with a warning at start). `clear`: no keys, even under `maas serve`.",
    )

    @model_validator(mode="after")
    def _tls_is_complete(self) -> "Settings":
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together")
        if self.tls_client_ca and not self.tls_cert:
            raise ValueError("tls_client_ca needs tls_cert and tls_key")
        if bool(self.redis_tls_cert) != bool(self.redis_tls_key):
            raise ValueError("redis_tls_cert and redis_tls_key go together")
        redis_tls = self.redis_tls_ca or self.redis_tls_cert
        if redis_tls and self.redis_url and not self.redis_url.startswith("rediss://"):
            raise ValueError("redis_tls_* need a rediss:// redis_url")
        return self
