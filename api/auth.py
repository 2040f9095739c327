"""Who is calling: every /v1 route names the scope it needs (api/deps.py `requires`), and the
Authenticator turns the request into a Caller or refuses it.

- MAAS_AUTH=keys: `Authorization: Bearer maas_sk_...`, looked up by its id part (each lookup
  trusted for at most key_cache_s, so a revocation or expiry reaches every API process within
  it), checked against the stored HMAC in constant time. An admin token (MAAS_ADMIN_TOKENS) is
  accepted too, with management scopes only: the way to the first key over HTTP.
- MAAS_AUTH=off: every caller is tenant `default` with every scope, audited under X-Actor (else
  its address); management needs an admin token where MAAS_ADMIN_TOKENS is set.

401 for a missing, unknown, revoked or expired key, 403 for a missing scope, 429 past the key's
rate. No message repeats what was presented."""

import hmac
import logging
import time
from dataclasses import dataclass, field

from fastapi import Request

from batching.jobs.view import iso
from batching.tenancy import tokens
from batching.tenancy.rate import RateLimiter
from batching.tenancy.record import KeyRecord, KeyState
from batching.tenancy.store import KeyStore
from maas.core.access import (
    ALL_SCOPES,
    DEFAULT_TENANT,
    MANAGEMENT_SCOPES,
    AuthMode,
    Caller,
    Scope,
    is_loopback,
    parse_rate,
)
from maas.core.errors import ForbiddenError, RateLimitedError, UnauthorizedError
from maas.core.settings import Settings

log = logging.getLogger(__name__)
GUARDED_WHILE_OFF = frozenset({Scope.MODELS_ADMIN, Scope.KEYS_ADMIN})
MAX_CACHED = 10_000
NO_KEY = "this API needs a key: send `Authorization: Bearer <key>` (the CLI sends MAAS_API_KEY)"
BAD_KEY = "the key presented is not valid (malformed, unknown, or not this server's)"


def bearer(request: Request) -> str | None:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return presented.strip() or None


@dataclass
class KeyCache:
    """Key records by id, each trusted for `ttl_s` (unknown ids too, so a flood of made-up
    keys costs one lookup per id and interval)."""

    store: KeyStore
    ttl_s: float
    entries: dict[str, tuple[float, KeyRecord | None]] = field(default_factory=dict)

    async def lookup(self, key_id: str) -> KeyRecord | None:
        now = time.monotonic()
        hit = self.entries.get(key_id)
        if hit is not None and now < hit[0]:
            return hit[1]
        record = await self.store.find(key_id)
        if len(self.entries) >= MAX_CACHED:
            self.entries.clear()
        self.entries[key_id] = (now + self.ttl_s, record)
        return record


@dataclass
class Authenticator:
    settings: Settings
    mode: AuthMode
    cache: KeyCache
    limiter: RateLimiter
    last_touched: dict[str, float] = field(default_factory=dict)  # key id -> monotonic

    async def authorize(self, request: Request, scope: Scope) -> Caller:
        """The caller, if it may make a call needing `scope` now; raises 401, 403 or 429."""
        if self.mode is AuthMode.OFF:
            return self._open_caller(request, scope)
        caller, record = await self._key_caller(request)
        await self._take_rate(request, caller, record)
        if scope not in caller.scopes:
            have = ", ".join(sorted(caller.scopes))
            raise ForbiddenError(
                f"key {caller.key_name!r} lacks the scope {scope} this call needs (it has: {have})"
            )
        return caller

    def _open_caller(self, request: Request, scope: Scope) -> Caller:
        if (
            scope in GUARDED_WHILE_OFF
            and not self.settings.admin_tokens
            and not is_loopback(self.settings.host)
        ):
            raise ForbiddenError(
                f"model management without admin tokens is open only on a loopback address, and "
                f"the API listens on {self.settings.host}; set MAAS_ADMIN_TOKENS (or MAAS_AUTH=keys)"
            )
        if scope in GUARDED_WHILE_OFF and self.settings.admin_tokens:
            name = self._admin_token_name(bearer(request) or "")
            if name is None:
                raise UnauthorizedError("model management needs `Authorization: Bearer <admin token>`")
            return Caller(DEFAULT_TENANT, f"token:{name}", name, ALL_SCOPES)
        actor = request.headers.get("x-actor") or (request.client.host if request.client else "unknown")
        return Caller(DEFAULT_TENANT, "", actor, ALL_SCOPES)

    def _admin_token_name(self, presented: str) -> str | None:
        found = None
        for name, token in self.settings.admin_tokens.items():
            if hmac.compare_digest(presented.encode(), token.encode()):
                found = name
        return found

    async def _key_caller(self, request: Request) -> tuple[Caller, KeyRecord | None]:
        token = bearer(request)
        if token is None:
            raise UnauthorizedError(NO_KEY)
        key_id = tokens.key_id_of(token)
        if key_id is None:
            if (name := self._admin_token_name(token)) is not None:
                return Caller(DEFAULT_TENANT, f"token:{name}", name, MANAGEMENT_SCOPES), None
            raise UnauthorizedError(BAD_KEY)
        record = await self.cache.lookup(key_id)
        if record is None or not tokens.matches(self.cache.store.secret, token, record.digest):
            raise UnauthorizedError(BAD_KEY)
        now = time.time()
        state = record.state(now)
        if state is KeyState.REVOKED:
            raise UnauthorizedError(f"key {key_id} was revoked at {iso(record.revoked_at)}")
        if state is KeyState.EXPIRED:
            raise UnauthorizedError(f"key {key_id} expired at {iso(record.expires_at)}")
        await self._touch(key_id, now)
        caller = Caller(
            record.tenant, record.id, record.name, record.scopes, record.max_queued_rows, record.max_bulk_jobs
        )
        return caller, record

    async def _touch(self, key_id: str, now: float) -> None:
        """Writes the key's last-used time, at most once per key_last_used_interval_s."""
        last = self.last_touched.get(key_id)
        if last is not None and time.monotonic() - last < self.settings.key_last_used_interval_s:
            return
        if len(self.last_touched) >= MAX_CACHED:
            self.last_touched.clear()
        self.last_touched[key_id] = time.monotonic()
        await self.cache.store.touch(key_id, now)

    async def _take_rate(self, request: Request, caller: Caller, record: KeyRecord | None) -> None:
        rate = parse_rate(
            record.rate if record is not None and record.rate is not None else self.settings.key_rate
        )
        if rate is None:
            return
        decision = await self.limiter.take(caller.key_id, rate)
        request.state.rate_limit = decision  # api/observe.py writes it onto the response
        if not decision.allowed:
            raise RateLimitedError(
                f"key {caller.key_name!r} is over its rate of {rate.count} requests per "
                f"{rate.period_s} s; retry in {decision.retry_after_s} s",
                decision.retry_after_s,
            )
