"""The stored API key record (a Redis hash) and the key as the admin API shows it."""

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from batching.jobs.view import iso
from maas.core.access import Scope, parse_scopes


class KeyState(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class KeyRecord:
    id: str
    tenant: str
    name: str
    scopes: frozenset[Scope]
    digest: str  # HMAC-SHA256 of the token under the server's key hash secret
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    rate: str | None = None  # COUNT/PERIOD; None: the server's MAAS_KEY_RATE; "0": unlimited
    max_queued_rows: int | None = None  # the tenant's queued-row cap while this key submits
    max_bulk_jobs: int | None = None  # the tenant's concurrent bulk job cap for this key
    last_used_at: float | None = None
    rotated_to: str | None = None  # the key that replaced this one

    def state(self, now: float) -> KeyState:
        if self.revoked_at is not None and self.revoked_at <= now:
            return KeyState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return KeyState.EXPIRED
        return KeyState.ACTIVE

    def revoked(self, at: float) -> "KeyRecord":
        return replace(self, revoked_at=at)

    def to_fields(self) -> dict[str, str]:
        fields = {
            "id": self.id,
            "tenant": self.tenant,
            "name": self.name,
            "scopes": ",".join(sorted(self.scopes)),
            "digest": self.digest,
            "created_at": repr(self.created_at),
        }
        optional = {
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "rate": self.rate,
            "max_queued_rows": self.max_queued_rows,
            "max_bulk_jobs": self.max_bulk_jobs,
            "last_used_at": self.last_used_at,
            "rotated_to": self.rotated_to,
        }
        fields.update(
            {k: repr(v) if isinstance(v, float) else str(v) for k, v in optional.items() if v is not None}
        )
        return fields

    @classmethod
    def from_fields(cls, raw: dict[bytes, bytes]) -> "KeyRecord":
        f = {k.decode(): v.decode() for k, v in raw.items()}

        def opt(name: str, kind: type) -> Any:
            return kind(f[name]) if f.get(name) else None

        return cls(
            id=f["id"],
            tenant=f["tenant"],
            name=f["name"],
            scopes=parse_scopes(f["scopes"]),
            digest=f["digest"],
            created_at=float(f["created_at"]),
            expires_at=opt("expires_at", float),
            revoked_at=opt("revoked_at", float),
            rate=opt("rate", str),
            max_queued_rows=opt("max_queued_rows", int),
            max_bulk_jobs=opt("max_bulk_jobs", int),
            last_used_at=opt("last_used_at", float),
            rotated_to=opt("rotated_to", str),
        )


def key_public(record: KeyRecord, now: float) -> dict[str, Any]:
    """What the admin API and `maas keys list` show: never the token, never its hash."""
    return {
        "id": record.id,
        "tenant": record.tenant,
        "name": record.name,
        "scopes": sorted(record.scopes),
        "state": record.state(now).value,
        "created_at": iso(record.created_at),
        "expires_at": iso(record.expires_at),
        "revoked_at": iso(record.revoked_at),
        "last_used_at": iso(record.last_used_at),
        "rate": record.rate,
        "max_queued_rows": record.max_queued_rows,
        "max_bulk_jobs": record.max_bulk_jobs,
        "rotated_to": record.rotated_to,
    }
