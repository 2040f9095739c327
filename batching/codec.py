"""The compact binary form of a set of named tensors, as stored in Redis. Never pickle.

Layout: b"MT1", u16 count, then per tensor: u16 name length, name (utf-8), u8 dtype code,
u8 rank, rank x u64 dims, the raw little-endian C-order data.
"""

import math
import struct

import numpy as np

from maas.core.errors import MaasError

_MAGIC = b"MT1"
# A dtype's position here is its code on the wire: append only, never reorder. (The same names
# as maas.core.signature.SUPPORTED_DTYPES on purpose, but a stored format keeps its own list.)
_DTYPES = tuple(
    np.dtype(n).newbyteorder("<")
    for n in (
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
    )
)
_CODES = {dt: code for code, dt in enumerate(_DTYPES)}


class CodecError(MaasError):
    code = "codec_error"


def encode_tensors(tensors: dict[str, np.ndarray]) -> bytes:
    parts = [_MAGIC, struct.pack("<H", len(tensors))]
    for name, array in tensors.items():
        dtype = array.dtype.newbyteorder("<")
        code = _CODES.get(dtype)
        if code is None:
            raise CodecError(f"tensor {name!r}: dtype {array.dtype} is not supported")
        name_bytes = name.encode()
        parts.append(struct.pack("<H", len(name_bytes)))
        parts.append(name_bytes)
        parts.append(struct.pack(f"<BB{array.ndim}Q", code, array.ndim, *array.shape))
        parts.append(np.ascontiguousarray(array, dtype=dtype).tobytes())
    return b"".join(parts)


def decode_tensors(data: bytes) -> dict[str, np.ndarray]:
    view = memoryview(data)
    if bytes(view[:3]) != _MAGIC:
        raise CodecError("not a maas tensor payload")
    try:
        (count,) = struct.unpack_from("<H", view, 3)
        offset, tensors = 5, {}
        for _ in range(count):
            (name_len,) = struct.unpack_from("<H", view, offset)
            name = bytes(view[offset + 2 : offset + 2 + name_len]).decode()
            offset += 2 + name_len
            code, rank = struct.unpack_from("<BB", view, offset)
            shape = struct.unpack_from(f"<{rank}Q", view, offset + 2)
            offset += 2 + 8 * rank
            dtype = _DTYPES[code]
            size = math.prod(shape) * dtype.itemsize  # exact: a huge shape cannot wrap around
            if offset + size > len(view):
                raise CodecError(f"tensor {name!r} is truncated")
            array = np.frombuffer(view[offset : offset + size], dtype=dtype).reshape(shape)
            tensors[name] = array.astype(dtype.newbyteorder("="), copy=False)
            offset += size
    except (struct.error, IndexError, UnicodeDecodeError) as e:
        raise CodecError(f"corrupt tensor payload: {e}") from e
    if offset != len(view):
        raise CodecError("trailing bytes after the last tensor")
    return tensors
