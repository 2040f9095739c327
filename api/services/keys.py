"""API key management behind /v1/keys and `maas keys --bootstrap`, on plain values: every change
audited (without the key, which is shown once to whoever created it)."""

import time
from dataclasses import dataclass

from api.schemas_keys import KeyCreate
from api.services.audit_trail import AuditTrail
from batching.tenancy.record import key_public
from batching.tenancy.store import KeySpec, KeyStore
from maas.core.access import Caller, check_tenant, parse_duration_s, parse_rate, parse_scopes


def key_spec(request: KeyCreate) -> KeySpec:
    """The request checked: 422 naming the field for a bad tenant, scope, duration or rate."""
    if request.rate is not None:
        parse_rate(request.rate)
    expires_at = time.time() + parse_duration_s(request.expires) if request.expires else None
    return KeySpec(
        tenant=check_tenant(request.tenant),
        name=request.name,
        scopes=parse_scopes(request.scopes),
        expires_at=expires_at,
        rate=request.rate,
        max_queued_rows=request.max_queued_rows,
        max_bulk_jobs=request.max_bulk_jobs,
    )


@dataclass
class KeyService:
    store: KeyStore
    audit: AuditTrail

    async def create(self, caller: Caller, request: KeyCreate) -> dict:
        """The new key's public record with `key`, the token (shown once)."""
        record, token = await self.store.create(key_spec(request))
        public = key_public(record, time.time())
        await self.audit.record(caller, "key.create", record.id, None, public)
        return {**public, "key": token}

    async def list(self, tenant: str | None) -> list[dict]:
        now = time.time()
        return [key_public(r, now) for r in await self.store.list(tenant)]

    async def read(self, key_id: str) -> dict:
        return key_public(await self.store.get(key_id), time.time())

    async def revoke(self, caller: Caller, key_id: str) -> dict:
        public = key_public(await self.store.revoke(key_id), time.time())
        await self.audit.record(caller, "key.revoke", key_id, None, public)
        return public

    async def rotate(self, caller: Caller, key_id: str, grace: str | None) -> dict:
        """A new key like `key_id`; the old one works `grace` longer (default: not at all)."""
        record, token = await self.store.rotate(key_id, parse_duration_s(grace) if grace else 0)
        public = key_public(record, time.time())
        await self.audit.record(caller, "key.rotate", key_id, None, public)
        return {**public, "key": token}
