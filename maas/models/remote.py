"""A model repository in an object store (`s3://bucket/models`, or any URL fsspec knows), read
by workers and the API through a local cache that is itself a plain repository (maas.models.registry).

A version's weights (its model file and external data) never change once written, so each is
fetched once: into a private folder, every file's size checked against the listing and its
sha256 against version.json where that records one, then renamed into place whole, so the
registry sees a version complete or not at all. Its JSON files (config.json, retired.json,
version.json) may change, and are small: they follow the store at every sync. The cache holds at
most MAAS_MODEL_CACHE_MAX_BYTES of weights: versions gone from the store leave it, and a version
that would not fit is not fetched (logged) until room is made. Credentials and endpoints come
from fsspec's own configuration (for S3 the standard AWS_* variables), as for bulk files.

The API only reads the store: versions, config.json and retired.json reach it through the
operator's pipeline (as with Triton's repository on S3), because a version one API host wrote
would have to be published whole before any other host or worker could safely see it. Aliases,
their history, retire marks and version numbers stay in Redis, shared by every process."""

import asyncio
import contextlib
import fcntl
import logging
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from maas.core.errors import FileStoreError, MaasError
from maas.core.object_store import filesystem
from maas.core.settings import Settings
from maas.models import store as model_store

log = logging.getLogger(__name__)
JSON_FILES = (model_store.CONFIG_FILE, model_store.METADATA_FILE, model_store.RETIRED_FILE)
Listing = dict[str, int]  # path relative to the version -> size
FETCH_BLOCK_BYTES = 8 << 20
SYNC_LOCK = ".sync.lock"  # in the cache: `maas serve`'s API and worker may share one cache


def repository_dir(settings: Settings) -> Path:
    """The directory a process reads the model repository from: MAAS_MODEL_REPOSITORY, or the
    local cache of MAAS_MODEL_REPOSITORY_URL."""
    if not settings.model_repository_url:
        return settings.model_repository
    return settings.model_cache_dir or settings.state_dir / "model-cache"


def repository_root(settings: Settings) -> tuple[Path, "RepositoryMirror | None"]:
    """repository_dir, and with MAAS_MODEL_REPOSITORY_URL the mirror that fills it."""
    root = repository_dir(settings)
    if not settings.model_repository_url:
        return root, None
    return root, RepositoryMirror(settings.model_repository_url, root, settings.model_cache_max_bytes)


