"""Writes to the model repository: new versions, config changes, retirements.

Every write is atomic for readers (a version directory appears whole, by rename; a JSON file is
replaced whole, by os.replace), so an API or worker scanning the repository never sees half a
version. Writers of one model serialize on a lock file beside its versions.
"""

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from maas.core.errors import InvalidInputError
from maas.core.signature import Signature
from maas.models.signatures import SIGNATURE_FIELD, read_signature

MODEL_SUFFIXES = (".onnx", ".tflite")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CONFIG_FILE = "config.json"
METADATA_FILE = "version.json"  # sha256, size, created_at, signature, who uploaded it
RETIRED_FILE = "retired.json"  # present once retired: when and by whom
LOCK_FILE = ".versions.lock"
STAGING_PREFIX = ".staging-"
DataFiles = list[str] | tuple[str, ...]  # paths relative to the model file's folder


def check_model_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise InvalidInputError(
            f"model name {name!r}: 1-64 of A-Z, a-z, 0-9, _, . and -, starting with a letter or digit",
            ("name",),
        )


def _check_files(model_file: Path, extras: dict[str, bytes]) -> None:
    if model_file.suffix not in MODEL_SUFFIXES:
        raise InvalidInputError(
            f"{model_file.name}: a model file must end in one of {list(MODEL_SUFFIXES)}", ("file",)
        )
    reserved = {CONFIG_FILE, RETIRED_FILE} | {f"model{suffix}" for suffix in MODEL_SUFFIXES}
    clashing = sorted(set(extras) & reserved)
    bad_names = [n for n in extras if Path(n).name != n or n.startswith(".")]
    if clashing or bad_names:
        raise InvalidInputError(f"extra files {clashing + bad_names}: reserved or not a plain name")


@contextmanager
def locked(model_dir: Path) -> Iterator[None]:
    """Serializes writers of one model across processes sharing the repository."""
    model_dir.mkdir(parents=True, exist_ok=True)
    with (model_dir / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def write_json(path: Path, value: object) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write("\n")
    os.chmod(temporary, 0o644)  # mkstemp makes it 0600; workers may run as another user
    os.replace(temporary, path)


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def numbered_versions(model_dir: Path) -> list[int]:
    """Every version directory, retired ones included: numbers are never reused."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.name.isdigit() and int(p.name) > 0)


def add_version(
    root: Path,
    name: str,
    model_file: Path,
    config: dict | None = None,
    extras: dict[str, bytes] | None = None,
    signature: Signature | None = None,
    data_files: DataFiles = (),
    move: bool = False,
    next_version: Callable[[str, int], int | None] | None = None,
) -> int:
    """Copies `model_file` (keeping its suffix, as model<suffix>) with its config, extra files
    and `data_files` (its external data: paths relative to its folder, kept as they are) into the
    next free version of `name`; returns that version. `move` moves the files instead (a staged
    upload: a rename where both sit on one filesystem, so gigabytes are not copied). The version
    directory is built under a hidden name and renamed into place, so it appears complete or not
    at all.
    `extras` may hold version.json's caller fields as JSON (e.g. who uploaded it). version.json
    stores the model's signature (`signature`, else read from the file now), so serving the
    version never loads the file just to learn it. `next_version(name, highest on disk)` hands
    out the number where the repository's state is shared (Redis); else it is the highest
    directory + 1, under the model directory's flock."""
    model_file = Path(model_file)
    extras = dict(extras or {})
    check_model_name(name)
    _check_files(model_file, extras)
    signature = signature or read_signature(model_file)
    model_dir = Path(root) / name
    created = not model_dir.exists()
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=model_dir, prefix=STAGING_PREFIX))
    try:
        facts = _place_files(model_file, data_files, staging, move)
        caller_fields = json.loads(extras.pop(METADATA_FILE, b"{}"))
        _write_metadata(staging, facts, caller_fields, signature)
        if config:
            write_json(staging / CONFIG_FILE, config)
        for filename, content in extras.items():
            (staging / filename).write_bytes(content)
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700; the version is for every reader
        return _publish(staging, model_dir, name, next_version)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            _remove_if_unused(model_dir)
        raise


def _publish(staging: Path, model_dir: Path, name: str, next_version) -> int:
    """Renames the staged version into place under a fresh number; returns the number."""
    while next_version and (version := next_version(name, max(numbered_versions(model_dir), default=0))):
        try:
            os.rename(staging, model_dir / str(version))  # fails on a (non-empty) version there
            return version
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise  # else: a directory made by hand or by a file-numbered writer; next number
    with locked(model_dir):
        version = max(numbered_versions(model_dir), default=0) + 1
        os.rename(staging, model_dir / str(version))
    return version


def _place(source: Path, target: Path, move: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if move:
        try:
            os.rename(source, target)
            os.chmod(target, 0o644)  # staged files are private to the API's user
            return
        except OSError:  # another filesystem: copied below
            pass
    shutil.copyfile(source, target)


def _place_files(model_file: Path, data_files: DataFiles, staging: Path, move: bool) -> dict:
    """Places the model and its data files in the staging version; their facts for version.json:
    the model's sha256, the size of every file together, and each data file's own."""
    model_facts = file_facts(model_file)
    files = []
    for relative in data_files:
        facts = file_facts(model_file.parent / relative)
        files.append({"path": relative, **facts})
        target = staging / relative
        if not target.resolve().is_relative_to(staging.resolve()) or relative in (CONFIG_FILE, METADATA_FILE):
            raise InvalidInputError(f"data file {relative!r}: not a plain path inside the version")
        _place(model_file.parent / relative, target, move)
    _place(model_file, staging / f"model{model_file.suffix}", move)
    total = model_facts["size_bytes"] + sum(f["size_bytes"] for f in files)
    return {**model_facts, "size_bytes": total, **({"data_files": files} if files else {})}


def _write_metadata(staging: Path, facts: dict, caller_fields: dict, signature: Signature) -> None:
    facts = {**facts, "created_at": time.time(), SIGNATURE_FIELD: signature.to_dict()}
    write_json(staging / METADATA_FILE, {**caller_fields, **facts})


def _remove_if_unused(model_dir: Path) -> None:
    """Removes a model directory this call created, unless another writer has put anything in it."""
    if all(p.name == LOCK_FILE for p in model_dir.iterdir()):
        (model_dir / LOCK_FILE).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            model_dir.rmdir()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def file_facts(path: Path) -> dict:
    return {"sha256": file_sha256(path), "size_bytes": path.stat().st_size}


def retire(version_dir: Path, actor: str) -> dict:
    record = {"retired_at": time.time(), "by": actor}
    write_json(version_dir / RETIRED_FILE, record)
    return record


def sweep_staging(root: Path, older_than_s: float) -> list[Path]:
    """Removes version directories left half-built by a writer that died (hidden `.staging-*`,
    ignored by readers) once older than `older_than_s`; returns what it removed."""
    cutoff = time.time() - older_than_s
    stale = [p for p in Path(root).glob(f"*/{STAGING_PREFIX}*") if p.is_dir() and p.stat().st_mtime < cutoff]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale
