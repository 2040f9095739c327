"""API key tokens: `maas_sk_<id>_<secret>`. The id (64 random bits, hex) finds the record; the
secret (256 random bits) is checked against the record's HMAC-SHA256 of the whole token under
the server's key hash secret, in constant time. Only that hash is stored."""

import hashlib
import hmac
import re
import secrets

PREFIX = "maas_sk_"
_TOKEN = re.compile(r"^maas_sk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


def new_token() -> tuple[str, str]:
    """(key id, token) of a fresh key."""
    key_id = secrets.token_hex(8)
    return key_id, f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def key_id_of(token: str) -> str | None:
    """The id part of a well-formed token; None for anything else."""
    match = _TOKEN.match(token)
    return match.group(1) if match else None


def digest(secret: bytes, token: str) -> str:
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()


def matches(secret: bytes, token: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret, token), stored_digest)
