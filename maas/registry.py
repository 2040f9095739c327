"""The model repository: <root>/<name>/<version>/model.onnx or model.tflite, with an optional
config.json beside it."""

import hashlib
import json
import re
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from maas.aliases import AliasStore
from maas.errors import ModelLoadError, ModelNotFoundError
from maas.onnx_signature import read_onnx_signature
from maas.signature import Signature
from maas.tflite_signature import read_tflite_signature

CONFIG_FILE = "config.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SIGNATURE_READERS = {".onnx": read_onnx_signature, ".tflite": read_tflite_signature}
_RUNTIMES = {".onnx": "onnxruntime", ".tflite": "litert"}
MODEL_SUFFIXES = frozenset(_SIGNATURE_READERS)


class OnnxRuntimeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    intra_op_num_threads: int = Field(0, ge=0, description="0 lets onnxruntime choose.")
    inter_op_num_threads: int = Field(0, ge=0, description="0 lets onnxruntime choose.")
    providers: list[str] = Field(
        default_factory=list, description="Execution providers; empty picks one from the device."
    )


class TfliteOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_threads: int = Field(0, ge=0, description="Interpreter threads; 0 lets LiteRT choose.")


class ModelConfig(BaseModel):
    """What config.json beside a model may say; every field is optional."""

    model_config = ConfigDict(extra="forbid")

    runtime: str | None = Field(
        None,
        pattern=r"^(onnxruntime|litert|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$",
        description="`onnxruntime` (default for .onnx), `litert` (default for .tflite), or "
        "`package.module:Class`, a Runtime "
        "class of your own, which a worker loads only with MAAS_ALLOW_PLUGIN_RUNTIMES=true.",
    )
    max_batch_size: int = Field(64, ge=1, description="Most rows in one micro-batch.")
    max_queue_delay_ms: float = Field(
        5.0, ge=0, description="Longest the oldest job of a batch waits for more, milliseconds."
    )
    max_queue_rows: int = Field(
        10_000, ge=0, description="Most rows waiting in the lane; more get 429. 0: no limit."
    )
    preferred_batch_sizes: list[int] = Field(
        default_factory=list, description="Batch sizes the model runs best at, in rows."
    )
    onnxruntime: OnnxRuntimeOptions = Field(default_factory=OnnxRuntimeOptions)
    tflite: TfliteOptions = Field(default_factory=TfliteOptions)

    @model_validator(mode="after")
    def _preferred_fit(self) -> "ModelConfig":
        too_big = [s for s in self.preferred_batch_sizes if s < 1 or s > self.max_batch_size]
        if too_big:
            raise ValueError(
                f"preferred_batch_sizes {too_big} must lie in 1..max_batch_size "
                f"({self.max_batch_size})"
            )
        return self


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    path: Path
    runtime: str
    config: ModelConfig
    signature: Signature

    @cached_property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        with self.path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def _model_file(version_dir: Path) -> Path | None:
    for suffix in _SIGNATURE_READERS:
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
    a change on disk is seen within recheck_s."""

    def __init__(self, root: Path, recheck_s: float = 1.0):
        self.root = Path(root)
        self.recheck_s = recheck_s
        self.aliases = AliasStore(self.root)
        self._cache: dict[Path, tuple[tuple, ModelVersion]] = {}
        self._recent: dict[tuple[str, int | str | None], tuple[float, ModelVersion]] = {}

    def set_alias(self, name: str, alias: str, version: int | None) -> tuple[int | None, int | None]:
        """Points an alias at an existing version (None removes it); returns (before, after)."""
        if version is not None:
            self._find(name, version)  # 404 for an unknown model or version
        elif not self.versions(name):
            raise ModelNotFoundError(f"model {name!r} not found")
        changed = self.aliases.set(name, alias, version)
        self._recent = {key: hit for key, hit in self._recent.items() if key[0] != name}
        return changed

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and _NAME.match(p.name)
            and self.versions(p.name)
        )

    def versions(self, name: str) -> list[int]:
        model_dir = self.root / name
        if not _NAME.match(name) or not model_dir.is_dir():
            return []
        return sorted(
            int(p.name) for p in model_dir.iterdir()
            if p.name.isdigit() and int(p.name) > 0 and _model_file(p) is not None
        )

    def get(self, name: str, version: int | str | None = None) -> ModelVersion:
        """A version of a model by number or alias; its latest when version is None."""
        recent = self._recent.get((name, version))
        if recent and time.monotonic() < recent[0]:
            return recent[1]
        found = self._find(name, version)
        self._recent[(name, version)] = (time.monotonic() + self.recheck_s, found)
        return found

    def _find(self, name: str, version: int | str | None) -> ModelVersion:
        versions = self.versions(name)
        if not versions:
            raise ModelNotFoundError(f"model {name!r} not found")
        if isinstance(version, str):
            version = None if version == "latest" else self.aliases.resolve(name, version)
        if version is None:
            version = versions[-1]
        elif version not in versions:
            raise ModelNotFoundError(
                f"model {name!r} has no version {version} (versions: {versions})"
            )
        return self._load(name, version)

    def _load(self, name: str, version: int) -> ModelVersion:
        version_dir = self.root / name / str(version)
        model_path = _model_file(version_dir)
        if model_path is None:
            raise ModelNotFoundError(f"model {name!r} version {version} has no model file")
        config_path = version_dir / CONFIG_FILE
        stamp = tuple(
            (s.st_mtime_ns, s.st_size) if p.exists() and (s := p.stat()) else None
            for p in (model_path, config_path)
        )
        cached = self._cache.get(version_dir)
        if cached and cached[0] == stamp:
            return cached[1]
        config = _read_config(config_path)
        signature = _SIGNATURE_READERS[model_path.suffix](model_path)
        if bad := signature.unbatchable():
            raise ModelLoadError(
                f"model {name!r} version {version}: tensors {bad} have no dynamic first "
                "(batch) dimension, which batching needs"
            )
        loaded = ModelVersion(
            name, version, model_path, config.runtime or _RUNTIMES[model_path.suffix], config,
            signature,
        )
        self._cache[version_dir] = (stamp, loaded)
        return loaded
