"""The child process that parses big job bodies for the API (api/job_parser.py), so that the
API's event loop never holds the GIL for the hundreds of milliseconds orjson and numpy take to
build a 16 MiB body's objects. Light on purpose: numpy, orjson and the tensor codec only.

Protocol on stdin/stdout, one exchange at a time: the API writes `u64 length` + the body; the
child answers `u8 status` + `u64 length` + payload. Status 0: payload is `u64 n` + n bytes of
JSON (the body, its inputs' nested lists taken out) + the taken lists as tensors
(batching.codec); status 1: payload is the JSON parse error's message. A nested list numpy
cannot turn into numbers stays in the JSON as a tiny stand-in that the API refuses with the
same message as the original (ragged, or non-numeric).
"""

import struct
import sys
from typing import BinaryIO

import numpy as np
import orjson

from batching.codec import encode_tensors

BARE = ""  # the tensor name of a bare nested list (a single-input model's `inputs`)
RAGGED = [[0], [0, 0]]
NOT_NUMERIC = [["not a number"]]


def _array(value: list) -> np.ndarray | list:
    try:
        array = np.asarray(value)
    except (ValueError, OverflowError):
        return RAGGED
    return array if array.dtype.kind in "biuf" else NOT_NUMERIC


def split(body: bytes) -> tuple[bytes, bytes]:
    """(the body as JSON without the inputs' nested lists, those lists as tensors)."""
    value = orjson.loads(body)
    inputs = value.get("inputs") if isinstance(value, dict) else None
    arrays: dict[str, np.ndarray] = {}
    if isinstance(inputs, list):
        converted = _array(inputs)
        if isinstance(converted, np.ndarray):
            arrays[BARE], value["inputs"] = converted, None
        else:
            value["inputs"] = converted
    elif isinstance(inputs, dict):
        for name, item in list(inputs.items()):
            if isinstance(item, list):
                converted = _array(item)
                if isinstance(converted, np.ndarray):
                    arrays[name] = converted
                    del inputs[name]
                else:
                    inputs[name] = converted
    return orjson.dumps(value), encode_tensors(arrays) if arrays else b""


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def serve(source: BinaryIO, sink: BinaryIO) -> None:
    while (header := _read_exact(source, 8)) is not None:
        body = _read_exact(source, struct.unpack("<Q", header)[0])
        if body is None:
            return
        try:
            rest, tensors = split(body)
            payload, status = struct.pack("<Q", len(rest)) + rest + tensors, 0
        except orjson.JSONDecodeError as e:
            payload, status = str(e).encode(), 1
        sink.write(struct.pack("<BQ", status, len(payload)) + payload)
        sink.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
