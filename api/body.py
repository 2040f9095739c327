"""Reads a JSON request body within the size limit, without trusting Content-Length alone."""

import orjson
from fastapi import Request

from maas.core.errors import InvalidInputError, PayloadTooLargeError


async def read_json(request: Request, limit_bytes: int) -> object:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit_bytes:
        raise PayloadTooLargeError(f"body of {declared} bytes exceeds the limit of {limit_bytes}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise PayloadTooLargeError(f"body exceeds the limit of {limit_bytes} bytes")
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as e:
        raise InvalidInputError(f"body: malformed JSON: {e}", ("body",)) from e
