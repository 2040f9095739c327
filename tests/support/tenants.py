"""Helpers of the key and tenant tests: settings with keys on, and keys made straight in Redis."""

import time

from batching.tenancy.store import KeySpec, KeyStore
from maas.core.access import ALL_SCOPES, DEFAULT_TENANT, Scope
from maas.core.settings import Settings

SECRET = "tenancy-tests-key-hash-secret-0123456789"
DATA_SCOPES = frozenset(
    {Scope.JOBS_WRITE, Scope.JOBS_READ, Scope.BULK_WRITE, Scope.BULK_READ, Scope.MODELS_READ}
)
ROW = [0.0] * 64


def keyed(settings: Settings, **changes) -> Settings:
    """The settings with MAAS_AUTH=keys and a fixed key hash secret."""
    return settings.model_copy(update={"auth": "keys", "key_hash_secret": SECRET, **changes})


async def make_key(
    redis,
    tenant: str = DEFAULT_TENANT,
    scopes: frozenset[Scope] = ALL_SCOPES,
    expires_in_s: float | None = None,
    **limits,
) -> str:
    """A new key's token, written as `maas keys create --bootstrap` writes it."""
    expires_at = time.time() + expires_in_s if expires_in_s is not None else None
    spec = KeySpec(tenant, f"{tenant}-key", frozenset(scopes), expires_at, **limits)
    _, token = await KeyStore(redis, SECRET.encode()).create(spec)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
