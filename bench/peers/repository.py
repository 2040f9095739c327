"""What every peer server reads from the bench's model repository: each model's latest version,
its ONNX file, its batching policy (config.json) and one onnxruntime session with one intra-op
thread, as a maas worker's. Stdlib, numpy and onnxruntime only: peers run in virtualenvs of
their own (bench/venvs.py), without maas."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort


@dataclass(frozen=True)
class BenchModel:
    name: str
    path: Path  # model.onnx
    max_batch_size: int
    max_queue_delay_ms: float
    inputs: list[tuple[str, np.dtype, list[int]]]  # name, dtype, shape without the batch dim
    outputs: list[tuple[str, np.dtype, list[int]]]


def _dtype(onnx_type: str) -> np.dtype:
    # tensor(float) -> float32, tensor(int64) -> int64, ...
    name = onnx_type.removeprefix("tensor(").removesuffix(")")
    return np.dtype({"float": "float32", "double": "float64"}.get(name, name))


def _tensors(args) -> list[tuple[str, np.dtype, list[int]]]:
    return [(a.name, _dtype(a.type), [d if isinstance(d, int) else -1 for d in a.shape[1:]]) for a in args]


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def bench_models(repository: Path) -> list[BenchModel]:
    found = []
    for model in sorted(p for p in repository.iterdir() if p.is_dir()):
        latest = max((v for v in model.iterdir() if v.name.isdigit()), key=lambda v: int(v.name))
        config = json.loads((latest / "config.json").read_text())
        probe = session(latest / "model.onnx")
        found.append(
            BenchModel(
                model.name,
                latest / "model.onnx",
                int(config["max_batch_size"]),
                float(config["max_queue_delay_ms"]),
                _tensors(probe.get_inputs()),
                _tensors(probe.get_outputs()),
            )
        )
    return found
