"""Reads JSON request bodies within the size limit, without trusting Content-Length alone, and
keeps the parsing of big ones off the event loop.

Parsing a 16 MiB body of numbers takes a few hundred milliseconds of CPU and a few hundred MB of
Python objects. On the event loop that stalls every other request, /healthz included; in threads
side by side, several such bodies multiply the memory and still fight the loop for the GIL (orjson
and numpy hold it while they build objects). So a big body's heavy steps run in a thread, one big
body at a time: the loop takes the GIL back between those steps, and only one big body's objects
exist at once.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import orjson
from fastapi import Request

from api.guard import require_json_or_none
from maas.core.errors import InvalidInputError, PayloadTooLargeError

T = TypeVar("T")


class Offload:
    """Runs the CPU-heavy steps of big bodies in a thread, one at a time (shared by every route
    and service of an app)."""

    def __init__(self) -> None:
        self._one = asyncio.Semaphore(1)

    async def run(self, func: Callable[..., T], *args: object) -> T:
        async with self._one:
            return await asyncio.to_thread(func, *args)


@dataclass(frozen=True)
class JsonBody:
    value: object
    large: bool  # over the offload threshold: its further heavy steps go through Offload too


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
    """How an app reads JSON bodies: at most limit_bytes; over offload_bytes, parsed off the loop."""

    limit_bytes: int
    offload_bytes: int
    offload: Offload

    async def read(self, request: Request) -> JsonBody:
        require_json_or_none(request)
        raw = await read_bytes(request, self.limit_bytes)
        if len(raw) > self.offload_bytes:
            return JsonBody(await self.offload.run(loads, raw), True)
        return JsonBody(loads(raw), False)
