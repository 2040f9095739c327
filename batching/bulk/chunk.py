"""A bulk chunk file: a run of consecutive input items (JSONL lines or array rows) with their
client ids, and the tensors of the items that are fine, concatenated in item order. The same
layout holds a chunk's inputs (written by the split) and its results (written by a worker):
failed items carry an error and no rows in the tensors.

Layout: b"MB1", u32 header length, the header (JSON: index, ids, rows per item, errors by
item position), then a batching.codec payload.
"""

import struct
from dataclasses import dataclass, field

import numpy as np
import orjson

from batching.codec import CodecError, decode_tensors, encode_tensors
from batching.jobs.record import JobError

_MAGIC = b"MB1"


@dataclass
class ChunkFile:
    index: int
    ids: list  # one client id per item
    rows: list[int]  # rows of each item (its leading dimension)
    errors: dict[int, JobError] = field(default_factory=dict)  # item position -> why it failed
    tensors: dict[str, np.ndarray] = field(default_factory=dict)  # rows of the items that are fine

    def encode(self) -> bytes:
        header = orjson.dumps(
            {
                "index": self.index,
                "ids": self.ids,
                "rows": self.rows,
                "errors": {str(i): e.__dict__ for i, e in self.errors.items()},
            }
        )
        return b"".join((_MAGIC, struct.pack("<I", len(header)), header, encode_tensors(self.tensors)))

    @classmethod
    def decode(cls, data: bytes) -> "ChunkFile":
        if data[:3] != _MAGIC:
            raise CodecError("not a maas bulk chunk file")
        (length,) = struct.unpack_from("<I", data, 3)
        header = orjson.loads(data[7 : 7 + length])
        errors = {int(i): JobError(**e) for i, e in header["errors"].items()}
        tensors = decode_tensors(data[7 + length :])
        return cls(header["index"], header["ids"], header["rows"], errors, tensors)

    def ok_items(self) -> list[int]:
        return [i for i in range(len(self.ids)) if i not in self.errors]

    def slices(self) -> dict[int, dict[str, np.ndarray]]:
        """The tensors of each item that is fine, by item position (views, no copies)."""
        sliced, start = {}, 0
        for i in self.ok_items():
            end = start + self.rows[i]
            sliced[i] = {name: array[start:end] for name, array in self.tensors.items()}
            start = end
        return sliced