class RepositoryMirror:
    def __init__(self, url: str, cache_dir: Path, max_bytes: int):
        self.fs, self.root = filesystem(url, "model repository")
        self.url = url
        self.cache_dir = Path(cache_dir)
        self.max_bytes = max_bytes
        # Versions being fetched -> [bytes fetched, bytes in all], written by the syncing thread
        # (one int at a time), read by the worker's heartbeat.
        self.fetching: dict[tuple[str, int], list[int]] = {}

    def _listing(self) -> dict[tuple[str, int], Listing]:
        """Every version in the store with its files' sizes, from one recursive listing."""
        self.fs.invalidate_cache()
        versions: dict[tuple[str, int], Listing] = {}
        for path, info in self.fs.find(self.root, detail=True).items():
            parts = PurePosixPath(path).relative_to(self.root).parts
            if len(parts) < 3 or not model_store.NAME_PATTERN.match(parts[0]) or not parts[1].isdigit():
                continue
            key = (parts[0], int(parts[1]))
            versions.setdefault(key, {})["/".join(parts[2:])] = int(info["size"])
        return versions

    async def follow(self, period_s: float, synced: asyncio.Event) -> None:
        """Syncs every `period_s`, in a thread, setting `synced` after each; runs until
        cancelled. What is cached keeps serving while the store cannot be read."""
        while True:
            await asyncio.sleep(period_s)
            try:
                await asyncio.to_thread(self.sync)
            except (OSError, MaasError) as e:
                log.error("cannot read the model repository %s: %r", self.url, e)
            synced.set()

    def sync(self) -> None:
        """Makes the cache follow the store: new versions fetched, JSON files refreshed, versions
        gone from the store removed. One process at a time per cache (flock): another waits."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with (self.cache_dir / SYNC_LOCK).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._sync()

    def _sync(self) -> None:
        self._drop_partial()
        listing = self._listing()
        self._drop_gone(listing)
        for key, files in sorted(listing.items()):
            try:
                self._follow(key, files)
            except (OSError, FileStoreError) as e:  # this version is retried at the next sync
                log.error("cannot fetch %s v%s from %s: %s", *key, self.url, e)

    def _drop_partial(self) -> None:
        """Folders a fetch cut short (the worker killed mid-fetch) left behind."""
        for partial in self.cache_dir.glob("*/.*-partial-*") if self.cache_dir.is_dir() else ():
            shutil.rmtree(partial, ignore_errors=True)

    def _drop_gone(self, listing: dict[tuple[str, int], Listing]) -> None:
        for model_dir in self.cache_dir.glob("*/") if self.cache_dir.is_dir() else ():
            for version_dir in model_dir.iterdir():
                if version_dir.name.isdigit() and (model_dir.name, int(version_dir.name)) not in listing:
                    log.info("%s v%s left the object store; dropping it", model_dir.name, version_dir.name)
                    shutil.rmtree(version_dir, ignore_errors=True)

    def cached_bytes(self) -> int:
        if not self.cache_dir.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.cache_dir.rglob("*") if p.is_file() and p.suffix != ".json")

    def _follow(self, key: tuple[str, int], files: Listing) -> None:
        local = self.cache_dir / key[0] / str(key[1])
        weights = {path: size for path, size in files.items() if path not in JSON_FILES}
        if not local.is_dir():
            needed = sum(weights.values())
            if self.cached_bytes() + needed > self.max_bytes:
                why = f"MAAS_MODEL_CACHE_MAX_BYTES={self.max_bytes}"
                log.warning(
                    "%s v%s (%d bytes) does not fit the model cache (%s); not fetched", *key, needed, why
                )
                return
            self._fetch(key, files, local)
        for name in JSON_FILES:
            if name in files:
                self.fs.get(self._remote(key, name), str(local / name))
            else:
                (local / name).unlink(missing_ok=True)

    def _remote(self, key: tuple[str, int], path: str) -> str:
        return f"{self.root}/{key[0]}/{key[1]}/{path}"

    def _fetch(self, key: tuple[str, int], files: Listing, local: Path) -> None:
        """Every file of the version into a private folder, checked, then renamed into place."""
        local.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=local.parent, prefix=f".{key[1]}-partial-"))
        self.fetching[key] = progress = [0, sum(files.values())]
        try:
            for path, size in files.items():
                target = partial / path
                if not target.resolve().is_relative_to(partial.resolve()):
                    raise FileStoreError(f"{path!r} leaves the version")
                target.parent.mkdir(parents=True, exist_ok=True)
                with self.fs.open(self._remote(key, path), "rb") as source, target.open("wb") as out:
                    while block := source.read(FETCH_BLOCK_BYTES):
                        out.write(block)
                        progress[0] += len(block)
                if target.stat().st_size != size:
                    raise FileStoreError(f"{path}: {target.stat().st_size} bytes fetched, {size} listed")
            self._check_digests(partial)
            partial.rename(local)
            log.info("fetched %s v%s from %s (%d files)", *key, self.url, len(files))
        finally:
            self.fetching.pop(key, None)
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(partial)

    @staticmethod
    def _check_digests(version_dir: Path) -> None:
        """The sha256 version.json records for the model file and each data file, when it does
        (a version dropped in by hand may have no version.json)."""
        metadata = model_store.read_json(version_dir / model_store.METADATA_FILE) or {}
        expected = {p.name: metadata.get("sha256") for p in version_dir.glob("model.*")}
        expected.update({f["path"]: f.get("sha256") for f in metadata.get("data_files", [])})
        for path, digest in expected.items():
            if digest and model_store.file_sha256(version_dir / path) != digest:
                raise FileStoreError(f"{path}: its sha256 differs from version.json's")
