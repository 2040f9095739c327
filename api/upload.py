"""Receives a model upload (multipart: `file`, optional `config`) into a staging directory, within
the size limit, without holding it in memory and without touching the repository. The `file` may
be a model file or an archive (.tar, .tar.gz, .tgz, .zip) of the model with its external data
files and optionally its config.json, unpacked under maas.models.archive's checks. This is the
HTTP half of an upload; ModelService validates and stores the staged version."""

import asyncio
import contextlib
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath

import orjson
from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from api.by_reference import allowed_source, allowed_url, fetch_url, is_url, take_directory, take_file
from api.chunked import ChunkedUploads
from api.forms import FormLimits, check_known_fields, read_form
from api.services.models import Upload
from maas.core.errors import InvalidInputError
from maas.core.settings import Settings
from maas.models.archive import ARCHIVE_SUFFIXES, ArchiveLimits, is_archive, member_path, model_of, unpack
from maas.models.config import ModelConfig
from maas.models.external_data import version_files
from maas.models.store import CONFIG_FILE, METADATA_FILE, MODEL_SUFFIXES, RETIRED_FILE

MAX_CONFIG_BYTES = 64 * 1024
WANTED = (
    "a `file` part (the .onnx or .tflite model, or a .tar/.tar.gz/.tgz/.zip archive of it with "
    "its external data files), optional `data` parts (its external data files, each named by "
    "its path beside the model) and an optional `config` part (JSON)"
)


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
        # strict, as the document states it: JSON types as written (no false for 0, no "5" for 5)
        ModelConfig.model_validate_json(raw, strict=True)
    except orjson.JSONDecodeError as e:
        raise InvalidInputError(f"config: malformed JSON: {e}", ("config",)) from e
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(f"config.{where}: {first['msg']}", ("config", *first["loc"])) from e
    return config


async def _stage(file: UploadFile, target: Path) -> Path:
    with target.open("wb") as out:
        while chunk := await file.read(1 << 20):
            out.write(chunk)
    return target


def _archive_config(version_dir: Path, files: list[str], config: dict | None) -> dict | None:
    """The archive's config.json, when it has one; refused beside a `config` part (which of
    the two was meant is not ours to guess)."""
    if CONFIG_FILE not in files:
        return config
    if config is not None:
        raise InvalidInputError(
            "config: sent both as a part and as config.json in the archive; send one", ("config",)
        )
    text = (version_dir / CONFIG_FILE).read_bytes()
    if len(text) > MAX_CONFIG_BYTES:
        raise InvalidInputError(f"config: config.json is over {MAX_CONFIG_BYTES} bytes", ("config",))
    return _parse_config("", text)


def stage_version(
    source: Path, filename: str, folder: Path, settings: Settings, config: dict | None
) -> Upload:
    """The staged version directory `folder`/version from a received file: a model file moved
    into it, or an archive unpacked into it (then removed)."""
    version_dir = folder / "version"
    version_dir.mkdir()
    if not is_archive(filename):
        target = version_dir / f"model{Path(filename).suffix.lower()}"
        source.rename(target)
        return Upload(target, filename, config)
    limits = ArchiveLimits(settings.max_model_bytes, settings.max_version_files)
    files = unpack(source, version_dir, limits)
    source.unlink()
    model = model_of(version_dir, files)
    config = _archive_config(version_dir, [str(f) for f in files], config)
    data = sorted(version_files(version_dir) - {model.name, CONFIG_FILE})
    return Upload(model, filename, config, data)


def _limits(limit_bytes: int, max_files: int) -> FormLimits:
    return FormLimits(
        file_bytes=limit_bytes,
        too_large=lambda: _too_large(limit_bytes),
        field_bytes=MAX_CONFIG_BYTES,
        max_fields=4,
        max_files=max_files + 1,  # the model, its data parts, and the config as a file part
        slack_bytes=MAX_CONFIG_BYTES,  # the form may carry a config beside the file
    )


async def _with_data_parts(upload: Upload, parts: list) -> Upload:
    """The model's external data sent as `data` parts beside it, each named by its path
    relative to the model (its filename), staged beside the model under the archive's rules."""
    if not parts:
        return upload
    if upload.data_files or is_archive(upload.filename):
        raise InvalidInputError(
            "data: send external data inside the archive or as parts, not both", ("data",)
        )
    names = []
    for part in parts:
        if not isinstance(part, UploadFile):
            raise InvalidInputError("data: send each data file as a file part (with a filename)", ("data",))
        try:
            relative = str(member_path(part.filename or ""))
        except InvalidInputError as e:
            raise InvalidInputError(e.message.replace("file: archive refused:", "data:"), ("data",)) from e
        if relative in names or relative in (upload.path.name, CONFIG_FILE, METADATA_FILE, RETIRED_FILE):
            raise InvalidInputError(f"data: {relative!r} is sent twice or is a reserved name", ("data",))
        target = upload.path.parent / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        await _stage(part, target)
        names.append(relative)
    return Upload(upload.path, upload.filename, upload.config, sorted(names))


