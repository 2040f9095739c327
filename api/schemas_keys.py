"""Schemas of /v1/keys."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas import WholeInt

MAX_ROWS = 2**31 - 1  # caps are kept in Redis hashes and compared in Lua (doubles): keep them exact
Cap = Annotated[WholeInt, Field(ge=0, le=MAX_ROWS)]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    tenant: str = Field(description="The tenant the key acts for (a-z, 0-9, '_', '-').")
    scopes: list[str] = Field(description='e.g. ["jobs:write", "jobs:read"].')
    name: str = Field("", max_length=100, description="Shown in the audit trail; default: the id.")
    expires: str | None = Field(None, description="Lifetime, e.g. 30d, 12h; default: none.")
    rate: str | None = Field(None, description="Requests per period, e.g. 50/s; default MAAS_KEY_RATE.")
    max_queued_rows: Cap | None = Field(None, description="The tenant's queued-row cap for it.")
    max_bulk_jobs: Cap | None = Field(None, description="Unfinished bulk jobs it may have.")

    @field_validator("scopes")
    @classmethod
    def _scopes_once_each(cls, scopes: list[str]) -> list[str]:
        # The document says uniqueItems: a repeated scope is a mistake worth naming, not merging.
        repeated = sorted({s for s in scopes if scopes.count(s) > 1})
        if repeated:
            raise ValueError(f"scopes: {repeated} appear more than once")
        return scopes


class KeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    grace: str | None = Field(None, description="How long the old key keeps working, e.g. 1h.")


class KeyPublic(BaseModel):
    id: str
    tenant: str
    name: str
    scopes: list[str]
    state: str = Field(description="active, revoked or expired.")
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None
    rate: str | None
    max_queued_rows: int | None
    max_bulk_jobs: int | None
    rotated_to: str | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The key itself: shown this once, never stored.")


class KeyList(BaseModel):
    data: list[KeyPublic]
