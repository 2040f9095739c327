"""Uploads by reference: the version's file (a model or an archive) or directory already sits on a
disk the API shares, under one of MAAS_UPLOAD_REFERENCE_DIRS, so nothing is transferred. The
source is never changed: its files are copied into staging (in the kernel, copy_file_range; not
hard-linked, which onnx's checker refuses as a possible hard-link attack, and which would let a
later write to the source change a stored version), and a directory's members meet the archive
checks (plain relative names, regular files only, bounded count and size). The source may also
be an object-store URL under one of MAAS_UPLOAD_REFERENCE_URLS (an object, or a prefix holding a
version's files), fetched by the API straight from the store: the client sends nothing."""

import shutil
from pathlib import Path, PurePosixPath

import fsspec

from maas.core.errors import ForbiddenError, InvalidInputError
from maas.core.settings import Settings
from maas.models.archive import member_path


def _refuse(message: str) -> InvalidInputError:
    return InvalidInputError(f"path: {message}", ("path",))


def allowed_source(path: str, settings: Settings) -> Path:
    """The resolved path, if it lies under an allowed directory (links followed first, so a link
    cannot lead out); 403 while none is configured."""
    if not settings.upload_reference_dirs:
        raise ForbiddenError("uploads by reference are off: MAAS_UPLOAD_REFERENCE_DIRS names no directory")
    if not Path(path).is_absolute():
        raise _refuse(f"{path!r} must be an absolute path")
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(Path(d).resolve()) for d in settings.upload_reference_dirs):
        raise _refuse(f"{path!r} is not under a directory of MAAS_UPLOAD_REFERENCE_DIRS")
    if not resolved.exists():
        raise _refuse(f"{path!r} does not exist")
    return resolved


def _take(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def take_file(source: Path, target: Path) -> Path:
    if not source.is_file():
        raise _refuse(f"{source} is not a regular file")
    _take(source, target)
    return target


def take_directory(source: Path, target: Path, settings: Settings) -> list[str]:
    """Copies a version directory's files into `target`; their relative paths."""
    files = sorted(p for p in source.rglob("*") if not p.is_dir())
    if len(files) > settings.max_version_files:
        raise _refuse(f"more than {settings.max_version_files} files (MAAS_MAX_VERSION_FILES)")
    total = 0
    names = []
    for path in files:
        relative = str(member_path(path.relative_to(source).as_posix()))
        if path.is_symlink() or not path.is_file():
            raise _refuse(f"{relative!r} is a link or a special file; only regular files are taken")
        total += path.stat().st_size
        if total > settings.max_model_bytes:
            raise _refuse(f"its files hold more than {settings.max_model_bytes} bytes (MAAS_MAX_MODEL_BYTES)")
        _take(path, target / relative)
        names.append(relative)
    return names


def is_url(reference: str) -> bool:
    return "://" in reference


def allowed_url(url: str, settings: Settings) -> str:
    """The URL, if it lies under an allowed prefix; 403 while none is configured."""
    if not settings.upload_reference_urls:
        raise ForbiddenError("uploads by URL are off: MAAS_UPLOAD_REFERENCE_URLS names no prefix")
    if ".." in url.split("://", 1)[1].split("/"):
        raise _refuse(f"{url!r} must not contain '..'")
    if not any(url.startswith(prefix.rstrip("/") + "/") for prefix in settings.upload_reference_urls):
        raise _refuse(f"{url!r} is not under a prefix of MAAS_UPLOAD_REFERENCE_URLS")
    return url


def fetch_url(url: str, folder: Path, settings: Settings) -> Path:
    """The object (a model or an archive) as folder/<its name>, or the files under the prefix in
    folder/fetched/, within the size and count limits (checked on the listing, before a byte
    is fetched)."""
    try:
        fs, root = fsspec.core.url_to_fs(url)
        if fs.isfile(root):
            listing = {PurePosixPath(root).name: int(fs.size(root))}
            base = str(PurePosixPath(root).parent)
        else:
            base = root.rstrip("/")
            found = fs.find(base, detail=True)
            listing = {
                PurePosixPath(p).relative_to(base).as_posix(): int(i["size"]) for p, i in found.items()
            }
    except (ImportError, ValueError, OSError) as e:
        raise _refuse(f"{url!r} cannot be read: {e}") from e
    if not listing:
        raise _refuse(f"{url!r} does not exist")
    if len(listing) > settings.max_version_files:
        raise _refuse(f"more than {settings.max_version_files} files (MAAS_MAX_VERSION_FILES)")
    if sum(listing.values()) > settings.max_model_bytes:
        raise _refuse(f"its files hold more than {settings.max_model_bytes} bytes (MAAS_MAX_MODEL_BYTES)")
    target = folder if fs.isfile(root) else folder / "fetched"
    for relative in listing:
        local = target / str(member_path(relative))
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            fs.get(f"{base}/{relative}", str(local))
        except OSError as e:
            raise _refuse(f"{url!r}: {relative} cannot be fetched: {e}") from e
    return target / next(iter(listing)) if fs.isfile(root) else target
