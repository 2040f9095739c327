"""Reads JSON request bodies within their size limit, without trusting Content-Length alone.

A job body over the offload threshold is parsed in a child process (api/job_parser.py says why);
management bodies (a config patch, an alias) are small by nature, and limited to that.
"""

from dataclasses import dataclass

import orjson
from fastapi import Request

from api.guard import require_json_or_none
from api.job_parser import JobBodyParser
from maas.core.errors import InvalidInputError, PayloadTooLargeError

SMALL_BODY_BYTES = 64 * 1024  # a config patch or an alias update; far more than either needs


def loads(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidInputError(f"body: malformed JSON: {e}", ("body",)) from e


async def read_bytes(request: Request, limit_bytes: int) -> bytes:
    """The body, refused (413) as soon as it is known to exceed limit_bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit_bytes:
        raise PayloadTooLargeError(f"body of {declared} bytes exceeds the limit of {limit_bytes}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise PayloadTooLargeError(f"body exceeds the limit of {limit_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class JsonBodies:
    """How an app reads JSON bodies: jobs up to limit_bytes, parsed in the child process past
    offload_bytes (their inputs then come as numpy arrays); management bodies up to 64 KiB."""

    limit_bytes: int
    offload_bytes: int
    parser: JobBodyParser

    async def job(self, request: Request) -> object:
        require_json_or_none(request)
        raw = await read_bytes(request, self.limit_bytes)
        if len(raw) > self.offload_bytes:
            return await self.parser.parse(raw)
        return loads(raw)

    async def small(self, request: Request) -> object:
        require_json_or_none(request)
        return loads(await read_bytes(request, SMALL_BODY_BYTES))
