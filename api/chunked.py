"""Resumable uploads of one large file (a model or an archive of a version), in chunks sent in
any order and retried freely, kept on disk under the staging root so that an API process that
dies (or a client whose link drops) loses nothing received: another API process sharing the
state directory, or the same one restarted, carries on.

An upload is a directory `chunked-<id>` holding `data` (the file, written at each chunk's
offset) and `state.json` (the model, file name, size, config, and the byte ranges received),
replaced whole after each chunk under a lock, so a chunk is recorded only once all its bytes are
on disk. Finishing checks that every byte arrived and that the file's sha256 is the one the
client states, before the version is validated and created. An upload untouched for
MAAS_UPLOAD_EXPIRY_S is swept with its staging."""

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from maas.core.errors import ConflictError, InvalidInputError, ModelNotFoundError
from maas.models.store import file_sha256

PREFIX = "chunked-"
STATE_FILE = "state.json"
DATA_FILE = "data"
_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
Ranges = list[list[int]]  # [start, end) pairs, sorted, merged
Span = tuple[int, int]  # [start, end) of one chunk


def merged(ranges: Ranges, start: int, end: int) -> Ranges:
    result: Ranges = []
    for a, b in sorted([*ranges, [start, end]]):
        if result and a <= result[-1][1]:
            result[-1][1] = max(result[-1][1], b)
        else:
            result.append([a, b])
    return result


def parse_content_range(header: str | None, size_bytes: int, max_chunk_bytes: int) -> tuple[int, int]:
    """[start, end) from `Content-Range: bytes a-b/size` (b inclusive)."""
    found = CONTENT_RANGE.match((header or "").strip())
    if not found:
        raise InvalidInputError("Content-Range: send `bytes <first>-<last>/<size>`", ("Content-Range",))
    start, last, total = (int(g) for g in found.groups())
    if total != size_bytes or last < start or last >= size_bytes:
        raise InvalidInputError(
            f"Content-Range: {header!r} is not a range of this upload's {size_bytes} bytes",
            ("Content-Range",),
        )
    if last + 1 - start > max_chunk_bytes:
        raise InvalidInputError(
            f"Content-Range: a chunk may carry at most {max_chunk_bytes} bytes (MAAS_UPLOAD_CHUNK_MAX_BYTES)",
            ("Content-Range",),
        )
    return start, last + 1


@dataclass(frozen=True)
class ChunkedUploads:
    root: Path  # the staging root, shared with the one-request uploads
    expiry_s: float

    def _folder(self, model: str, upload_id: str) -> Path:
        """The upload's directory; 404 for an unknown, expired or other model's upload."""
        folder = self.root / f"{PREFIX}{upload_id}"
        state = self._read(folder) if _ID.match(upload_id) else None
        if state is None or state["model"] != model or self._expired(folder):
            raise ModelNotFoundError(f"model {model!r} has no upload {upload_id!r}")
        return folder

    def _expired(self, folder: Path) -> bool:
        with contextlib.suppress(OSError):
            return (folder / STATE_FILE).stat().st_mtime < time.time() - self.expiry_s
        return True

    @staticmethod
    def _read(folder: Path) -> dict | None:
        with contextlib.suppress(OSError, ValueError):
            return json.loads((folder / STATE_FILE).read_bytes())
        return None

    @staticmethod
    def _write(folder: Path, state: dict) -> None:
        temporary = folder / f".{STATE_FILE}.tmp"
        temporary.write_text(json.dumps(state))
        os.replace(temporary, folder / STATE_FILE)

    @contextlib.contextmanager
    def _locked(self, folder: Path) -> Iterator[None]:
        with (folder / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def public(self, folder: Path, state: dict) -> dict:
        received = sum(b - a for a, b in state["received"])
        expires_at = (folder / STATE_FILE).stat().st_mtime + self.expiry_s
        return {
            "id": folder.name.removeprefix(PREFIX),
            "name": state["model"],
            "filename": state["filename"],
            "size_bytes": state["size_bytes"],
            "received": state["received"],
            "received_bytes": received,
            "complete": received == state["size_bytes"],
            "expires_at": expires_at,
        }

    def create(self, model: str, filename: str, size_bytes: int, config: dict | None) -> dict:
        self.sweep()
        self.root.mkdir(parents=True, exist_ok=True)
        folder = self.root / f"{PREFIX}{secrets.token_urlsafe(18)}"
        folder.mkdir(mode=0o700)
        with (folder / DATA_FILE).open("wb") as data:
            data.truncate(size_bytes)  # sparse: chunks land at their offsets
        state = {"model": model, "filename": filename, "size_bytes": size_bytes, "config": config}
        self._write(folder, {**state, "received": [], "created_at": time.time()})
        return self.public(folder, self._read(folder) or {})

    def state(self, model: str, upload_id: str) -> dict:
        folder = self._folder(model, upload_id)
        return self.public(folder, self._read(folder) or {})

    def size_of(self, model: str, upload_id: str) -> int:
        return int((self._read(self._folder(model, upload_id)) or {})["size_bytes"])

    async def write(
        self, model: str, upload_id: str, span: tuple[int, int], body: AsyncIterator[bytes]
    ) -> None:
        """Writes the body at span's offset; it must carry exactly span's bytes. Recorded only
        once all of it is written, so a chunk cut short is simply sent again."""
        folder = self._folder(model, upload_id)
        start, end = span
        written = 0
        with (folder / DATA_FILE).open("r+b") as data:
            data.seek(start)
            async for block in body:
                written += len(block)
                if written > end - start:
                    break
                data.write(block)
        if written != end - start:
            raise InvalidInputError(
                f"body: carried {'more' if written > end - start else written} bytes, Content-Range "
                f"says {end - start}",
                ("body",),
            )

    def record(self, model: str, upload_id: str, span: Span) -> dict:
        folder = self._folder(model, upload_id)
        with self._locked(folder):
            state = self._read(folder) or {}
            state["received"] = merged(state["received"], *span)
            self._write(folder, state)
        return self.public(folder, state)

    def take(self, model: str, upload_id: str, sha256: str, into: Path) -> tuple[Path, dict]:
        """Moves a complete upload whose sha256 matches into `into` (a private staging folder):
        the received file and the upload's state. A mismatch keeps the upload (its chunks can
        be sent again); the upload is gone once taken."""
        folder = self._folder(model, upload_id)
        with self._locked(folder):
            state = self._read(folder) or {}
            if sum(b - a for a, b in state["received"]) != state["size_bytes"]:
                raise ConflictError(
                    f"upload {upload_id!r} is missing bytes; received {state['received']} of "
                    f"{state['size_bytes']} (GET it to see which)"
                )
            digest = file_sha256(folder / DATA_FILE)
            if digest != sha256.lower():
                raise InvalidInputError(
                    f"sha256: the received file's is {digest}, not {sha256}; send the chunks again",
                    ("sha256",),
                )
            target = into / "received"
            os.rename(folder / DATA_FILE, target)
        shutil.rmtree(folder, ignore_errors=True)
        return target, state

    def delete(self, model: str, upload_id: str) -> None:
        shutil.rmtree(self._folder(model, upload_id), ignore_errors=True)

    def sweep(self) -> list[Path]:
        """Removes uploads untouched for expiry_s (their state is rewritten by every chunk)."""
        if not self.root.is_dir():
            return []
        stale = [p for p in self.root.glob(f"{PREFIX}*") if self._expired(p)]
        for folder in stale:
            shutil.rmtree(folder, ignore_errors=True)
        return stale
