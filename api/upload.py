"""Receives a model upload (multipart: `file`, optional `config`) into a staging file, within the
size limit, without holding it in memory and without touching the repository. This is the HTTP
half of an upload; ModelService validates and stores the staged file."""

import contextlib
import shutil
import tempfile
import time
from pathlib import Path

import orjson
from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from api.forms import FormLimits, read_form
from api.services.models import Upload
from maas.core.errors import InvalidInputError
from maas.core.settings import Settings
from maas.models.config import ModelConfig

MAX_CONFIG_BYTES = 64 * 1024
WANTED = "a `file` part (the .onnx or .tflite model) and an optional `config` part (JSON)"


def staging_root(settings: Settings) -> Path:
    """Where uploads are staged (each in a private directory) while they are received."""
    return settings.state_dir / "uploads"


def _too_large(limit_bytes: int) -> InvalidInputError:
    return InvalidInputError(
        f"file: the upload exceeds the model size limit of {limit_bytes} bytes (MAAS_MAX_MODEL_BYTES)",
        ("file",),
    )


def _parse_config(value: str | UploadFile | None, text: bytes | None) -> dict | None:
    if value is None:
        return None
    raw = text if text is not None else str(value).encode()
    try:
        config = orjson.loads(raw)
        ModelConfig.model_validate(config)
    except orjson.JSONDecodeError as e:
        raise InvalidInputError(f"config: malformed JSON: {e}", ("config",)) from e
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(f"config.{where}: {first['msg']}", ("config", *first["loc"])) from e
    return config


async def _stage(file: UploadFile, folder: Path) -> Path:
    suffix = Path(file.filename or "").suffix.lower()
    target = folder / f"model{suffix}"
    with target.open("wb") as out:
        while chunk := await file.read(1 << 20):
            out.write(chunk)
    return target


def _limits(limit_bytes: int) -> FormLimits:
    return FormLimits(
        file_bytes=limit_bytes,
        too_large=lambda: _too_large(limit_bytes),
        field_bytes=MAX_CONFIG_BYTES,
        max_fields=4,
        max_files=2,  # the config may come as a file part too
        slack_bytes=MAX_CONFIG_BYTES,  # the form may carry a config beside the file
    )


def sweep_uploads(staging_root: Path, older_than_s: float) -> None:
    """Removes staged uploads a killed API process left behind (never a live one: those are
    younger than any upload may take)."""
    cutoff = time.time() - older_than_s
    for folder in staging_root.glob("upload-*") if staging_root.is_dir() else ():
        if folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def received_upload(request: Request, staging_root: Path, limit_bytes: int):
    """The upload staged in a private directory under `staging_root`, removed afterwards."""
    staging_root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=staging_root, prefix="upload-"))
    form = None
    try:
        form = await read_form(request, _limits(limit_bytes), WANTED)
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidInputError("file: missing; send the model as the `file` part", ("file",))
        config_part = form.get("config")
        config_text = await config_part.read() if isinstance(config_part, UploadFile) else None
        config = _parse_config(config_part, config_text)
        path = await _stage(file, folder)
        if path.stat().st_size > limit_bytes:
            raise _too_large(limit_bytes)
        yield Upload(path, file.filename or "", config)
    finally:
        if form is not None:
            await form.close()
        shutil.rmtree(folder, ignore_errors=True)
