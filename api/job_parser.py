"""Parses big job bodies in a child process (api/json_child.py), one at a time.

orjson and numpy hold the GIL while they build a body's objects: for a 16 MiB body, a few hundred
milliseconds in which, in a thread as on the loop, nothing else of the API runs (/healthz
included). In the child, the API only moves bytes and decodes the inputs as ready arrays; and
only one big body's Python objects exist at a time, in the child. A child that dies is started
again for the next body.
"""

import asyncio
import contextlib
import logging
import os
import struct
import sys

import numpy as np
import orjson

from api.json_child import BARE
from batching.codec import decode_tensors
from maas.core.errors import InvalidInputError, PayloadTooLargeError

log = logging.getLogger(__name__)


class JobBodyParser:
    def __init__(self) -> None:
        self._child: asyncio.subprocess.Process | None = None
        self._one = asyncio.Lock()  # one exchange at a time on the child's pipes

    async def _started(self) -> asyncio.subprocess.Process:
        if self._child is None or self._child.returncode is not None:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            self._child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "api.json_child",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
            )
        return self._child

    async def _exchange(self, body: bytes) -> tuple[int, bytes]:
        child = await self._started()
        assert child.stdin is not None and child.stdout is not None  # both are pipes
        try:
            child.stdin.write(struct.pack("<Q", len(body)) + body)
            await child.stdin.drain()
            status, size = struct.unpack("<BQ", await child.stdout.readexactly(9))
            return status, await child.stdout.readexactly(size)
        except (ConnectionError, asyncio.IncompleteReadError) as e:
            log.warning("the JSON parser child died (%r); it starts again for the next body", e)
            self._discard(child)
            raise PayloadTooLargeError("body: too costly to parse (the parser process died)") from e
        except BaseException:
            # Cancelled mid-exchange (the client left): its answer would be read as the next
            # body's, so this child goes, and the next body gets a fresh one.
            self._discard(child)
            raise

    def _discard(self, child: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.kill()  # asyncio's child watcher reaps it
        if self._child is child:
            self._child = None

    async def parse(self, body: bytes) -> object:
        """The body's JSON, its inputs' nested lists already numpy arrays."""
        async with self._one:
            status, payload = await self._exchange(body)
        if status != 0:
            raise InvalidInputError(f"body: malformed JSON: {payload.decode()}", ("body",))
        (size,) = struct.unpack_from("<Q", payload)
        value = orjson.loads(payload[8 : 8 + size])
        arrays = decode_tensors(payload[8 + size :]) if len(payload) > 8 + size else {}
        return _with_arrays(value, arrays)

    async def close(self) -> None:
        if self._child is not None and self._child.returncode is None:
            assert self._child.stdin is not None
            self._child.stdin.close()
            try:
                await asyncio.wait_for(self._child.wait(), 2.0)
            except TimeoutError:
                self._child.kill()
                await self._child.wait()


def _with_arrays(value: object, arrays: dict[str, np.ndarray]) -> object:
    if not arrays or not isinstance(value, dict):
        return value
    if BARE in arrays:
        value["inputs"] = arrays[BARE]
    elif isinstance(value.get("inputs"), dict):
        value["inputs"].update(arrays)
    return value
