"""Checks an uploaded model file before it becomes a version: it must be the format its name says,
load in its runtime, have what batching needs, and answer a batch of zeros (2 rows, or its fixed
batch size) with as many rows."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import onnxruntime as ort

from maas.core.errors import InvalidInputError, MaasError
from maas.core.signature import Signature
from maas.models.external_data import check_version_files, referenced_files
from maas.models.onnx_signature import graph_signature, load_graph
from maas.models.signatures import READERS
from maas.models.tflite_interpreters import TfliteInterpreters
from maas.models.tflite_signature import read_tflite_signature

TFLITE_IDENTIFIER = b"TFL3"  # bytes 4..8 of every TFLite flatbuffer
_ONNX_FIRST_BYTE = 0x08  # protobuf tag of ModelProto.ir_version, first in every exported file


def _reject(message: str) -> InvalidInputError:
    return InvalidInputError(f"file: {message}", ("file",))


def _sniff(head: bytes) -> str | None:
    if head[4:8] == TFLITE_IDENTIFIER:
        return ".tflite"
    if head[:1] == bytes([_ONNX_FIRST_BYTE]):
        return ".onnx"
    return None


def _check_batching(signature: Signature, fixed_batch_size: int | None) -> int:
    """The rows of the trial batch: 2 for a dynamic batch dimension, else the declared fixed size."""
    if bad := signature.unbatchable(fixed_batch_size):
        raise _reject(
            f"tensors {bad} have a fixed first dimension; batching needs a dynamic batch "
            "dimension (export the model with a symbolic first dimension), or a config stating "
            "`fixed_batch_size` equal to it"
        )
    return fixed_batch_size or 2


def _trial(signature: Signature, run: Callable[[dict], dict], rows: int, runtime: str) -> None:
    """Runs a batch of zeros; every output must come back with one row per input row. Skipped
    when an input has a dynamic inner dimension: no dummy size is valid for every such model."""
    if any(d is None for spec in signature.inputs for d in spec.shape[1:]):
        return
    try:
        outputs = run(signature.zeros(rows))
    except Exception as e:  # runtimes raise several unrelated types
        raise _reject(f"{runtime} cannot run a {rows}-row batch of zeros: {e}") from e
    not_batched = [n for n, out in outputs.items() if out.ndim == 0 or out.shape[0] != rows]
    if not_batched:
        raise _reject(f"outputs {not_batched} do not return one row per input row")


def _signature(read: Callable[[Any], Signature], source: object) -> Signature:
    try:
        return read(source)
    except MaasError as e:
        raise _reject(e.message) from e


def _onnx_runner(path: Path, prepack: bool = True) -> Callable[[dict], dict]:
    """Runs batches on a CPU session with the optimizations a worker applies (one thread).
    `prepack=False` for a single trial batch: prepacking weights costs a copy of each (briefly)
    and most of a large model's session build, which one batch never earns back."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    if not prepack:
        options.add_session_config_entry("session.disable_prepacking", "1")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]

    def run(feed: dict) -> dict:
        return dict(zip(names, session.run(names, feed), strict=True))

    return run


def _tflite_runner(path: Path) -> Callable[[dict], dict]:
    try:
        return TfliteInterpreters(path.read_bytes(), 1, path.name).run
    except MaasError as e:
        raise _reject(e.message) from e


def _graph(path: Path) -> onnx.ModelProto:
    """The graph with its external data left on disk, every reference checked before the
    checker or a runtime follows one."""
    try:
        model = load_graph(path)
    except MaasError as e:
        # Named by its file name, never by the staging path it sits in.
        raise _reject(f"{path.name}: not a valid ONNX model: {e.message.replace(f'{path}: ', '')}") from e
    check_version_files(path, referenced_files(model, path.parent))
    return model


def _validate_onnx(path: Path, fixed_batch_size: int | None) -> Signature:
    model = _graph(path)
    try:
        onnx.checker.check_model(str(path))  # by path: checks external data without loading it
    except Exception as e:  # the checker and protobuf raise several unrelated types
        reason = str(e).strip().splitlines()[0].replace(str(path.parent), "")
        raise _reject(f"{path.name}: not a valid ONNX model: {reason}") from e
    signature = _signature(graph_signature, model)
    rows = _check_batching(signature, fixed_batch_size)
    _trial(signature, _onnx_runner(path, prepack=False), rows, "onnxruntime")
    return signature


def _validate_tflite(path: Path, fixed_batch_size: int | None) -> Signature:
    check_version_files(path, set())
    signature = _signature(read_tflite_signature, path)
    rows = _check_batching(signature, fixed_batch_size)
    _trial(signature, _tflite_runner(path), rows, "LiteRT")
    return signature


VALIDATORS: dict[str, Callable[[Path, int | None], Signature]] = {
    ".onnx": _validate_onnx,
    ".tflite": _validate_tflite,
}


def validate_model_file(path: Path, fixed_batch_size: int | None = None) -> Signature:
    """The signature of a model file that can be served; InvalidInputError (loc `file`) saying
    what is wrong otherwise. A model with a fixed batch dimension passes only when the config
    states it (`fixed_batch_size`)."""
    suffix = path.suffix
    if suffix not in VALIDATORS:
        raise _reject(f"{suffix or 'no suffix'}: a model file must end in one of {sorted(VALIDATORS)}")
    with path.open("rb") as f:
        head = f.read(8)
    if not head:
        raise _reject("is empty")
    sniffed = _sniff(head)
    if sniffed and sniffed != suffix:
        raise _reject(f"named {suffix} but its content is a {sniffed} model; rename it")
    return VALIDATORS[suffix](path, fixed_batch_size)


RUNNERS: dict[str, Callable[[Path], Callable[[dict], dict]]] = {
    ".onnx": _onnx_runner,
    ".tflite": _tflite_runner,
}


def rehearse_load(path: Path, fixed_batch_size: int | None = None) -> None:
    """Loads a model file the way a worker does and runs its warm-up batch (one row, or the
    fixed batch size), so that a child process can measure what that takes. Whatever this
    raises, the worker's own load meets again and reports; only running out of memory or time
    is the rehearsal's news."""
    signature = READERS[path.suffix](path)
    RUNNERS[path.suffix](path)(signature.zeros(fixed_batch_size or 1))
