"""The model repository: <root>/<name>/<version>/model.onnx or model.tflite, with an optional
config.json beside it, and, for versions that came through the API or `maas export --register`,
version.json (checksum, size, upload time, signature) and retired.json once retired. Writes go
through maas.models.store."""

import json
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pydantic import ValidationError

from maas.core.errors import ConflictError, InvalidInputError, ModelLoadError, ModelNotFoundError
from maas.core.signature import Signature
from maas.models import store as model_store
from maas.models.aliases import AliasStore, RepositoryState
from maas.models.config import ModelConfig, merge_patch
from maas.models.signatures import READERS, read_signature, version_signature

CONFIG_FILE = model_store.CONFIG_FILE
_NAME = model_store.NAME_PATTERN
_RUNTIMES = {".onnx": "onnxruntime", ".tflite": "litert"}


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    path: Path
    runtime: str
    config: ModelConfig
    signature: Signature
    metadata: dict = field(default_factory=dict, compare=False)  # version.json
    retired: dict | None = None  # retired.json: when and by whom

    @property
    def key(self) -> tuple[str, int]:
        return self.name, self.version

    @cached_property
    def sha256(self) -> str:
        return self.metadata.get("sha256") or model_store.file_facts(self.path)["sha256"]


def _model_file(version_dir: Path) -> Path | None:
    for suffix in READERS:
        candidate = version_dir / f"model{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _read_config(path: Path) -> ModelConfig:
    if not path.is_file():
        return ModelConfig()
    try:
        return ModelConfig.model_validate(json.loads(path.read_bytes()))
    except (ValueError, ValidationError) as e:
        raise ModelLoadError(f"{path}: invalid model config: {e}") from e


