"""Idempotency keys: the first request with a key reserves it for one job id and body fingerprint;
a retry with the same key and body gets that job back, with another body a clear refusal."""

import hashlib
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from batching import keys
from maas.core.errors import InvalidInputError

MAX_KEY_LENGTH = 255


def fingerprint(body: object) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def check_key(key: str) -> None:
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInputError(
            f"Idempotency-Key: 1 to {MAX_KEY_LENGTH} printable characters", ("header", "Idempotency-Key")
        )


@dataclass(frozen=True)
class Reservation:
    job_id: str
    replayed: bool  # True: an earlier request with this key and body created job_id


class IdempotencyKeys:
    def __init__(self, redis: aioredis.Redis, retention_s: int):
        self.redis = redis
        self.retention_s = retention_s

    async def reserve(self, tenant: str, key: str, body_fingerprint: str, job_id: str) -> Reservation:
        """Keys are the tenant's own: another tenant's identical key is another key."""
        value = f"{job_id}:{body_fingerprint}"
        name = keys.idempotency(tenant, key)
        if await self.redis.set(name, value, nx=True, ex=self.retention_s):
            return Reservation(job_id, replayed=False)
        stored = await self.redis.get(name)
        if stored is None:  # expired between the two calls: try once more
            return await self.reserve(tenant, key, body_fingerprint, job_id)
        stored_id, _, stored_fingerprint = stored.decode().partition(":")
        if stored_fingerprint != body_fingerprint:
            raise InvalidInputError(
                "Idempotency-Key was already used with a different request body",
                ("header", "Idempotency-Key"),
            )
        return Reservation(stored_id, replayed=True)

    async def release(self, tenant: str, key: str) -> None:
        """Frees a key whose request did not create its job, so a retry may."""
        await self.redis.delete(keys.idempotency(tenant, key))
