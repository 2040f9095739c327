"""Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` per secret."""

import base64
import hashlib
import hmac

from maas.errors import MaasError

SECRET_PREFIX = "whsec_"


class WebhookSecretError(MaasError):
    code = "invalid_webhook_secret"


def secret_key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError as e:
        raise WebhookSecretError("a webhook secret is not `whsec_` + base64") from e


def signature_header(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<signature>` per secret, space-separated, as receivers expect during rotation."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(secret_key(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets
    )