def sweep_uploads(staging_root: Path, older_than_s: float) -> None:
    """Removes staged uploads a killed API process left behind (never a live one: those are
    younger than any upload may take)."""
    cutoff = time.time() - older_than_s
    for folder in staging_root.glob("upload-*") if staging_root.is_dir() else ():
        if folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def received_upload(request: Request, settings: Settings):
    """The upload staged in a private directory under the staging root, removed afterwards."""
    staging = staging_root(settings)
    limit_bytes = settings.max_model_bytes
    staging.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=staging, prefix="upload-"))
    form = None
    try:
        form = await read_form(request, _limits(limit_bytes, settings.max_version_files), WANTED)
        check_known_fields(form, ("file", "config", "data"))
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidInputError("file: missing; send the model as the `file` part", ("file",))
        config_part = form.get("config")
        config_text = await config_part.read() if isinstance(config_part, UploadFile) else None
        config = _parse_config(config_part, config_text)
        filename = file.filename or ""
        received = await _stage(file, folder / "received")
        if received.stat().st_size > limit_bytes:
            raise _too_large(limit_bytes)
        upload = await asyncio.to_thread(stage_version, received, filename, folder, settings, config)
        yield await _with_data_parts(upload, form.getlist("data"))
    finally:
        if form is not None:
            await form.close()
        shutil.rmtree(folder, ignore_errors=True)


def chunked_uploads(settings: Settings) -> ChunkedUploads:
    return ChunkedUploads(staging_root(settings), settings.upload_expiry_s)


def check_upload_request(filename: str, size_bytes: int, config: object, settings: Settings) -> dict | None:
    """What a resumable upload is created with, checked before a byte is sent."""
    if not filename.lower().endswith((*MODEL_SUFFIXES, *ARCHIVE_SUFFIXES)):
        raise InvalidInputError(
            f"filename: {filename!r} must end in one of {[*MODEL_SUFFIXES, *ARCHIVE_SUFFIXES]}", ("filename",)
        )
    if size_bytes > settings.max_model_bytes:
        raise _too_large(settings.max_model_bytes)
    return _parse_config(orjson.dumps(config).decode(), None) if config is not None else None


@contextlib.asynccontextmanager
async def finished_upload(name: str, upload_id: str, sha256: str, settings: Settings):
    """A complete resumable upload whose sha256 matches, staged as a version like a one-request
    upload (and removed afterwards, whatever its validation says)."""
    staging = staging_root(settings)
    folder = Path(tempfile.mkdtemp(dir=staging, prefix="upload-"))
    try:
        uploads = chunked_uploads(settings)
        received, state = await asyncio.to_thread(uploads.take, name, upload_id, sha256, folder)
        filename, config = state["filename"], state.get("config")
        yield await asyncio.to_thread(stage_version, received, filename, folder, settings, config)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _stage_reference(source: Path, folder: Path, settings: Settings, config: dict | None) -> Upload:
    if not source.is_dir():
        received = take_file(source, folder / "received")
        return stage_version(received, source.name, folder, settings, config)
    version_dir = folder / "version"
    version_dir.mkdir()
    files = [PurePosixPath(f) for f in take_directory(source, version_dir, settings)]
    files = [f for f in files if str(f) not in (METADATA_FILE, RETIRED_FILE)]  # a copied version's own
    model = model_of(version_dir, files)
    config = _archive_config(version_dir, [str(f) for f in files], config)
    data = sorted(version_files(version_dir) - {model.name, CONFIG_FILE, METADATA_FILE, RETIRED_FILE})
    return Upload(model, str(source), config, data)


@contextlib.asynccontextmanager
async def referenced_upload(path: str, config: object, settings: Settings):
    """A version taken from a path under MAAS_UPLOAD_REFERENCE_DIRS or a URL under
    MAAS_UPLOAD_REFERENCE_URLS (a model, an archive or a version directory), staged as a
    one-request upload is, without a transfer from the client."""
    checked_config = _parse_config(orjson.dumps(config).decode(), None) if config is not None else None
    url = allowed_url(path, settings) if is_url(path) else None
    source = allowed_source(path, settings) if url is None else None
    staging = staging_root(settings)
    staging.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=staging, prefix="upload-"))
    try:
        if url is not None:
            (folder / "store").mkdir()
            source = await asyncio.to_thread(fetch_url, url, folder / "store", settings)
        assert source is not None
        yield await asyncio.to_thread(_stage_reference, source, folder, settings, checked_config)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
