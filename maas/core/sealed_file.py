"""A file sealed in fixed-size segments (maas.core.sealing's keys), written and read streaming:
one segment in memory at a time, and readable at any offset (bulk readers seek).

Layout: FILE_MAGIC (b"\\x00MF"), a version byte (1), u8 key id length, the key id, u32 segment
size S; then segments, each a 12-byte random nonce and the AES-GCM ciphertext of S clear bytes
(the last one: 0 to S bytes) with its 16-byte tag. A segment's associated data is the file's
binding (purpose, path), the header, its index and whether it is the last one, so segments
reordered, dropped from the end, or moved into another file fail to open. A file always has a
last segment (an empty file: one empty segment), so cutting one off at a boundary is seen too.
"""

import io
import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag

from maas.core.sealing import (
    NONCE_BYTES,
    TAG_BYTES,
    VERSION,
    DataKey,
    Purpose,
    Sealer,
    SealError,
    associated_data,
)

FILE_MAGIC = b"\x00MF"
SEGMENT_BYTES = 1 << 20
OVERHEAD = NONCE_BYTES + TAG_BYTES


def _aad(path: str, header: bytes, index: int, last: bool) -> bytes:
    return associated_data(Purpose.BULK_FILE, path, "", header + struct.pack("<QB", index, last))


class SealedWriter(io.RawIOBase):
    """Seals what is written, a segment at a time; finish() seals the last one (a file left
    unfinished has none, and does not open)."""

    def __init__(self, target: BinaryIO, key: DataKey, path: str, segment_bytes: int = SEGMENT_BYTES):
        super().__init__()
        self.target, self.key, self.path, self.segment_bytes = target, key, path, segment_bytes
        key_id = key.id.encode()
        self.header = FILE_MAGIC + struct.pack("<BB", VERSION, len(key_id)) + key_id
        self.header += struct.pack("<I", segment_bytes)
        target.write(self.header)
        self.pending = bytearray()
        self.index = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self.pending += data
        # A full segment is sealed only once more follows: the last one must say it is last.
        while len(self.pending) > self.segment_bytes:
            self._seal(bytes(self.pending[: self.segment_bytes]), last=False)
            del self.pending[: self.segment_bytes]
        return len(data)

    def finish(self) -> None:
        self._seal(bytes(self.pending), last=True)
        self.pending.clear()

    def _seal(self, clear: bytes, last: bool) -> None:
        nonce = os.urandom(NONCE_BYTES)
        aad = _aad(self.path, self.header, self.index, last)
        self.target.write(nonce + self.key.aead.encrypt(nonce, clear, aad))
        self.index += 1


class SealedReader(io.RawIOBase):
    """The clear bytes of a sealed file, seekable; SealError where a segment does not open."""

    def __init__(self, source: BinaryIO, sealer: Sealer, path: str):
        super().__init__()
        self.source, self.path = source, path
        head = source.read(len(FILE_MAGIC) + 2)
        if len(head) < len(FILE_MAGIC) + 2 or head[len(FILE_MAGIC)] != VERSION:
            raise SealError(f"bulk file {path}: unknown sealed format")
        key_id = source.read(head[-1])
        (self.segment_bytes,) = struct.unpack("<I", source.read(4).rjust(4, b"\x00"))
        self.header = head + key_id + struct.pack("<I", self.segment_bytes)
        self.key = sealer.key(key_id.decode("ascii", "replace"), f"bulk file {path}")
        body = source.seek(0, os.SEEK_END) - len(self.header)
        record = self.segment_bytes + OVERHEAD
        self.segments = max(1, -(-body // record))
        last_clear = body - (self.segments - 1) * record - OVERHEAD
        if self.segment_bytes < 1 or last_clear < 0:
            raise SealError(f"bulk file {path}: truncated (its last segment is missing)")
        self.size = (self.segments - 1) * self.segment_bytes + last_clear
        self.position = 0
        self.cached: tuple[int, bytes] = (-1, b"")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self.position = base + offset
        return self.position

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self.position >= self.size:
            return 0
        index, start = divmod(self.position, self.segment_bytes)
        clear = self._segment(index)
        count = min(len(buffer), len(clear) - start)
        buffer[:count] = clear[start : start + count]
        self.position += count
        return count

    def readall(self) -> bytes:
        parts = []
        while part := self.read(self.segment_bytes):
            parts.append(part)
        return b"".join(parts)

    def _segment(self, index: int) -> bytes:
        if self.cached[0] != index:
            record = self.segment_bytes + OVERHEAD
            self.source.seek(len(self.header) + index * record)
            sealed = self.source.read(record)
            last = index == self.segments - 1
            aad = _aad(self.path, self.header, index, last)
            try:
                self.cached = (index, self.key.aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad))
            except InvalidTag as e:
                raise SealError(
                    f"bulk file {self.path}: segment {index} does not open with data key {self.key.id!r}: "
                    "the file was altered, cut short or belongs to another job"
                ) from e
        return self.cached[1]

    def close(self) -> None:
        self.source.close()
        super().close()


def open_sealed(source: BinaryIO, sealer: Sealer, path: str) -> BinaryIO:
    """`source` read through its seal, or `source` itself (rewound) when it holds clear data
    written before keys were set."""
    if source.read(len(FILE_MAGIC)) != FILE_MAGIC:
        source.seek(0)
        return source
    source.seek(0)
    return io.BufferedReader(SealedReader(source, sealer, path))
