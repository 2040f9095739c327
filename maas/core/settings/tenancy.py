"""Keys, tenants and their quotas."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from maas.core.access import parse_rate
from maas.core.errors import InvalidInputError
from maas.core.settings.fields import SECRET


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


class TenancySettings(BaseModel):
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

    @field_validator("key_rate")
    @classmethod
    def _rate_parses(cls, rate: str) -> str:
        try:
            parse_rate(rate)
        except InvalidInputError as e:
            raise ValueError(e.message) from e
        return rate

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
