"""Reads a TFLite model's signature with LiteRT, without running it.

Names come from the model's signature def when it has one (the names the exporter gave), else
from the tensors. A quantized tensor (an integer tensor with a scale) stands for real numbers: the
signature shows it as float32, and the runtime quantizes and dequantizes at the edge; an integer
tensor without a scale is a true integer input and stays one."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from maas.core.errors import ModelLoadError
from maas.core.signature import SUPPORTED_DTYPES, Signature, TensorSpec

SERVING_KEY = "serving_default"


@dataclass(frozen=True)
class TfliteTensor:
    """One signature tensor of a .tflite file: its name for clients and how to feed it."""

    name: str
    index: int  # the interpreter's tensor index
    dtype: np.dtype  # the model's own dtype
    shape: tuple[int | None, ...]
    scale: float  # 0.0 when the tensor is not quantized
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and np.issubdtype(self.dtype, np.integer)

    def to_model(self, values: np.ndarray) -> np.ndarray:
        """What the interpreter takes for these client values: quantized when the tensor is."""
        if not self.quantized:
            return values
        info = np.iinfo(self.dtype)
        scaled = np.round(values.astype(np.float32) / self.scale) + self.zero_point
        return np.clip(scaled, info.min, info.max).astype(self.dtype)

    def from_model(self, values: np.ndarray) -> np.ndarray:
        """What the client gets for the interpreter's values: dequantized when the tensor is."""
        if not self.quantized:
            return values
        return ((values.astype(np.float32) - self.zero_point) * self.scale).astype(np.float32)

    def spec(self) -> TensorSpec:
        dtype = np.dtype(np.float32) if self.quantized else self.dtype
        if dtype not in SUPPORTED_DTYPES:
            raise ModelLoadError(f"tensor {self.name!r} has unsupported type {dtype.name}")
        return TensorSpec(self.name, dtype, self.shape)


def _tensor(name: str, details: dict) -> TfliteTensor:
    shape = details.get("shape_signature")
    if shape is None or len(shape) == 0:
        shape = details["shape"]
    scale, zero_point = details.get("quantization", (0.0, 0))
    return TfliteTensor(
        name=name,
        index=int(details["index"]),
        dtype=np.dtype(details["dtype"]),
        shape=tuple(int(d) if d > 0 else None for d in shape),
        scale=float(scale),
        zero_point=int(zero_point),
    )


def open_interpreter(path: Path, num_threads: int | None = None) -> Interpreter:
    try:
        return Interpreter(model_path=str(path), num_threads=num_threads)
    except (ValueError, RuntimeError) as e:
        raise ModelLoadError(f"{path}: not a loadable TFLite model: {e}") from e


def tflite_tensors(interpreter: Interpreter) -> tuple[list[TfliteTensor], list[TfliteTensor]]:
    """(inputs, outputs) in signature order, named by the serving signature when there is one."""
    signatures = interpreter.get_signature_list()
    if signatures:
        key = SERVING_KEY if SERVING_KEY in signatures else next(iter(signatures))
        runner = interpreter.get_signature_runner(key)
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
        return (
            [_tensor(name, inputs[name]) for name in signatures[key]["inputs"]],
            [_tensor(name, outputs[name]) for name in signatures[key]["outputs"]],
        )
    return (
        [_tensor(d["name"], d) for d in interpreter.get_input_details()],
        [_tensor(d["name"], d) for d in interpreter.get_output_details()],
    )


def read_tflite_signature(path: Path) -> Signature:
    inputs, outputs = tflite_tensors(open_interpreter(path, num_threads=1))
    return Signature(inputs=tuple(t.spec() for t in inputs), outputs=tuple(t.spec() for t in outputs))
