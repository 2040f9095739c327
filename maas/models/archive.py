"""Unpacks an uploaded archive (tar, optionally gzip-compressed, or zip) into a version's staging
directory: a model file and its external data files (and optionally its config.json).

Nothing in the archive is trusted: every member must be a regular file (or a directory) whose
name is relative, plain (letters, digits, `_`, `.`, `-`, no segment starting with `.`) and stays
inside the directory; a link, a device, an absolute path, `..`, a duplicate (after normalising)
or a reserved name refuses the whole archive. The file count and the bytes actually written are
counted as they are unpacked (never the sizes the headers claim), so a bomb stops at the limit.
The caller removes the directory on any error: a refused archive leaves nothing behind."""

import re
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from maas.core.errors import InvalidInputError
from maas.models.store import MODEL_SUFFIXES

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")
_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")
_MAX_DEPTH = 8
# Written by the repository itself: an archive may not bring its own.
RESERVED = frozenset({"version.json", "retired.json", "aliases.json"})
_BLOCK = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    max_bytes: int  # the unpacked files together
    max_files: int


def is_archive(filename: str) -> bool:
    return filename.lower().endswith(ARCHIVE_SUFFIXES)


def _refuse(message: str) -> InvalidInputError:
    return InvalidInputError(f"file: archive refused: {message}", ("file",))


def member_path(name: str) -> PurePosixPath:
    """The member's relative path, or InvalidInputError for any name that could leave the
    directory or hide from a reader."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise _refuse(f"{name!r} is an absolute path")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(f"{name!r} leaves the version directory")
    if not parts or len(parts) > _MAX_DEPTH or not all(_SEGMENT.match(p) for p in parts):
        raise _refuse(
            f"{name!r}: each path segment must be 1-128 of A-Z, a-z, 0-9, _, . and -, not "
            f"starting with '.', at most {_MAX_DEPTH} deep"
        )
    return PurePosixPath(*parts)


class _Writer:
    """Writes members under `target`, counting files and bytes against the limits."""

    def __init__(self, target: Path, limits: ArchiveLimits):
        self.target, self.limits = target, limits
        self.files: set[PurePosixPath] = set()
        self.written_bytes = 0

    def add(self, name: str, source: IO[bytes]) -> None:
        path = member_path(name)
        clash = path in self.files or any(parent in self.files for parent in path.parents)
        if clash or any(path in f.parents for f in self.files):
            raise _refuse(f"{name!r} appears twice (or also as a directory)")
        if len(self.files) >= self.limits.max_files:
            raise _refuse(f"more than {self.limits.max_files} files (MAAS_MAX_VERSION_FILES)")
        self.files.add(path)
        destination = self.target.joinpath(*path.parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with destination.open("xb") as out:
            while block := source.read(_BLOCK):
                self.written_bytes += len(block)
                if self.written_bytes > self.limits.max_bytes:
                    raise _refuse(
                        f"its files unpack to more than {self.limits.max_bytes} bytes (MAAS_MAX_MODEL_BYTES)"
                    )
                out.write(block)


def _tar_members(archive: tarfile.TarFile) -> Iterator[tuple[str, IO[bytes]]]:
    for member in archive:
        if member.isdir():
            member_path(member.name)
            continue
        if not member.isreg():
            raise _refuse(f"{member.name!r} is a link or a special file; only regular files are taken")
        source = archive.extractfile(member)
        assert source is not None  # a regular file always has content
        yield member.name, source


def _zip_members(archive: zipfile.ZipFile) -> Iterator[tuple[str, IO[bytes]]]:
    for info in archive.infolist():
        mode = info.external_attr >> 16
        if info.is_dir():
            member_path(info.filename)
            continue
        if stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # type bits are optional in a zip
            raise _refuse(f"{info.filename!r} is a link or a special file; only regular files are taken")
        with archive.open(info) as source:
            yield info.filename, source


def unpack(archive_path: Path, target: Path, limits: ArchiveLimits) -> list[PurePosixPath]:
    """Unpacks the archive into `target` (which must exist and be empty); returns the files."""
    writer = _Writer(target, limits)
    try:
        if zipfile.is_zipfile(archive_path):
            with zipfile.ZipFile(archive_path) as archive:
                for name, source in _zip_members(archive):
                    writer.add(name, source)
        else:
            with tarfile.open(archive_path, "r:*") as archive:
                for name, source in _tar_members(archive):
                    writer.add(name, source)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise _refuse(f"not a readable tar or zip archive ({e})") from e
    _strip_single_top_folder(target, writer.files)
    if reserved := sorted(str(p) for p in writer.files if str(p) in RESERVED):
        raise _refuse(f"{reserved} are written by the repository itself")
    return sorted(writer.files)


def model_of(target: Path, files: list[PurePosixPath]) -> Path:
    """The archive's model file: the one .onnx or .tflite file at its top level, renamed
    model<suffix> (external data is found relative to its folder, so the name is free)."""
    models = [p for p in files if len(p.parts) == 1 and p.suffix in MODEL_SUFFIXES]
    if len(models) != 1:
        found = [str(p) for p in models] or "none"
        raise _refuse(f"it must hold exactly one .onnx or .tflite file at its top level (found {found})")
    (model,) = models
    canonical = PurePosixPath(f"model{model.suffix}")
    if model != canonical and canonical in files:
        raise _refuse(f"{canonical} must be the model file, not a data file")
    (target / model.name).rename(target / canonical.name)
    return target / canonical.name


def _strip_single_top_folder(target: Path, files: set[PurePosixPath]) -> None:
    """`tar czf m.tgz mymodel/` wraps everything in one folder: its contents become the version."""
    tops = {p.parts[0] for p in files}
    if len(tops) != 1 or any(len(p.parts) == 1 for p in files):
        return
    (top,) = tops
    inner = target / top
    moved = target / f".{top}-unwrapped"
    inner.rename(moved)
    for child in moved.iterdir():
        child.rename(target / child.name)
    shutil.rmtree(moved)
    files.clear()
    files.update(PurePosixPath(*q.relative_to(target).parts) for q in target.rglob("*") if q.is_file())
