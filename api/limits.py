"""Bounds on what a request may store and what an error may repeat back (issue 17): a job's
metadata is kept as long as the job, and an error message that echoes an 8,000-character id or
10,000 names costs the server and says no more than a shortened one."""

import orjson

from maas.core.errors import InvalidInputError


def check_metadata(metadata: dict | None, limit_bytes: int) -> None:
    """422 for metadata whose compact JSON passes limit_bytes (MAAS_MAX_METADATA_BYTES)."""
    if metadata is None:
        return
    size = len(orjson.dumps(metadata))
    if size > limit_bytes:
        raise InvalidInputError(
            f"metadata: {size} bytes of JSON exceed the limit of {limit_bytes} (MAAS_MAX_METADATA_BYTES)",
            ("metadata",),
        )


def shortened(text: str, max_chars: int) -> str:
    """text, or its first max_chars characters and a note of how many were left out."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}... ({len(text) - max_chars} more characters)"
