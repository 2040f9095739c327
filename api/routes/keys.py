"""/v1/keys: create, list, read, revoke and rotate API keys (scope keys:admin). Translates HTTP;
KeyService does the work."""

from typing import Any

from fastapi import APIRouter, Query

from api.deps import Keys, KeysAdmin
from api.schemas import ErrorBody
from api.schemas_keys import KeyCreate, KeyCreated, KeyList, KeyPublic, KeyRotate

router = APIRouter(prefix="/v1/keys", tags=["keys"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    422: {"model": ErrorBody},
}


@router.post("", response_model=KeyCreated, status_code=201, responses=_ERRORS)
async def create_key(body: KeyCreate, keys: Keys, caller: KeysAdmin) -> dict:
    """Creates a key; the answer carries it (`key`) this once."""
    return await keys.create(caller, body)


@router.get("", response_model=KeyList, responses=_ERRORS)
async def list_keys(
    keys: Keys, caller: KeysAdmin, tenant: str | None = Query(None, description="Only this tenant's.")
) -> dict:
    return {"data": await keys.list(tenant)}


@router.get("/{key_id}", response_model=KeyPublic, responses=_ERRORS)
async def read_key(key_id: str, keys: Keys, caller: KeysAdmin) -> dict:
    return await keys.read(key_id)


@router.delete("/{key_id}", response_model=KeyPublic, responses=_ERRORS)
async def revoke_key(key_id: str, keys: Keys, caller: KeysAdmin) -> dict:
    """Revokes the key; every API process refuses it within MAAS_KEY_CACHE_S."""
    return await keys.revoke(caller, key_id)


@router.post("/{key_id}/rotate", response_model=KeyCreated, status_code=201, responses=_ERRORS)
async def rotate_key(key_id: str, keys: Keys, caller: KeysAdmin, body: KeyRotate | None = None) -> dict:
    """A new key with the same tenant, scopes and limits; the old one is revoked after `grace`."""
    return await keys.rotate(caller, key_id, body.grace if body else None)
