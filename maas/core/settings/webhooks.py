"""Webhook signing, the URLs allowed, and how deliveries are made and retried."""

import base64
import binascii

from pydantic import BaseModel, Field, field_validator

from maas.core.settings.fields import SECRET


class WebhookSettings(BaseModel):
    webhook_secrets: list[str] = Field(
        default_factory=list,
        repr=False,
        json_schema_extra=SECRET,
        description="Standard Webhooks signing secrets (`whsec_` + base64). Every delivery carries "
        "one signature per secret, so a secret is rotated by adding the new one, then removing the "
        "old. Empty: jobs with a webhook are refused.",
    )

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
