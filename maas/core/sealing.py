"""Encryption at rest of client data (job inputs, outputs and metadata in Redis; bulk files):
AES-256-GCM under a key ring (MAAS_DATA_KEYS), each value bound to what it belongs to.

The ring is `id:base64key,id:base64key,...`: the first key seals, every key opens, so a key is
rotated by putting the new one first, and the old one is dropped once nothing sealed under it is
left (job results live result_ttl_s, bulk jobs bulk_retention_s). An empty ring (or the word
`clear`, which also stops `maas serve` from making a key) seals nothing: values are written in
the clear, and a sealed value then fails to open with a clear error.

Layout of a sealed value: MAGIC (b"\\x00MS", which no tensor payload or JSON text starts
with), a version byte (1), u8 key id length, the key id (ASCII), a 12-byte random nonce, then
the AES-GCM ciphertext with its 16-byte tag. The associated data is the purpose (what kind of
value), the subject (job or bulk id) and the tenant, so a value moved into another job's
record, another field or another tenant's job fails to open instead of showing there.

A value without MAGIC is clear data written before keys were set: it is read as it is, so
turning encryption on needs no downtime (what is written from then on is sealed).
"""

import base64
import binascii
import logging
import os
import re
import struct
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from maas.core.errors import MaasError

log = logging.getLogger(__name__)
MAGIC = b"\x00MS"
VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
CLEAR_SETTING = "clear"  # MAAS_DATA_KEYS=clear: no keys, on purpose
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")


class SealError(MaasError):
    """Sealed data that cannot be opened: its key is not in the ring, or it was sealed for
    another job, tenant or field, or altered."""

    code = "sealed_data_unreadable"


class Purpose(StrEnum):
    """What a sealed value is; part of its associated data, so fields cannot be swapped."""

    JOB_INPUTS = "job.inputs"
    JOB_OUTPUTS = "job.outputs"
    JOB_METADATA = "job.metadata"
    BULK_FILE = "bulk.file"


@dataclass(frozen=True)
class DataKey:
    id: str
    aead: AESGCM


def parse_ring(ring: str) -> list[tuple[str, bytes]]:
    """[(key id, 32-byte key)] from `id:base64,...`; ValueError naming the bad entry (never its
    key material)."""
    parsed: list[tuple[str, bytes]] = []
    if ring.strip() == CLEAR_SETTING:
        return parsed
    for position, item in enumerate(i.strip() for i in ring.split(",") if i.strip()):
        key_id, sep, encoded = item.partition(":")
        if not sep or not _KEY_ID.fullmatch(key_id):
            raise ValueError(f"data key {position + 1}: expected ID:BASE64 with an ID of [A-Za-z0-9_.-]")
        try:
            key = base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError) as e:
            raise ValueError(f"data key {key_id!r}: not base64") from e
        if len(key) != KEY_BYTES:
            raise ValueError(f"data key {key_id!r}: {len(key)} bytes, expected {KEY_BYTES} (AES-256)")
        if key_id in {k for k, _ in parsed}:
            raise ValueError(f"data key {key_id!r}: the id appears twice")
        parsed.append((key_id, key))
    return parsed


def new_ring_entry(key_id: str) -> str:
    """A fresh key as one ring entry, `id:base64`."""
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


def associated_data(purpose: Purpose, subject: str, tenant: str, extra: bytes = b"") -> bytes:
    # NUL-separated: ids and tenant names never contain NUL, so no two bindings collide.
    return b"\x00".join((purpose.value.encode(), subject.encode(), tenant.encode(), extra))


class Sealer:
    """Seals and opens values under the key ring; with no keys, seals nothing."""

    def __init__(self, ring: list[tuple[str, bytes]]):
        self.keys = {key_id: DataKey(key_id, AESGCM(key)) for key_id, key in ring}
        self.sealing_key: DataKey | None = self.keys[ring[0][0]] if ring else None

    @classmethod
    def from_setting(cls, ring: str | None) -> "Sealer":
        return cls(parse_ring(ring or ""))

    @property
    def enabled(self) -> bool:
        return self.sealing_key is not None

    def key(self, key_id: str, what: str) -> DataKey:
        """The ring's key `key_id`; SealError saying which key is missing for what."""
        found = self.keys.get(key_id)
        if found is None:
            have = ", ".join(self.keys) or "none set"
            raise SealError(f"{what}: sealed with data key {key_id!r}, not in MAAS_DATA_KEYS ({have})")
        return found

    def seal(self, purpose: Purpose, subject: str, tenant: str, data: bytes) -> bytes:
        key = self.sealing_key
        if key is None:
            return data
        nonce = os.urandom(NONCE_BYTES)
        aad = associated_data(purpose, subject, tenant)
        header = MAGIC + struct.pack("<BB", VERSION, len(key.id)) + key.id.encode()
        return b"".join((header, nonce, key.aead.encrypt(nonce, data, aad)))

    def open(self, purpose: Purpose, subject: str, tenant: str, data: bytes) -> bytes:
        """The clear value; clear data (no MAGIC) as it is; SealError if it does not open."""
        if not data.startswith(MAGIC):
            return data
        what = f"{purpose.value} of {subject}"
        key_id, body = _split(data, what)
        key = self.key(key_id, what)
        try:
            return key.aead.decrypt(
                body[:NONCE_BYTES], body[NONCE_BYTES:], associated_data(purpose, subject, tenant)
            )
        except InvalidTag as e:
            raise SealError(
                f"{what}: does not open with data key {key_id!r}: it was sealed for another job, "
                "tenant or field, or altered"
            ) from e


def _split(data: bytes, what: str) -> tuple[str, bytes]:
    """(key id, nonce + ciphertext) of a sealed value, its header checked."""
    if len(data) < len(MAGIC) + 2 or data[len(MAGIC)] != VERSION:
        raise SealError(f"{what}: unknown sealed format (version byte {data[len(MAGIC) : len(MAGIC) + 1]!r})")
    id_length = data[len(MAGIC) + 1]
    start = len(MAGIC) + 2 + id_length
    if len(data) < start + NONCE_BYTES + TAG_BYTES:
        raise SealError(f"{what}: sealed value is truncated")
    return data[len(MAGIC) + 2 : start].decode("ascii", "replace"), data[start:]


CLEAR = Sealer([])


def announce(sealer: Sealer, process: str) -> None:
    """Says at start whether this process seals client data; a clear store is a warning."""
    if sealer.sealing_key is not None:
        log.info("%s: client data is sealed at rest under data key %r", process, sealer.sealing_key.id)
    else:
        log.warning(
            "%s: MAAS_DATA_KEYS is unset: job inputs, outputs and metadata in Redis and bulk files "
            "on disk are stored in the clear",
            process,
        )
