"""A per-key request rate as a token bucket in Redis, shared by every API process.

The bucket holds up to `count` tokens and refills evenly at count/period; a request takes one
token or is refused with the wait until the next one. One script reads and writes the bucket
atomically against Redis's clock, so API processes with skewed clocks still share one bucket."""

import math
from dataclasses import dataclass

import redis.asyncio as aioredis

from batching import keys, lua
from maas.core.access import Rate

TAKE = lua.Script(
    "rate_take",
    keys=("bucket",),
    args=("capacity", "period_ms"),
    body="""
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local capacity = tonumber(A.capacity)
local per_ms = capacity / tonumber(A.period_ms)
local state = redis.call('HMGET', K.bucket, 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now_ms
tokens = math.min(capacity, tokens + math.max(0, now_ms - at) * per_ms)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', K.bucket, 'tokens', tostring(tokens), 'at', now_ms)
redis.call('PEXPIRE', K.bucket, tonumber(A.period_ms) * 2 + 1000)
local wait_ms = 0
if allowed == 0 then wait_ms = math.ceil((1 - tokens) / per_ms) end
local full_ms = math.ceil((capacity - tokens) / per_ms)
return {allowed, math.floor(tokens), wait_ms, full_ms}
""",
)


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_ms: int  # until the next token, when refused
    reset_ms: int  # until the bucket is full again

    def headers(self) -> dict[str, str]:
        """RateLimit-* (draft-ietf-httpapi-ratelimit-headers) and, when refused, Retry-After."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.ceil(self.reset_ms / 1000)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers

    @property
    def retry_after_s(self) -> int:
        return max(1, math.ceil(self.retry_after_ms / 1000))


class RateLimiter:
    def __init__(self, redis: aioredis.Redis):
        self.redis = redis

    async def take(self, key_id: str, rate: Rate) -> RateDecision:
        allowed, remaining, wait_ms, full_ms = await TAKE.run(
            self.redis, bucket=keys.rate_bucket(key_id), capacity=rate.count, period_ms=rate.period_s * 1000
        )
        return RateDecision(bool(allowed), rate.count, int(remaining), int(wait_ms), int(full_ms))
