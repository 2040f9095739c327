"""What config.json beside a model version may say (every field optional), and how a JSON merge
patch changes it."""

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from maas.core.access import TENANT_PATTERN
from maas.models.gpu_options import CudaOptions, TensorRtOptions

# The runtimes every worker has; anything else in `runtime` names a plugin class (`module:Class`).
BUILTIN_RUNTIMES = frozenset({"onnxruntime", "litert"})


def runtime_refusal(runtime: str, allow_plugins: bool) -> str | None:
    """Why a worker refuses to load `runtime`, or None if it loads it: the one rule, applied by
    workers when they load a version and by the API before it stores a config."""
    if runtime in BUILTIN_RUNTIMES or allow_plugins:
        return None
    return (
        f"runtime {runtime!r} is a plugin class, which workers load only with MAAS_ALLOW_PLUGIN_RUNTIMES=true"
    )


class OnnxRuntimeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    intra_op_num_threads: int = Field(0, ge=0, description="0 lets onnxruntime choose.")
    inter_op_num_threads: int = Field(0, ge=0, description="0 lets onnxruntime choose.")
    providers: list[str] = Field(
        default_factory=list, description="Execution providers; empty picks one from the device."
    )
    io_binding: bool | None = Field(
        None,
        description="Bind inputs and outputs with onnxruntime IO binding: one host-to-device copy "
        "of the stacked batch and one copy back. Unset: on for a GPU worker, off on the CPU.",
    )
    cuda: CudaOptions = Field(default_factory=CudaOptions)
    tensorrt: TensorRtOptions = Field(default_factory=TensorRtOptions)


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
    fixed_batch_size: int | None = Field(
        None,
        ge=1,
        description="For a model exported with a fixed batch dimension: every batch is padded to "
        "this many rows, and max_batch_size defaults to it.",
    )
    max_queue_delay_ms: float = Field(
        5.0, ge=0, description="Longest the oldest job of a batch waits for more, milliseconds."
    )
    max_queue_rows: int = Field(
        10_000, ge=0, description="Most rows waiting in the lane; more get 429. 0: no limit."
    )
    preferred_batch_sizes: list[int] = Field(
        default_factory=list, description="Batch sizes the model runs best at, in rows."
    )
    allow_non_finite: bool = Field(
        False,
        description="Keep outputs holding NaN or an infinity (they come back as JSON null); by "
        "default such a job fails with code non_finite_output.",
    )
    onnxruntime: OnnxRuntimeOptions = Field(default_factory=OnnxRuntimeOptions)
    tflite: TfliteOptions = Field(default_factory=TfliteOptions)
    access: list[str] | None = Field(
        None,
        description="Tenants that may see and use this version; other tenants get 404 for it "
        "(for the model itself when this is its latest version). Null: every tenant.",
    )

    @field_validator("access")
    @classmethod
    def _access_names_tenants(cls, access: list[str] | None) -> list[str] | None:
        bad = [t for t in access or [] if not TENANT_PATTERN.match(t)]
        if bad:
            raise ValueError(f"access: {bad} are not tenant names (a-z, 0-9, '_', '-')")
        return access

    @model_validator(mode="after")
    def _fixed_batch_bounds_batches(self) -> "ModelConfig":
        fixed = self.fixed_batch_size
        if fixed is not None and self.max_batch_size > fixed:
            if "max_batch_size" in self.model_fields_set:
                raise ValueError(
                    f"max_batch_size ({self.max_batch_size}) cannot exceed fixed_batch_size ({fixed})"
                )
            self.max_batch_size = fixed
        return self

    @model_validator(mode="after")
    def _preferred_fit(self) -> "ModelConfig":
        too_big = [s for s in self.preferred_batch_sizes if s < 1 or s > self.max_batch_size]
        if too_big:
            raise ValueError(
                f"preferred_batch_sizes {too_big} must lie in 1..max_batch_size ({self.max_batch_size})"
            )
        return self


def merge_patch(target: dict, patch: dict) -> dict:
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            current = merged.get(key)
            merged[key] = merge_patch(current if isinstance(current, dict) else {}, value)
        else:
            merged[key] = value
    return merged
