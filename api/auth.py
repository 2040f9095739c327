"""Who may manage models: holders of an admin token when tokens are configured (the token's name
is the audited actor); without tokens, anyone (the X-Actor header, else the client address), but
only while the API listens on a loopback address: on any other, management needs tokens."""

import hmac
import ipaddress

from fastapi import Request

from maas.core.errors import ForbiddenError, UnauthorizedError
from maas.core.settings import Settings


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def management_actor(request: Request, settings: Settings) -> str:
    admin_tokens = settings.admin_tokens
    if not admin_tokens:
        if not is_loopback(settings.host):
            raise ForbiddenError(
                f"model management without admin tokens is open only on a loopback address, and "
                f"the API listens on {settings.host}; set MAAS_ADMIN_TOKENS"
            )
        return request.headers.get("x-actor") or (request.client.host if request.client else "unknown")
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and presented:
        for name, token in admin_tokens.items():
            if hmac.compare_digest(presented.encode(), token.encode()):
                return name
    raise UnauthorizedError("model management needs `Authorization: Bearer <admin token>`")
