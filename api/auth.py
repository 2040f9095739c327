"""Who may manage models: holders of an admin token when tokens are configured (the token's name
is the audited actor), anyone otherwise (the X-Actor header, else the client address)."""

import hmac

from fastapi import Request

from maas.core.errors import UnauthorizedError


def management_actor(request: Request, admin_tokens: dict[str, str]) -> str:
    if not admin_tokens:
        return request.headers.get("x-actor") or (request.client.host if request.client else "unknown")
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and presented:
        for name, token in admin_tokens.items():
            if hmac.compare_digest(presented.encode(), token.encode()):
                return name
    raise UnauthorizedError("model management needs `Authorization: Bearer <admin token>`")
