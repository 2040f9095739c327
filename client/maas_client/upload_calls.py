"""Resumable uploads of a large version (/v1/models/{name}/uploads), without I/O (see wire.py):
the file is sent in chunks, each one retried on its own (a chunk is idempotent: sending it again
writes the same bytes at the same place), and only the chunks the server lacks are sent when an
upload is resumed; the finish states the file's sha256, which the server checks before the
version exists. `push` switches to this above `CHUNKED_ABOVE_BYTES`."""

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from maas_client.wire import Call, Context, Send, json_bytes, json_of, send

CHUNKED_ABOVE_BYTES = 64 * 1024 * 1024
CHUNK_BYTES = 16 * 1024 * 1024
UploadProgress = Callable[[int, int], None]  # (bytes the server holds, the file's size)
JSON = {"Content-Type": "application/json"}


def _uploads(name: str) -> str:
    return f"/v1/models/{quote(name, safe='')}/uploads"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def missing(received: list[list[int]], size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """[start, end) chunks of at most chunk_bytes covering what `received` lacks."""
    gaps, position = [], 0
    for start, end in sorted(received):
        if start > position:
            gaps.append((position, start))
        position = max(position, end)
    if position < size:
        gaps.append((position, size))
    return [(a, min(a + chunk_bytes, b)) for gap_a, b in gaps for a in range(gap_a, b, chunk_bytes)]


def _config_value(config: Mapping[str, Any] | str | Path | None) -> dict[str, Any] | None:
    if config is None or isinstance(config, Mapping):
        return dict(config) if config is not None else None
    return json.loads(Path(config).read_bytes())


def start(ctx: Context, name: str, file: Path, config: Mapping[str, Any] | str | Path | None) -> Call[dict]:
    """Creates the upload (repeatable: a duplicate is an empty upload that expires)."""
    body = {"filename": file.name, "size_bytes": file.stat().st_size, "config": _config_value(config)}
    request = Send("POST", _uploads(name), content=json_bytes(body), headers=JSON)
    return json_of((yield from send(request, ctx.retry)))


def state(ctx: Context, name: str, upload_id: str) -> Call[dict]:
    return json_of((yield from send(Send("GET", f"{_uploads(name)}/{upload_id}"), ctx.retry)))


def send_chunks(
    ctx: Context, name: str, file: Path, upload: dict, progress: UploadProgress | None, chunk_bytes: int
) -> Call[dict]:
    """Sends the chunks the upload lacks; returns its last state."""
    size, held = upload["size_bytes"], upload["received_bytes"]
    path = f"{_uploads(name)}/{upload['id']}"
    with file.open("rb") as source:
        for start_byte, end in missing(upload["received"], size, chunk_bytes):
            source.seek(start_byte)
            headers = {"Content-Type": "application/octet-stream"}
            headers["Content-Range"] = f"bytes {start_byte}-{end - 1}/{size}"
            request = Send("PUT", path, content=source.read(end - start_byte), headers=headers)
            upload = json_of((yield from send(request, ctx.retry)))
            held += end - start_byte
            if progress is not None:
                progress(min(held, size), size)
    return upload


def push_resumable(
    ctx: Context,
    name: str,
    file: str | Path,
    config: Mapping[str, Any] | str | Path | None = None,
    *,
    upload_id: str | None = None,
    progress: UploadProgress | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Call[dict[str, Any]]:
    """Uploads `file` (a model or an archive of a version) in chunks and creates the version;
    with `upload_id`, resumes that upload, sending only what the server lacks."""
    file = Path(file)
    digest = file_sha256(file)
    upload = yield from (state(ctx, name, upload_id) if upload_id else start(ctx, name, file, config))
    if progress is not None:
        progress(upload["received_bytes"], upload["size_bytes"])
    upload = yield from send_chunks(ctx, name, file, upload, progress, chunk_bytes)
    finish = Send(
        "POST",
        f"{_uploads(name)}/{upload['id']}/finish",
        content=json_bytes({"sha256": digest}),
        headers=JSON,
        repeatable=False,  # taken once: a repeat finds no upload
    )
    return json_of((yield from send(finish, ctx.retry)))
