"""Bulk input in JSONL: one `{"id": ..., "inputs": ...}` object a line, as the body of POST
/v1/jobs. A line that is not valid fails alone, with the reason; blank lines are skipped."""

from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import orjson

from batching.bulk.chunk import ChunkFile
from batching.jobs.record import JobError
from maas.core.errors import InvalidInputError
from maas.core.inputs import parse_inputs
from maas.core.signature import Signature

ALLOWED_KEYS = frozenset({"id", "inputs"})


def parse_line(line: bytes, signature: Signature, item: int) -> tuple[object, dict, int]:
    """(client id, arrays, rows) of one line; InvalidInputError says what is wrong with it."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise InvalidInputError(f"row {item}: malformed JSON: {e}") from e
    if not isinstance(obj, dict) or "inputs" not in obj:
        raise InvalidInputError(f'row {item}: expected an object {{"id": ..., "inputs": ...}}')
    if unknown := sorted(set(obj) - ALLOWED_KEYS):
        raise InvalidInputError(f"row {item}: unknown fields {unknown}; a line has id and inputs")
    item_id = obj.get("id", item)
    try:
        arrays, rows = parse_inputs(obj["inputs"], signature)
    except InvalidInputError as e:
        raise InvalidInputError(f"row {item}: {e.message}") from e
    return item_id, arrays, rows


def _client_id(line: bytes, item: int) -> object:
    """The id of a line that failed to parse, when it has a readable one."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return item
    return obj.get("id", item) if isinstance(obj, dict) else item


def _read_line(stream: BinaryIO, max_bytes: int) -> tuple[bytes, int]:
    """(the line, its length in the file). A line longer than max_bytes is skipped in bounded
    reads and returned empty of content but not of length, so memory never grows with it."""
    line = stream.readline(max_bytes + 1)
    if len(line) <= max_bytes or line.endswith(b"\n"):
        return line, len(line)
    length = len(line)
    while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
        length += len(rest)
    return b"", length + len(rest)


def _fits(parts: list[dict[str, np.ndarray]], arrays: dict[str, np.ndarray]) -> bool:
    """Whether a line's tensors stack with the chunk's so far (same inner dimensions)."""
    return not parts or all(arrays[n].shape[1:] == parts[0][n].shape[1:] for n in arrays)


def _fill(
    chunk: ChunkFile,
    parts: list,
    stream: BinaryIO,
    signature: Signature,
    first_item: int,
    chunk_rows: int,
    max_bytes: int,
) -> int:
    """Adds lines to the chunk until it is full; returns the bytes it consumed. A line whose
    dynamic dimensions differ from the chunk's so far starts the next chunk instead."""
    consumed = 0
    while len(chunk.ids) < chunk_rows and consumed < max_bytes:
        line, length = _read_line(stream, max_bytes)
        if not length:
            break
        item = first_item + len(chunk.ids)
        if not line:
            chunk.errors[len(chunk.ids)] = JobError(
                "invalid_input", f"row {item}: a line longer than {max_bytes} bytes"
            )
            chunk.ids.append(item)
            chunk.rows.append(0)
        elif line.strip():
            try:
                item_id, arrays, rows = parse_line(line, signature, item)
            except InvalidInputError as e:
                chunk.errors[len(chunk.ids)] = JobError(e.code, e.message)
                chunk.ids.append(_client_id(line, item))
                chunk.rows.append(0)
            else:
                if not _fits(parts, arrays):
                    stream.seek(-length, 1)
                    break
                chunk.ids.append(item_id)
                chunk.rows.append(rows)
                parts.append(arrays)
        consumed += length
    return consumed


def jsonl_chunks(
    stream: BinaryIO,
    signature: Signature,
    offset: int,
    first_item: int,
    index: int,
    chunk_rows: int,
    max_bytes: int,
) -> Iterator[tuple[ChunkFile, int]]:
    """(chunk, the byte offset after it) from `offset` on; items count from first_item. A chunk
    has chunk_rows lines, or fewer when they hold more than max_bytes of text or a line's
    dynamic dimensions differ from the lines before it."""
    stream.seek(offset)
    while True:
        chunk = ChunkFile(index, [], [])
        parts: list[dict[str, np.ndarray]] = []
        offset += _fill(chunk, parts, stream, signature, first_item, chunk_rows, max_bytes)
        if not chunk.ids:
            return
        if parts:
            chunk.tensors = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        yield chunk, offset
        first_item += len(chunk.ids)
        index += 1
