"""What a model config may say about running a version on a GPU (the `onnxruntime.cuda` and
`onnxruntime.tensorrt` sections). Checked when the config is stored; a worker that cannot start
the provider they ask for refuses the version with the reason, never falls back to the CPU."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CudaOptions(BaseModel):
    """onnxruntime's CUDAExecutionProvider options that matter when serving."""

    model_config = ConfigDict(extra="forbid")

    gpu_mem_limit_mb: int | None = Field(
        None, ge=1, description="Cap on this version's CUDA memory arena, MiB; unset: no cap."
    )
    arena_extend_strategy: Literal["kNextPowerOfTwo", "kSameAsRequested"] = Field(
        "kSameAsRequested",
        description="How the arena grows; kSameAsRequested keeps the footprint close to what the "
        "model needs, which matters when several versions share a GPU.",
    )
    cudnn_conv_algo_search: Literal["EXHAUSTIVE", "HEURISTIC", "DEFAULT"] = Field(
        "HEURISTIC",
        description="EXHAUSTIVE benchmarks every convolution algorithm per new shape (slow first "
        "batch of each size); HEURISTIC asks cuDNN.",
    )
    do_copy_in_default_stream: bool = Field(
        True, description="Copy on the compute stream (false: a separate copy stream)."
    )

    def provider_options(self, device_index: int) -> dict[str, str]:
        options = {
            "device_id": str(device_index),
            "arena_extend_strategy": self.arena_extend_strategy,
            "cudnn_conv_algo_search": self.cudnn_conv_algo_search,
            "do_copy_in_default_stream": "1" if self.do_copy_in_default_stream else "0",
        }
        if self.gpu_mem_limit_mb is not None:
            options["gpu_mem_limit"] = str(self.gpu_mem_limit_mb * 1024 * 1024)
        return options


class TensorRtOptions(BaseModel):
    """onnxruntime's TensorrtExecutionProvider, tried before CUDA when enabled."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Run on TensorRT (needs a build with the TensorRT EP).")
    fp16: bool = Field(False, description="Let TensorRT run layers in float16 (opt-in: changes results).")
    max_workspace_mb: int | None = Field(None, ge=1, description="TensorRT workspace, MiB.")

    def provider_options(self, device_index: int, engine_cache_dir: str) -> dict[str, str]:
        # Engines take minutes to build for big models: cache them, per version, under the state dir.
        options = {
            "device_id": str(device_index),
            "trt_fp16_enable": "1" if self.fp16 else "0",
            "trt_engine_cache_enable": "1",
            "trt_engine_cache_path": engine_cache_dir,
        }
        if self.max_workspace_mb is not None:
            options["trt_max_workspace_size"] = str(self.max_workspace_mb * 1024 * 1024)
        return options
