"""Where bulk jobs keep their files (input, chunks, chunk results): a small interface, served by
a local directory or by an object store through fsspec (maas.core.object_store), chosen by URL.

Paths are relative, `/`-separated names inside the store. A store is named by a URL kept on each
bulk job, so every process (API, rq worker, workers) opens the same store for a job, through
its seal (SealingFileStore) under the same key ring (MAAS_DATA_KEYS).
"""

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from maas.core.errors import FileStoreError, PayloadTooLargeError
from maas.core.object_store import FsspecFileStore
from maas.core.sealed_file import SEGMENT_BYTES, SealedWriter, open_sealed
from maas.core.sealing import CLEAR, Sealer
from maas.core.settings import Settings

COPY_BLOCK_BYTES = 1 << 20


class FileStore(Protocol):
    url: str

    def open_read(self, path: str) -> BinaryIO:
        """A seekable binary file; FileStoreError when it does not exist."""

    def write_atomic(self, path: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A file to write; readers see all of it or none of it (replaced on success only)."""

    def exists(self, path: str) -> bool: ...

    def size(self, path: str) -> int: ...

    def remove_tree(self, prefix: str) -> None:
        """Deletes every file under prefix; nothing there is not an error."""


class LocalFileStore:
    """A directory on a local (or shared network) file system."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.url = self.root.as_uri()

    def _path(self, path: str) -> Path:
        full = (self.root / path).resolve()
        if not full.is_relative_to(self.root):
            raise FileStoreError(f"path {path!r} leaves the file store")
        return full

    def open_read(self, path: str) -> BinaryIO:
        try:
            return self._path(path).open("rb")
        except FileNotFoundError as e:
            raise FileStoreError(f"{path}: not in the file store") from e

    @contextlib.contextmanager
    def write_atomic(self, path: str) -> Iterator[BinaryIO]:
        final = self._path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
        try:
            with temporary.open("wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)

    def exists(self, path: str) -> bool:
        return self._path(path).is_file()

    def size(self, path: str) -> int:
        return self._path(path).stat().st_size

    def remove_tree(self, prefix: str) -> None:
        shutil.rmtree(self._path(prefix), ignore_errors=True)


class SealingFileStore:
    """Another store's files sealed in segments (maas.core.sealed_file), each bound to its path
    (which holds its bulk job's id); with no keys, written in the clear. Files are read through
    their seal, or as they are where written in the clear (before keys were set)."""

    def __init__(self, inner: FileStore, sealer: Sealer, segment_bytes: int = SEGMENT_BYTES):
        self.inner, self.sealer, self.segment_bytes = inner, sealer, segment_bytes
        self.url = inner.url

    def open_read(self, path: str) -> BinaryIO:
        source = self.inner.open_read(path)
        try:
            return open_sealed(source, self.sealer, path)
        except BaseException:
            source.close()
            raise

    @contextlib.contextmanager
    def write_atomic(self, path: str) -> Iterator[BinaryIO]:
        with self.inner.write_atomic(path) as target:
            key = self.sealer.sealing_key
            if key is None:
                yield target
                return
            writer = SealedWriter(target, key, path, self.segment_bytes)
            yield cast(BinaryIO, writer)
            writer.finish()  # only on success: a file cut off by an error has no last segment

    def exists(self, path: str) -> bool:
        return self.inner.exists(path)

    def size(self, path: str) -> int:
        """The clear size."""
        with self.open_read(path) as f:
            return f.seek(0, os.SEEK_END)

    def remove_tree(self, prefix: str) -> None:
        self.inner.remove_tree(prefix)


def base_store(url: str) -> FileStore:
    """The store a URL names, unsealed: file:// is a local directory; any other protocol fsspec
    knows (s3://, gs://, az://, ... with its package installed) an object store."""
    if url.startswith("file://"):
        return LocalFileStore(Path(url.removeprefix("file://")))
    return FsspecFileStore(url)


def configured_store(settings: Settings) -> FileStore:
    """The unsealed store new bulk jobs go to: MAAS_BULK_STORE_URL, else the local directory."""
    if settings.bulk_store_url:
        return base_store(settings.bulk_store_url)
    return LocalFileStore(settings.bulk_store_dir or settings.state_dir / "bulk")


def open_store(url: str, sealer: Sealer = CLEAR) -> FileStore:
    """The store a URL names, through its seal."""
    return SealingFileStore(base_store(url), sealer)


def copy_stream(source: BinaryIO, target: BinaryIO, limit_bytes: int) -> int:
    """Copies in blocks (memory does not grow with the size); returns the bytes copied."""
    copied = 0
    while block := source.read(COPY_BLOCK_BYTES):
        copied += len(block)
        if copied > limit_bytes:
            raise PayloadTooLargeError(f"the file exceeds the limit of {limit_bytes} bytes")
        target.write(block)
    return copied
