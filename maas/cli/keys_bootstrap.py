"""`maas keys create --bootstrap`: the very first key, written straight into Redis (MAAS_REDIS_URL,
and the same MAAS_KEY_HASH_SECRET or state directory as the API). Loaded by name on use, so that
the other key commands, which go through the API, import no Redis or API service."""

import asyncio
import getpass
from typing import Any

from pydantic import ValidationError

from api.schemas_keys import KeyCreate
from api.services.audit_trail import AuditTrail
from api.services.keys import KeyService
from batching.connection import connect
from batching.tenancy.secret import key_hash_secret
from batching.tenancy.store import KeyStore
from maas.core.access import Caller
from maas.core.errors import MaasError
from maas.core.settings import Settings


async def _create(request: KeyCreate) -> dict:
    settings = Settings()
    if not settings.redis_url:
        raise MaasError("--bootstrap writes to Redis directly: set MAAS_REDIS_URL")
    redis = connect(settings)
    try:
        service = KeyService(KeyStore(redis, key_hash_secret(settings)), AuditTrail(redis))
        actor = Caller(request.tenant, "", f"bootstrap:{getpass.getuser()}", frozenset())
        return await service.create(actor, request)
    finally:
        await redis.aclose()


def create(fields: dict[str, Any]) -> dict:
    """The created key (shown once); MaasError says what was wrong."""
    try:
        request = KeyCreate(**fields)
    except ValidationError as e:
        raise MaasError(f"{e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}") from None
    return asyncio.run(_create(request))
