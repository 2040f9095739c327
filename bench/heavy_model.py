"""The bench's model repository: a compute-heavy MLP generated with onnx.helper, plus the demo model."""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save_model

DEMO_MODEL = Path(__file__).resolve().parent.parent / "models" / "digits" / "1" / "model.onnx"
# The same 64 input features as the demo model, so both bench loads send the same bytes over HTTP
# and differ only in compute; 10 outputs keep the response small for the same reason.
HEAVY_FEATURES = 64
HEAVY_OUTPUTS = 10
# 16 hidden 1024x1024 layers hold 64 MB of float32 weights, far beyond the CPU's caches: one row
# streams all of them from memory (~3 ms on one core), while a batch reuses each weight block for
# every row, which is what makes batching pay (~10x rows/s at 64 rows on this machine).
HEAVY_WIDTH = 1024
HEAVY_LAYERS = 16


@dataclass(frozen=True)
class BenchModel:
    name: str
    config: dict


def _config(max_queue_delay_ms: float) -> dict:
    return {
        "max_batch_size": 64,
        "max_queue_delay_ms": max_queue_delay_ms,
        # One intra-op thread: the machine has 2 cores shared by the API, Redis, the worker and
        # the load generator; a second inference thread would only take the API's core. The raw
        # figures use the same options, so the service/raw ratio compares like with like.
        "onnxruntime": {"intra_op_num_threads": 1, "inter_op_num_threads": 1},
    }


def _dense(name: str, rows: int, cols: int, rng: np.random.Generator) -> TensorProto:
    # He scaling keeps activations finite through 18 layers of Relu.
    weights = rng.standard_normal((rows, cols)) * np.sqrt(2.0 / rows)
    return numpy_helper.from_array(weights.astype(np.float32), name)


def write_mlp(path: Path, name: str, widths: list[int], seed: int = 0) -> None:
    """features [N, widths[0]] -> scores [N, widths[-1]] through MatMul+Relu layers."""
    rng = np.random.default_rng(seed)
    nodes, weights, previous = [], [], "features"
    for i, (rows, cols) in enumerate(zip(widths, widths[1:], strict=False)):
        weights.append(_dense(f"w{i}", rows, cols, rng))
        nodes.append(helper.make_node("MatMul", [previous, f"w{i}"], [f"dense{i}"]))
        previous = f"dense{i}"
        if i < len(widths) - 2:
            nodes.append(helper.make_node("Relu", [previous], [f"relu{i}"]))
            previous = f"relu{i}"
    nodes.append(helper.make_node("Identity", [previous], ["scores"]))
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", widths[0]])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", widths[-1]])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by any onnxruntime since 1.10
    save_model(model, str(path))


def write_heavy_model(path: Path, seed: int = 0) -> None:
    widths = [HEAVY_FEATURES] + [HEAVY_WIDTH] * (HEAVY_LAYERS + 1) + [HEAVY_OUTPUTS]
    write_mlp(path, "heavy_mlp", widths, seed)


def _place(root: Path, model: BenchModel) -> Path:
    version_dir = root / model.name / "1"
    version_dir.mkdir(parents=True)
    (version_dir / "config.json").write_text(json.dumps(model.config, indent=2))
    return version_dir / "model.onnx"


def build_repository(root: Path) -> list[BenchModel]:
    """Writes root/<name>/1/{model.onnx,config.json} for each bench model, lightest first."""
    digits = BenchModel("digits", _config(max_queue_delay_ms=2))
    heavy = BenchModel("heavy_mlp", _config(max_queue_delay_ms=5))
    shutil.copyfile(DEMO_MODEL, _place(root, digits))
    write_heavy_model(_place(root, heavy))
    return [digits, heavy]
