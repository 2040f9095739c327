"""ONNX models whose weights live in external data files, written without ever holding a whole
model in memory: each weight is generated block by block straight into its data file and the
graph only names it (location, offset, length). Used by the large-version tests and by
`make bench-large` (bench/large.py), which sizes them past protobuf's 2 GB limit."""

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

BLOCK_ROWS = 256  # rows of a weight generated at a time


def _write_weight(out, rng: np.random.Generator, width: int) -> None:
    scale = np.float32(1.0 / np.sqrt(width))
    for _ in range(0, width, BLOCK_ROWS):
        block = rng.standard_normal((min(BLOCK_ROWS, width), width), dtype=np.float32) * scale
        out.write(block.tobytes())


def external_tensor(name: str, dims: list[int], location: str, offset: int, length: int) -> TensorProto:
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, str(value)
    return tensor


def mlp(folder: Path, width: int, depth: int, files: int = 1, seed: int = 0) -> Path:
    """folder/model.onnx, x: float32 [N, width] -> y: float32 [N, width] through `depth`
    MatMul+Tanh layers, each width x width float32 weight in external data (spread over `files`
    data files, weights-<i>.bin): depth * width**2 * 4 bytes of weights."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    layer_bytes = width * width * 4
    nodes, initializers, previous = [], [], "x"
    outs = [(folder / f"weights-{i}.bin").open("wb") for i in range(files)]
    try:
        for layer in range(depth):
            index = layer % files
            offset = outs[index].tell()
            _write_weight(outs[index], rng, width)
            location = f"weights-{index}.bin"
            initializers.append(external_tensor(f"w{layer}", [width, width], location, offset, layer_bytes))
            out = "y" if layer == depth - 1 else f"h{layer}"
            nodes.append(helper.make_node("MatMul", [previous, f"w{layer}"], [f"m{layer}"]))
            nodes.append(helper.make_node("Tanh", [f"m{layer}"], [out]))
            previous = out
    finally:
        for out in outs:
            out.close()
    graph = helper.make_graph(
        nodes,
        "large_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / "model.onnx"
    onnx.save(model, path)
    onnx.checker.check_model(str(path))
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
