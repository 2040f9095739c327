"""Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` per secret."""

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret (Settings has checked its form)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature_header(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<signature>` per secret, space-separated, as receivers expect during rotation."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(secret_key(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets
    )
