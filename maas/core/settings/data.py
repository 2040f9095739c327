"""Data at rest: the keys that seal job and bulk data in Redis and on disk."""

from pydantic import BaseModel, Field, field_validator

from maas.core.sealing import parse_ring
from maas.core.settings.fields import SECRET


class DataSettings(BaseModel):
    data_keys: str | None = Field(
        None,
        repr=False,
        json_schema_extra=SECRET,
        description="AES-256-GCM keys that seal job inputs, outputs and metadata in Redis and bulk "
        "files on disk: `id:base64,id:base64` (32-byte keys; ids of [A-Za-z0-9_.-]). The first "
        "seals, all open: rotate by putting a new key first, drop the old one once its data has "
        "expired. Every API, worker and rq-worker process needs the same ring. Unset: `maas serve` "
        "generates one into <state_dir>/data_keys; other entry points store data in the clear "
        "(with a warning at start). `clear`: no keys, even under `maas serve`.",
    )

    @field_validator("data_keys")
    @classmethod
    def _data_keys_parse(cls, ring: str | None) -> str | None:
        if ring is not None:
            parse_ring(ring)  # ValueError names the entry, never its key
        return ring or None
