"""API keys in Redis: create (the token is returned once and never stored), read, list, revoke,
rotate, and the last-used time."""

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from batching import keys
from batching.tenancy import tokens
from batching.tenancy.record import KeyRecord, KeyState
from maas.core.access import Scope
from maas.core.errors import JobStateError, KeyNotFoundError


@dataclass(frozen=True)
class KeySpec:
    """What a new key may do; `expires_at` is epoch seconds."""

    tenant: str
    name: str
    scopes: frozenset[Scope]
    expires_at: float | None = None
    rate: str | None = None
    max_queued_rows: int | None = None
    max_bulk_jobs: int | None = None


class KeyStore:
    def __init__(self, redis: aioredis.Redis, secret: bytes):
        self.redis = redis
        self.secret = secret

    async def create(self, spec: KeySpec) -> tuple[KeyRecord, str]:
        """The new key's record and its token (shown once: only its hash is kept)."""
        key_id, token = tokens.new_token()
        record = KeyRecord(
            id=key_id,
            tenant=spec.tenant,
            name=spec.name or key_id,
            scopes=spec.scopes,
            digest=tokens.digest(self.secret, token),
            created_at=time.time(),
            expires_at=spec.expires_at,
            rate=spec.rate,
            max_queued_rows=spec.max_queued_rows,
            max_bulk_jobs=spec.max_bulk_jobs,
        )
        # No transaction: the key list lies in another hash slot (Redis Cluster); one round trip.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(keys.api_key(key_id), mapping=record.to_fields())
            pipe.zadd(keys.API_KEYS, {key_id: record.created_at})
            await pipe.execute()
        return record, token

    async def find(self, key_id: str) -> KeyRecord | None:
        raw = await self.redis.hgetall(keys.api_key(key_id))
        return KeyRecord.from_fields(raw) if raw else None

    async def get(self, key_id: str) -> KeyRecord:
        record = await self.find(key_id)
        if record is None:
            raise KeyNotFoundError(f"key {key_id!r} not found")
        return record

    async def list(self, tenant: str | None = None) -> list[KeyRecord]:
        """Every key (of `tenant` when given), newest first; revoked and expired ones too."""
        ids = await self.redis.zrevrange(keys.API_KEYS, 0, -1)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key_id in ids:
                pipe.hgetall(keys.api_key(key_id.decode()))
            raws = await pipe.execute()
        records = [KeyRecord.from_fields(raw) for raw in raws if raw]
        return [r for r in records if tenant is None or r.tenant == tenant]

    async def revoke(self, key_id: str, at: float | None = None) -> KeyRecord:
        """Revokes the key from `at` (default now); a revoked key stays revoked (first wins)."""
        record = await self.get(key_id)
        at = time.time() if at is None else at
        if record.revoked_at is not None and record.revoked_at <= at:
            return record
        await self.redis.hset(keys.api_key(key_id), "revoked_at", repr(at))
        return record.revoked(at)

    async def rotate(self, key_id: str, grace_s: float = 0.0) -> tuple[KeyRecord, str]:
        """A new key with the old one's tenant, scopes, limits and expiry; the old one is revoked
        after `grace_s`, so that clients can switch over."""
        old = await self.get(key_id)
        if old.state(time.time()) is not KeyState.ACTIVE:
            raise JobStateError(f"key {key_id} is {old.state(time.time())}; only an active key rotates")
        spec = KeySpec(
            old.tenant, old.name, old.scopes, old.expires_at, old.rate, old.max_queued_rows, old.max_bulk_jobs
        )
        new, token = await self.create(spec)
        await self.redis.hset(keys.api_key(key_id), "rotated_to", new.id)
        await self.revoke(key_id, time.time() + grace_s)
        return new, token

    async def touch(self, key_id: str, at: float) -> None:
        await self.redis.hset(keys.api_key(key_id), "last_used_at", repr(at))
