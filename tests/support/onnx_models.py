"""Small real ONNX models written by the tests into a throwaway model repository."""

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(graph: onnx.GraphProto, path: Path, config: dict | None = None) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    if config is not None:
        (path.parent / "config.json").write_text(json.dumps(config))
    return path


def two_in_two_out(path: Path, config: dict | None = None) -> Path:
    """a: float32 [N, 3], b: int64 [N, 2] -> doubled: float32 [N, 3] = 2a, total: int64 [N, 1]."""
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["a", "two"], ["doubled"]),
            helper.make_node("ReduceSum", ["b", "axes"], ["total"], keepdims=1),
        ],
        "two_in_two_out",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("b", TensorProto.INT64, ["N", 2]),
        ],
        [
            helper.make_tensor_value_info("doubled", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("total", TensorProto.INT64, ["N", 1]),
        ],
        [
            numpy_helper.from_array(np.array([2.0], np.float32), "two"),
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
        ],
    )
    return _save(graph, path, config)


def lookup(path: Path, config: dict | None = None) -> Path:
    """index: int64 [N, 1] -> row of a 4x2 table: float32 [N, 1, 2]. An index >= 4 makes
    onnxruntime raise for the whole batch it is in (a real runtime error, not a mock)."""
    table = np.arange(8, dtype=np.float32).reshape(4, 2)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "index"], ["row"], axis=0)],
        "lookup",
        [helper.make_tensor_value_info("index", TensorProto.INT64, ["N", 1])],
        [helper.make_tensor_value_info("row", TensorProto.FLOAT, ["N", 1, 2])],
        [numpy_helper.from_array(table, "table")],
    )
    return _save(graph, path, config)


def fixed_batch(path: Path, size: int = 1) -> Path:
    """x: float32 [size, 4] -> y: float32 [size, 4] = relu(x); no dynamic batch dimension."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "fixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [size, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, 4])],
    )
    return _save(graph, path)


def heavy(path: Path, width: int = 512, depth: int = 8, config: dict | None = None) -> Path:
    """x: float32 [N, width] -> y: float32 [N, width] through `depth` MatMul+Tanh layers: about a
    millisecond a row on one core, so batches take long enough to kill a worker mid-batch."""
    rng = np.random.default_rng(0)
    nodes, initializers, previous = [], [], "x"
    for layer in range(depth):
        weight = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
        initializers.append(numpy_helper.from_array(weight, f"w{layer}"))
        out = "y" if layer == depth - 1 else f"h{layer}"
        nodes.append(helper.make_node("MatMul", [previous, f"w{layer}"], [f"m{layer}"]))
        nodes.append(helper.make_node("Tanh", [f"m{layer}"], [out]))
        previous = out
    graph = helper.make_graph(
        nodes,
        "heavy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])],
        initializers,
    )
    return _save(graph, path, config)


def offset(path: Path, k: float, config: dict | None = None) -> Path:
    """x: float32 [N, 4] -> y: float32 [N, 4] = x + k; versions that differ only in k tell which
    version answered a job."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "k"], ["y"])],
        "offset",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(np.full((1, 4), k, dtype=np.float32), "k")],
    )
    return _save(graph, path, config)


def conv3x3(path: Path) -> Path:
    """x: float32 [N, 1, H, W] -> y: float32 [N, 1, H-2, W-2], a 3x3 box sum without padding: a
    valid model that refuses the 1x1 dummy images of a generic warm-up."""
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, None, None])],
        [numpy_helper.from_array(np.ones((1, 1, 3, 3), dtype=np.float32), "w")],
    )
    return _save(graph, path)


def memory_bomb(path: Path, side: int = 20_000, config: dict | None = None) -> Path:
    """x: float32 [N, 4] -> y: float32 [N, 4] = x + 0, computed as x + 0 * sum(ones([side, side])):
    a file of a few hundred bytes whose every run (or constant folding) allocates side**2 floats,
    1.6 GB at the default side; memory grows with the square of one number in the file."""
    graph = helper.make_graph(
        [
            helper.make_node(
                "ConstantOfShape",
                ["shape"],
                ["ones"],
                value=numpy_helper.from_array(np.array([1.0], np.float32)),
            ),
            helper.make_node("ReduceSum", ["ones"], ["total"], keepdims=0),
            helper.make_node("Mul", ["total", "zero"], ["nothing"]),
            helper.make_node("Add", ["x", "nothing"], ["y"]),
        ],
        "memory_bomb",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [
            numpy_helper.from_array(np.array([side, side], np.int64), "shape"),
            numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        ],
    )
    return _save(graph, path, config)
