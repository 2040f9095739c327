"""The model repository and the workers that load from it."""

from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from maas.core.devices import Device
from maas.core.settings.fields import SECRET


class ModelSettings(BaseModel):
    heartbeat_interval_s: float = Field(2.0, description="Worker heartbeat period, seconds.")

    worker_models: list[str] = Field(
        default_factory=list, description="Models a worker serves; empty means every model."
    )

    device: str = Field(
        "cpu",
        description="Worker device: `cpu`, or one GPU as `cuda:N` (`cuda` is `cuda:0`); stored "
        "in its canonical form (`cuda:0`).",
    )

    worker_ready_file: Path | None = Field(
        None,
        description="Worker only: touched once its models are loaded and warmed up, then at every "
        "heartbeat; a probe (deploy/: Kubernetes startupProbe and livenessProbe) checks that it "
        "exists and is fresh.",
    )

    worker_preload: bool = Field(
        True,
        description="Load every servable version at start and as it appears (within the memory "
        "budget); false loads a version only when its first job arrives.",
    )

    worker_memory_budget_mb: float | None = Field(
        None,
        ge=0,
        description="Memory a worker's loaded models may take, MiB; past it, the least recently "
        "used idle model is unloaded, and a version whose load and warm-up alone need more is "
        "refused. Unset: 75% of the machine's memory, or of the container's (cgroup) limit if "
        "lower. 0: no limit (and no rehearsal of loads).",
    )

    worker_max_concurrent_loads: int = Field(
        2,
        ge=1,
        description="Versions a worker loads at once, each in the background while its other "
        "lanes serve; each reserves its expected size in the memory budget before it starts. 1: "
        "one at a time (an on-demand load then waits behind a large one).",
    )

    model_repository_url: str | None = Field(
        None,
        description="Workers and the API read the model repository from this object-store URL "
        "(`s3://bucket/models`, any protocol fsspec knows with its package installed) through a "
        "local cache, instead of MAAS_MODEL_REPOSITORY; credentials from the store's own "
        "variables (AWS_* for S3). The API then only reads it: uploads, config patches and "
        "retires answer 409 (versions reach the store through the operator's pipeline); aliases "
        "are set as usual. Unset: the repository is a directory.",
    )

    model_cache_dir: Path | None = Field(
        None,
        description="Where versions read from MAAS_MODEL_REPOSITORY_URL are cached, each fetched "
        "once (versions are immutable); processes sharing it sync one at a time. Unset: "
        "<state_dir>/model-cache.",
    )

    model_cache_max_bytes: int = Field(
        50 * 1024**3,
        ge=1,
        description="Most bytes of model files (weights and external data) the cache of an "
        "object-store repository holds; a version that would not fit is not fetched.",
    )

    model_rescan_s: float = Field(
        5.0,
        gt=0,
        description="Workers rescan the repository this often besides acting on change notices.",
    )

    admin_tokens: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        json_schema_extra=SECRET,
        description="Name -> token. When set, model management (upload, config, retire, aliases) "
        "needs `Authorization: Bearer <token>` and is audited under the name; unset, it is open "
        "to anyone who reaches the API, and only while the API listens on a loopback address.",
    )

    @field_validator("device")
    @classmethod
    def _device_is_known(cls, device: str) -> str:
        return str(Device.parse(device))

    gpu_memory_budget_mb: float = Field(
        0,
        ge=0,
        description="Device memory a GPU worker's loaded models may take, MiB (what each load "
        "added on its GPU, as NVML reports it); past it, the least recently used idle model is "
        "unloaded. 0: no limit (a load that does not fit fails that version, not the worker).",
    )

    @field_validator("admin_tokens")
    @classmethod
    def _tokens_are_long(cls, tokens: dict[str, str]) -> dict[str, str]:
        short = [name for name, token in tokens.items() if len(token) < 16]
        if short:
            raise ValueError(f"admin tokens of {short} are shorter than 16 characters")
        return tokens

    max_model_bytes: int = Field(
        1024 * 1024 * 1024,
        ge=1,
        description="Largest model version an upload may carry, bytes (422): its file, or its "
        "archive and the files it unpacks to, external data included.",
    )

    max_version_files: int = Field(
        64,
        ge=1,
        description="Most files an uploaded archive may unpack to (the model, its external data "
        "files, its config), 422 past it.",
    )

    upload_chunk_max_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1,
        description="Most bytes one chunk of a resumable upload (PUT /v1/models/{name}/uploads/"
        "{id}) may carry (422 past it).",
    )

    upload_expiry_s: float = Field(
        86400.0,
        gt=0,
        description="A resumable upload that receives no chunk for this long is removed with "
        "what it received, seconds.",
    )

    upload_reference_dirs: list[Path] = Field(
        default_factory=list,
        description="Directories whose files an upload by reference (POST /v1/models/{name}/"
        "uploads/from-path) may name: a model, an archive or a version directory on a disk the "
        "API shares, taken without a transfer. Empty (default): uploads by reference are refused "
        "(403).",
    )

    upload_reference_urls: list[str] = Field(
        default_factory=list,
        description="Object-store URL prefixes (e.g. `s3://bucket/incoming/`) an upload by "
        "reference may name instead of a path: the API fetches the object (a model or an "
        "archive) or the prefix's files (a version directory) itself, credentials from the "
        "store's own variables. Empty (default): uploads by URL are refused (403).",
    )

    allow_plugin_runtimes: bool = Field(
        False,
        description="Let a model config name a Python class as its runtime (`module:Class`); "
        "off by default, since it runs code named by the model repository.",
    )

    upload_validation_memory_mb: float = Field(
        1024,
        gt=0,
        description="Memory (address space) an upload's validation may add to its child "
        "process, MiB, plus 3x the file's size; a model that needs more is refused (422).",
    )

    upload_validation_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Longest an upload's validation may take, its child's start included, "
        "seconds; a model that needs longer is refused (422).",
    )

    worker_load_rehearsal_timeout_s: float = Field(
        300.0,
        gt=0,
        description="A worker rehearses each version's load and warm-up in a child process "
        "before loading it (CPU workers, with a memory budget); a version whose rehearsal takes "
        "longer than this is refused, seconds.",
    )
