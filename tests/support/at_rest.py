"""What a workload left at rest, for the data-at-rest tests: every value in Redis (hash fields,
stream entries, strings, lists, sets), the AOF files, the bulk store's files; and a recognisable
input to look for in them."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import redis

# Float32-exact values whose decimal text is distinctive (x + 111/128).
PATTERN = (np.arange(64, dtype=np.float32) + np.float32(13.8671875)).reshape(1, 64)
PATTERN_TEXT = b"13.8671875"
METADATA = {"case": "ZEBRA-7741-CONFIDENTIAL"}


def needles(outputs: np.ndarray | None = None) -> dict[str, bytes]:
    """The byte strings that must appear nowhere: the pattern as float32 (whole, and its first
    values), its JSON text, the metadata's text, and the outputs' float32 bytes when given."""
    found = {
        "pattern float32": PATTERN.tobytes(),
        "pattern head float32": PATTERN[0, :4].tobytes(),
        "pattern JSON text": PATTERN_TEXT,
        "metadata text": METADATA["case"].encode(),
    }
    if outputs is not None:
        found["outputs float32"] = np.ascontiguousarray(outputs, dtype=np.float32).tobytes()[:16]
    return found


def _stream_values(client: redis.Redis, key: bytes) -> Iterator[tuple[str, bytes]]:
    for entry_id, fields in client.xrange(key):
        for field, value in fields.items():
            yield f"{entry_id.decode()} {field.decode()}", value


READERS = {
    "hash": lambda c, k: ((f.decode(), v) for f, v in c.hgetall(k).items()),
    "stream": _stream_values,
    "string": lambda c, k: [("", c.get(k) or b"")],
    "list": lambda c, k: (("", v) for v in c.lrange(k, 0, -1)),
    "set": lambda c, k: (("", v) for v in c.smembers(k)),
    "zset": lambda c, k: (("", v) for v in c.zrange(k, 0, -1)),
}


def redis_values(client: redis.Redis) -> Iterator[tuple[str, bytes]]:
    """(where, value) for every value of every key: `TYPE key field` and the value."""
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        for field, value in READERS[kind](client, key):
            yield f"{kind} {key.decode(errors='replace')} {field}", value


def files_under(root: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield str(path), path.read_bytes()


def leaks(values: Iterator[tuple[str, bytes]], wanted: dict[str, bytes]) -> list[str]:
    """'what in where' for every needle found in a value."""
    return [
        f"{what} in {where}" for where, value in values for what, needle in wanted.items() if needle in value
    ]
