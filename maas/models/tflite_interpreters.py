"""Runs a .tflite model on batches of any size with LiteRT; shared by the worker's runtime and the
export toolchain's parity check, so both run a model exactly the same way.

A TFLite interpreter has fixed tensor shapes once allocated, so this keeps one interpreter per
input shape it has seen (in practice, per batch size), resized and allocated once, the least
recently used dropped past a few. Quantized integer inputs and outputs are quantized and
dequantized here with the model's scale and zero point, so callers pass and get float32, as the
signature says."""

import threading
from collections import OrderedDict

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from maas.core.errors import ModelLoadError
from maas.models.tflite_signature import tflite_tensors

CACHED_SHAPES = 8


class TfliteInterpreters:
    def __init__(self, content: bytes, num_threads: int | None = None, label: str = "model"):
        self._content = content
        self._num_threads = num_threads
        self._label = label
        self._interpreters: OrderedDict[tuple, Interpreter] = OrderedDict()
        self._lock = threading.Lock()  # an interpreter must not run two batches at once
        self.inputs, self.outputs = tflite_tensors(self._new_interpreter())

    def _new_interpreter(self) -> Interpreter:
        try:
            return Interpreter(model_content=self._content, num_threads=self._num_threads)
        except (ValueError, RuntimeError) as e:
            raise ModelLoadError(f"{self._label}: not a loadable TFLite model: {e}") from e

    def _interpreter_for(self, shapes: tuple[tuple[int, ...], ...]) -> Interpreter:
        interpreter = self._interpreters.get(shapes)
        if interpreter is not None:
            self._interpreters.move_to_end(shapes)
            return interpreter
        interpreter = self._new_interpreter()
        for tensor, shape in zip(self.inputs, shapes, strict=True):
            interpreter.resize_tensor_input(tensor.index, list(shape), strict=True)
        interpreter.allocate_tensors()
        self._interpreters[shapes] = interpreter
        if len(self._interpreters) > CACHED_SHAPES:
            self._interpreters.popitem(last=False)
        return interpreter

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = [inputs[tensor.name] for tensor in self.inputs]
        rows = arrays[0].shape[0]
        # Batches are padded to the next power of two, so that online batches of every size
        # from 1 to 64 share 7 interpreters instead of missing a cache of 8 (a miss costs ~0.3 ms).
        dynamic = all(t.shape and t.shape[0] is None for t in self.inputs)
        padded_rows = batch_bucket(rows) if dynamic else rows
        if padded_rows != rows:
            arrays = [_pad(a, padded_rows) for a in arrays]
        with self._lock:
            interpreter = self._interpreter_for(tuple(a.shape for a in arrays))
            for tensor, value in zip(self.inputs, arrays, strict=True):
                interpreter.set_tensor(tensor.index, tensor.to_model(value))
            interpreter.invoke()
            outputs = [(t, interpreter.get_tensor(t.index)) for t in self.outputs]
        return {t.name: t.from_model(out)[:rows] for t, out in outputs}


def _pad(array: np.ndarray, rows: int) -> np.ndarray:
    return np.concatenate([array, np.zeros((rows - array.shape[0], *array.shape[1:]), array.dtype)])


def batch_bucket(rows: int) -> int:
    return 1 << max(0, rows - 1).bit_length()
