"""Bulk files in an object store (S3 and whatever else fsspec speaks), behind the FileStore
interface of maas.core.file_store.

Credentials, endpoint and region come from where the store's own library looks (for S3 the
standard AWS_* variables, including AWS_ENDPOINT_URL for MinIO and other S3-compatible servers,
or fsspec's FSSPEC_S3_* configuration), never from a maas setting: they stay out of maas's
settings dumps and logs. An object is written whole or not at all: S3 publishes a (multipart)
upload only when it completes, and a failed write aborts it."""

import contextlib
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import BinaryIO, cast

import fsspec

from maas.core.errors import FileStoreError


def filesystem(url: str, what: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem of `url` and the root path in it (no trailing /); `what` names the store
    in the error when the protocol is unknown or its package not installed."""
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        raise FileStoreError(f"{what} {url!r}: {e}") from e
    return fs, root.rstrip("/")


class FsspecFileStore:
    def __init__(self, url: str):
        self.fs, self.root = filesystem(url, "file store")
        self.url = url

    def _path(self, path: str) -> str:
        parts = PurePosixPath(path).parts
        if not parts or path.startswith("/") or ".." in parts:
            raise FileStoreError(f"path {path!r} leaves the file store")
        return f"{self.root}/{path}"

    def open_read(self, path: str) -> BinaryIO:
        try:
            return cast(BinaryIO, self.fs.open(self._path(path), "rb"))
        except FileNotFoundError as e:
            raise FileStoreError(f"{path}: not in the file store") from e

    @contextlib.contextmanager
    def write_atomic(self, path: str) -> Iterator[BinaryIO]:
        target = self.fs.open(self._path(path), "wb")
        try:
            yield cast(BinaryIO, target)
        except BaseException:
            # Closing would publish what was written so far: abort the upload instead.
            discard = getattr(target, "discard", None)
            if discard is not None:
                discard()
                target.closed = True  # discarded: fsspec's __del__ must not try to publish it
            else:
                target.close()
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm(self._path(path))
            raise
        target.close()

    def exists(self, path: str) -> bool:
        return bool(self.fs.isfile(self._path(path)))

    def size(self, path: str) -> int:
        return int(self.fs.size(self._path(path)))

    def remove_tree(self, prefix: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._path(prefix), recursive=True)
        self.fs.invalidate_cache()
