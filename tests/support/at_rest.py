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


def redis_values(client: redis.Redis) -> Iterator[tuple[str, bytes]]:
    """(where, value) for every value of every key."""
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        name = key.decode(errors="replace")
        if kind == "hash":
            for field, value in client.hgetall(key).items():
                yield f"HGETALL {name} {field.decode()}", value
        elif kind == "stream":
            for entry_id, fields in client.xrange(key):
                for field, value in fields.items():
                    yield f"XRANGE {name} {entry_id.decode()} {field.decode()}", value
        elif kind == "string":
            yield f"GET {name}", client.get(key) or b""
        elif kind == "list":
            for value in client.lrange(key, 0, -1):
                yield f"LRANGE {name}", value
        elif kind == "set":
            for value in client.smembers(key):
                yield f"SMEMBERS {name}", value
        elif kind == "zset":
            for value in client.zrange(key, 0, -1):
                yield f"ZRANGE {name}", value


def files_under(root: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield str(path), path.read_bytes()


def leaks(values: Iterator[tuple[str, bytes]], wanted: dict[str, bytes]) -> list[str]:
    """'what in where' for every needle found in a value."""
    return [f"{what} in {where}" for where, value in values for what, needle in wanted.items() if needle in value]
