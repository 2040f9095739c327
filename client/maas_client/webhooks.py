"""Verifying a maas webhook delivery where it is received: `verify(body, headers, secret)`.

A thin wrapper of the Standard Webhooks library (the `webhooks` extra: `pip install
'maas-client[webhooks]'`), which checks the `webhook-signature` HMAC and that
`webhook-timestamp` is within 5 minutes; this adds several secrets (a rotation) and our error."""

from collections.abc import Mapping, Sequence
from typing import Any

from maas_client.errors import InvalidSignature

try:
    import standardwebhooks
except ImportError:  # the `webhooks` extra is not installed; verify() says so
    standardwebhooks = None  # type: ignore[assignment]


def verify(body: bytes | str, headers: Mapping[str, str], secret: str | Sequence[str]) -> dict[str, Any]:
    """The delivered job (its JSON, as `GET /v1/jobs/{id}` shows it) if `body` and `headers` are
    signed with `secret` (`whsec_...`, or a list: any one of them); else `InvalidSignature`.
    `body` must be the raw bytes received, not re-encoded JSON."""
    if standardwebhooks is None:
        raise ImportError(
            "maas_client.webhooks.verify needs standardwebhooks: pip install 'maas-client[webhooks]'"
        )
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise ValueError("verify: no secret given")
    plain_headers = {str(k): str(v) for k, v in headers.items()}
    reason = ""
    for each in secrets:
        try:
            return standardwebhooks.Webhook(each).verify(body, plain_headers)
        except standardwebhooks.WebhookVerificationError as e:
            reason = str(e)
    raise InvalidSignature(f"webhook delivery not verified: {reason}", code="invalid_signature")


class Webhooks:
    """`client.webhooks.verify(...)`: the same function, where a client is at hand."""

    verify = staticmethod(verify)
