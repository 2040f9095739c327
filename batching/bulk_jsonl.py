"""Bulk input in JSONL: one `{"id": ..., "inputs": ...}` object a line, as the body of POST
/v1/jobs. A line that is not valid fails alone, with the reason; blank lines are skipped."""

from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import orjson

from batching.bulk_chunk import ChunkFile
from batching.job import JobError
from maas.errors import InvalidInputError
from maas.inputs import parse_inputs
from maas.signature import Signature

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


def jsonl_chunks(
    stream: BinaryIO, signature: Signature, offset: int, first_item: int, index: int,
    chunk_rows: int, max_bytes: int,
) -> Iterator[tuple[ChunkFile, int]]:
    """(chunk, the byte offset after it) from `offset` on; items count from first_item. A chunk
    has chunk_rows lines, or fewer when they hold more than max_bytes of text."""
    stream.seek(offset)
    while True:
        chunk = ChunkFile(index, [], [])
        parts: list[dict[str, np.ndarray]] = []
        start = offset
        while len(chunk.ids) < chunk_rows and offset - start < max_bytes and (line := stream.readline()):
            offset += len(line)
            if not line.strip():
                continue
            item = first_item + len(chunk.ids)
            try:
                item_id, arrays, rows = parse_line(line, signature, item)
            except InvalidInputError as e:
                chunk.errors[len(chunk.ids)] = JobError(e.code, e.message)
                chunk.ids.append(_client_id(line, item))
                chunk.rows.append(0)
                continue
            chunk.ids.append(item_id)
            chunk.rows.append(rows)
            parts.append(arrays)
        if not chunk.ids:
            return
        if parts:
            chunk.tensors = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        yield chunk, offset
        first_item += len(chunk.ids)
        index += 1
