"""The /v1/models operations, without I/O (see wire.py): list, show, push, configure, promote,
rollback, retire. Answers are the server's JSON (dicts), as documented in its README."""

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from maas_client.upload_calls import CHUNKED_ABOVE_BYTES, UploadProgress, push_resumable
from maas_client.wire import Call, Context, Send, json_bytes, json_of, send


def _model(name: str) -> str:
    return f"/v1/models/{quote(name, safe='')}"


def list_models(ctx: Context) -> Call[list[dict[str, Any]]]:
    return json_of((yield from send(Send("GET", "/v1/models"), ctx.retry)))


def show(ctx: Context, name: str, version: int | None = None) -> Call[dict[str, Any]]:
    """The model (versions, aliases, its latest version), or one version of it."""
    path = _model(name) if version is None else f"{_model(name)}/versions/{version}"
    return json_of((yield from send(Send("GET", path), ctx.retry)))


def _config_bytes(config: Mapping[str, Any] | str | Path) -> bytes:
    if isinstance(config, Mapping):
        return json.dumps(dict(config)).encode()
    return Path(config).read_bytes()


def push(
    ctx: Context,
    name: str,
    file: str | Path,
    config: Mapping[str, Any] | str | Path | None = None,
    progress: UploadProgress | None = None,
) -> Call[dict[str, Any]]:
    """Uploads `file` (.onnx or .tflite, or a .tar/.tar.gz/.tgz/.zip archive of a version with
    its external data) as the next version, with an optional config (a dict or a config.json).
    Above CHUNKED_ABOVE_BYTES it goes as a resumable upload in chunks (each retried on its own,
    `progress` told the bytes sent); below, in one request, not repeated when its answer is
    lost: that could create two versions."""
    file = Path(file)
    if file.stat().st_size > CHUNKED_ABOVE_BYTES:
        return (yield from push_resumable(ctx, name, file, config, progress=progress))
    with contextlib.ExitStack() as stack:
        files: dict[str, Any] = {
            "file": (file.name, stack.enter_context(file.open("rb")), "application/octet-stream")
        }
        if config is not None:
            files["config"] = ("config.json", _config_bytes(config), "application/json")
        request = Send("POST", f"{_model(name)}/versions", files=files, repeatable=False)
        return json_of((yield from send(request, ctx.retry)))


def configure(ctx: Context, name: str, version: int, patch: Mapping[str, Any]) -> Call[dict[str, Any]]:
    """A JSON merge patch of the version's config (None removes a key)."""
    request = Send(
        "PATCH",
        f"{_model(name)}/versions/{version}/config",
        content=json_bytes(dict(patch)),
        headers={"Content-Type": "application/json"},
    )
    return json_of((yield from send(request, ctx.retry)))


def promote(
    ctx: Context, name: str, version: int, alias: str, wait_ready_workers: int = 0, wait_timeout_s: float = 60
) -> Call[dict[str, Any]]:
    """Points `alias` at `version` (PUT: repeating it is harmless); with `wait_ready_workers`,
    only once that many workers report it ready (else 409 after wait_timeout_s)."""
    body: dict[str, Any] = {"version": version}
    if wait_ready_workers:
        body |= {"wait_ready_workers": wait_ready_workers, "wait_timeout_s": wait_timeout_s}
    request = Send(
        "PUT",
        f"{_model(name)}/aliases/{quote(alias, safe='')}",
        content=json_bytes(body),
        headers={"Content-Type": "application/json"},
        extra_read_s=wait_timeout_s if wait_ready_workers else 0.0,
    )
    return json_of((yield from send(request, ctx.retry)))


def rollback(ctx: Context, name: str, alias: str) -> Call[dict[str, Any]]:
    path = f"{_model(name)}/aliases/{quote(alias, safe='')}/rollback"
    return json_of((yield from send(Send("POST", path, repeatable=False), ctx.retry)))


def retire(ctx: Context, name: str, version: int) -> Call[dict[str, Any]]:
    path = f"{_model(name)}/versions/{version}"
    return json_of((yield from send(Send("DELETE", path, repeatable=False), ctx.retry)))