class ModelRepository:
    """Reads the repository on demand. Parsed versions are cached until their files change, and
    lookups for `recheck_s` seconds, so a busy API does not scan the directory per request;
    a change on disk is seen within recheck_s. Aliases are read from `state` on every lookup
    (files by default; the API's is Redis), so a promotion is seen at once."""

    def __init__(self, root: Path, recheck_s: float = 1.0, state: RepositoryState | None = None):
        self.root = Path(root)
        self.recheck_s = recheck_s
        self.aliases: RepositoryState = state or AliasStore(self.root)
        self._cache: dict[Path, tuple[tuple, ModelVersion]] = {}
        self._recent: dict[tuple[str, int | str | None, bool], tuple[float, ModelVersion]] = {}

    def set_alias(self, name: str, alias: str, version: int | None) -> tuple[int | None, int | None]:
        """Points an alias at an existing version (None removes it); returns (before, after)."""
        if version is not None:
            self._find(name, version)  # 404 for an unknown model or version
        elif not self.versions(name):
            raise ModelNotFoundError(f"model {name!r} not found")
        with model_store.locked(self.root / name):
            # Under the versions lock, so a version cannot be retired while it is being aliased.
            if version is not None:
                self._find(name, version)
            changed = self.aliases.set(name, alias, version)
        self.forget(name)
        return changed

    def rollback_alias(self, name: str, alias: str) -> tuple[int | None, int]:
        """Points an alias back at the version it pointed to before (skipping retired ones)."""
        if not self.versions(name):
            raise ModelNotFoundError(f"model {name!r} not found")
        with model_store.locked(self.root / name):
            live = set(self.versions(name))
            changed = self.aliases.rollback(name, alias, live.__contains__)
        self.forget(name)
        return changed

    def names(self, include_retired: bool = False) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and _NAME.match(p.name) and self.versions(p.name, include_retired)
        )

    def versions(self, name: str, include_retired: bool = False) -> list[int]:
        """Versions with a model file; retired ones only when asked (workers finish their jobs)."""
        model_dir = self.root / name
        if not _NAME.match(name) or not model_dir.is_dir():
            return []
        return sorted(
            int(p.name)
            for p in model_dir.iterdir()
            if p.name.isdigit()
            and int(p.name) > 0
            and _model_file(p) is not None
            and (include_retired or not (p / model_store.RETIRED_FILE).exists())
        )

    def get(self, name: str, version: int | str | None = None, include_retired: bool = False) -> ModelVersion:
        """A version of a model by number or alias; its latest when version is None. Aliases are
        read fresh every time, so every process follows a promotion from the moment it is made."""
        key = (name, version, include_retired)
        cacheable = version is None or version == "latest" or isinstance(version, int)
        recent = self._recent.get(key) if cacheable else None
        if recent and time.monotonic() < recent[0]:
            return recent[1]
        found = self._find(name, version, include_retired)
        if cacheable:
            self._recent[key] = (time.monotonic() + self.recheck_s, found)
        return found

    def recent(self, name: str, version: int | str | None = None, include_retired: bool = False):
        """What `get` would answer from its lookup cache now, without touching the disk; None
        when it would read the files (an alias, or a lookup older than recheck_s)."""
        recent = self._recent.get((name, version, include_retired))
        return recent[1] if recent and time.monotonic() < recent[0] else None

    def get_uncached(self, name: str, version: int, include_retired: bool = False) -> ModelVersion:
        """As get, read from the files now (parsed versions are still reused while unchanged)."""
        return self._find(name, version, include_retired)

    def forget(self, name: str) -> None:
        """Drops this process's cached lookups of a model after it changed it."""
        self._recent = {key: hit for key, hit in self._recent.items() if key[0] != name}

    def _find(self, name: str, version: int | str | None, include_retired: bool = False) -> ModelVersion:
        versions = self.versions(name, include_retired)
        if not versions:
            raise ModelNotFoundError(f"model {name!r} not found")
        if isinstance(version, str):
            version = None if version == "latest" else self.aliases.resolve(name, version)
        if version is None:
            version = self.versions(name)[-1] if include_retired else versions[-1]
        elif version not in versions:
            retired = (self.root / name / str(version) / model_store.RETIRED_FILE).exists()
            raise ModelNotFoundError(
                f"model {name!r} version {version} is retired"
                if retired
                else f"model {name!r} has no version {version} (versions: {versions})"
            )
        return self._load(name, version)

    def _version_dir(self, name: str, version: int) -> Path:
        """A version's directory, found without loading it: management must reach a version
        whose file or config no longer loads, to repair or retire it."""
        version_dir = self.root / name / str(version)
        if not _NAME.match(name) or _model_file(version_dir) is None:
            raise ModelNotFoundError(f"model {name!r} has no version {version}")
        return version_dir

    def retire(self, name: str, version: int, actor: str) -> dict:
        """Marks a version retired: new jobs get 404, queued ones still run. Refused while an
        alias points to it."""
        version_dir = self._version_dir(name, version)
        with model_store.locked(self.root / name):
            if retired := model_store.read_json(version_dir / model_store.RETIRED_FILE):
                return retired
            pointing = self.aliases.mark_retired(name, version)
            if pointing:
                raise ConflictError(
                    f"model {name!r} version {version} is the target of aliases {pointing}; "
                    "point them elsewhere first"
                )
            record = model_store.retire(version_dir, actor)
        self.forget(name)
        return record

    def update_config(self, name: str, version: int, patch: dict) -> tuple[dict, dict]:
        """Applies a JSON merge patch (RFC 7396: null removes a key) to a version's config.json;
        returns (before, after). Nothing is written unless the result is a valid config that
        serves the model (pydantic's ValidationError or InvalidInputError otherwise)."""
        version_dir = self._version_dir(name, version)
        if (version_dir / model_store.RETIRED_FILE).exists():
            raise ModelNotFoundError(f"model {name!r} version {version} is retired")
        path = version_dir / CONFIG_FILE
        model_path = _model_file(version_dir)
        if model_path is None:  # removed since _version_dir found it
            raise ModelNotFoundError(f"model {name!r} has no version {version}")
        metadata = model_store.read_json(version_dir / model_store.METADATA_FILE) or {}
        with model_store.locked(self.root / name):
            before = model_store.read_json(path) or {}
            after = merge_patch(before, patch)
            config = ModelConfig.model_validate(after)
            check_serves(model_path, config, version_signature(model_path, metadata))
            model_store.write_json(path, after)
        self.forget(name)
        return before, after

    def _load(self, name: str, version: int) -> ModelVersion:
        version_dir = self.root / name / str(version)
        model_path = _model_file(version_dir)
        if model_path is None:
            raise ModelNotFoundError(f"model {name!r} version {version} has no model file")
        config_path = version_dir / CONFIG_FILE
        metadata_path = version_dir / model_store.METADATA_FILE
        retired_path = version_dir / model_store.RETIRED_FILE
        stamp = tuple(
            (s.st_mtime_ns, s.st_size) if p.exists() and (s := p.stat()) else None
            for p in (model_path, config_path, metadata_path, retired_path)
        )
        cached = self._cache.get(version_dir)
        if cached and cached[0] == stamp:
            return cached[1]
        config = _read_config(config_path)
        metadata = model_store.read_json(metadata_path) or {}
        signature = version_signature(model_path, metadata)
        if bad := signature.unbatchable(config.fixed_batch_size):
            raise ModelLoadError(
                f"model {name!r} version {version}: tensors {bad} have no dynamic first "
                "(batch) dimension, which batching needs, and config.json states no matching "
                "fixed_batch_size"
            )
        loaded = ModelVersion(
            name,
            version,
            model_path,
            config.runtime or _RUNTIMES[model_path.suffix],
            config,
            signature,
            metadata,
            model_store.read_json(retired_path),
        )
        self._cache[version_dir] = (stamp, loaded)
        return loaded


def check_serves(model_path: Path, config: ModelConfig, signature: Signature | None = None) -> None:
    """The checks a config must pass for its model to load, beyond its own schema; `signature`
    is the model's when the caller has it (else it is read from the file)."""
    builtin = _RUNTIMES[model_path.suffix]
    if config.runtime in set(_RUNTIMES.values()) - {builtin}:
        raise InvalidInputError(
            f"runtime: {config.runtime!r} does not run {model_path.suffix} files (use {builtin!r})",
            ("runtime",),
        )
    signature = signature or read_signature(model_path)
    if bad := signature.unbatchable(config.fixed_batch_size):
        raise InvalidInputError(
            f"fixed_batch_size: tensors {bad} have no dynamic first dimension, and "
            f"fixed_batch_size ({config.fixed_batch_size}) does not match it",
            ("fixed_batch_size",),
        )
