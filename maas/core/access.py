"""Who is calling and what they may do: the scopes a key can hold, the caller a request resolves
to, and the small values keys carry (a request rate, a duration). Pure values: the API decides
who the caller is (api/auth.py), batching/tenancy stores the keys."""

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum

from maas.core.errors import InvalidInputError

TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DEFAULT_TENANT = "default"  # every caller's tenant while auth is off
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|m|h|d)\s*$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
# Counts in rates and durations: 999999d is 2,700 years; larger ones overflowed timestamps (a 500).
MAX_COUNT = 999_999
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Scope(StrEnum):
    JOBS_WRITE = "jobs:write"  # submit, cancel, webhook redeliver
    JOBS_READ = "jobs:read"  # read, long-poll, list
    BULK_WRITE = "bulk:write"  # submit, cancel
    BULK_READ = "bulk:read"  # read, list, output, errors
    MODELS_READ = "models:read"
    MODELS_ADMIN = "models:admin"  # upload, configure, retire, aliases; sees every model
    AUDIT_READ = "audit:read"  # the caller's tenant's audit entries
    KEYS_ADMIN = "keys:admin"  # create, list, revoke, rotate keys; reads every tenant's audit


ALL_SCOPES = frozenset(Scope)
# What an admin token (MAAS_ADMIN_TOKENS) may do once keys are on: manage, not submit.
MANAGEMENT_SCOPES = frozenset({Scope.MODELS_READ, Scope.MODELS_ADMIN, Scope.AUDIT_READ, Scope.KEYS_ADMIN})


class AuthMode(StrEnum):
    KEYS = "keys"
    OFF = "off"


@dataclass(frozen=True)
class Caller:
    """The tenant and key a request acts for. key_id is empty while auth is off."""

    tenant: str
    key_id: str
    key_name: str
    scopes: frozenset[Scope]
    max_queued_rows: int | None = None  # the key's own limits; None: the tenant's or the default
    max_bulk_jobs: int | None = None

    def may_use(self, access: list[str] | None) -> bool:
        """Whether a model version with this `access` list is visible to the caller: open to
        all (None), listed, or a model administrator's."""
        return access is None or self.tenant in access or Scope.MODELS_ADMIN in self.scopes

    @property
    def sees_all_tenants(self) -> bool:
        return Scope.KEYS_ADMIN in self.scopes


@dataclass(frozen=True)
class Rate:
    """`count` requests per `period_s` seconds: a bucket of `count` tokens refilled evenly."""

    count: int
    period_s: int

    def __str__(self) -> str:
        return f"{self.count}/{self.period_s}s"


def check_tenant(tenant: str) -> str:
    if not TENANT_PATTERN.match(tenant):
        raise InvalidInputError(
            "tenant: 1 to 63 of a-z, 0-9, '_' and '-', starting with a letter or digit", ("tenant",)
        )
    return tenant


def parse_scopes(text: str | list[str]) -> frozenset[Scope]:
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    unknown = [n for n in names if n not in {s.value for s in Scope}]
    if unknown or not names:
        known = ", ".join(s.value for s in Scope)
        raise InvalidInputError(f"scopes: unknown {unknown} (known: {known})", ("scopes",))
    return frozenset(Scope(n) for n in names)


def parse_rate(text: str) -> Rate | None:
    """`50/s`, `1000/m`, `100/10s`, `5000/h`, `0` or empty (None: unlimited)."""
    if text.strip() in ("", "0"):
        return None
    match = _RATE.match(text)
    if not match or not all(1 <= int(n or 1) <= MAX_COUNT for n in match.groups()[:2]):  # 5/0s: no period
        raise InvalidInputError(f"rate: {text!r} is not COUNT/PERIOD like 50/s, 1000/m or 100/10s", ("rate",))
    count, multiple, unit = match.groups()
    return Rate(int(count), int(multiple or 1) * _UNIT_S[unit])


def parse_duration_s(text: str) -> int:
    """`30d`, `12h`, `15m`, `90s` in seconds."""
    match = _DURATION.match(text)
    if not match or not 1 <= int(match.group(1)) <= MAX_COUNT:
        raise InvalidInputError(f"expires: {text!r} is not a duration like 30d, 12h or 15m", ("expires",))
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def auth_mode(auth: str | None, host: str) -> AuthMode:
    """The mode a process runs in: as set, else off on a loopback address. On any other address
    auth must be chosen explicitly (ValueError says why), so that a server is never exposed
    without keys by accident."""
    if auth is not None:
        return AuthMode(auth)
    if is_loopback(host):
        return AuthMode.OFF
    raise ValueError(
        f"refusing to serve on {host}, a non-loopback address, with no MAAS_AUTH: anyone who "
        "reaches it could submit jobs and manage models. Set MAAS_AUTH=keys (and create a key: "
        "`maas keys create --bootstrap --tenant ... --scopes ...`), or MAAS_AUTH=off to serve "
        "without keys on a network you trust"
    )
