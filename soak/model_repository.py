"""The soak's model repository: the repo's models/ plus a generated, slower-to-batch MLP."""

import json
import shutil
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save_model

REPO_MODELS = Path(__file__).resolve().parent.parent / "models"
DIGITS = "digits"
HEAVY = "heavy"
FEATURES = 64
CLASSES = 10
HEAVY_WIDTH = 1024
HEAVY_LAYERS = 8
# The digits model runs a batch in well under a millisecond, so a worker rarely holds
# unacknowledged entries when it is killed and the reclaim path would go unexercised. This model
# waits up to 50 ms to fill a batch and then computes for a few ms (32 MB of weights), so a
# SIGKILL usually lands while its worker holds some of its entries.
HEAVY_CONFIG = {
    "max_batch_size": 32,
    "max_queue_delay_ms": 50,
    "onnxruntime": {"intra_op_num_threads": 1},
}


def _heavy_graph(rng: np.random.Generator):
    # Same input and output as digits (pixels [N,64] -> probabilities [N,10]), so the load
    # sends both the same bodies and checks both answers the same way.
    widths = [FEATURES] + [HEAVY_WIDTH] * HEAVY_LAYERS + [CLASSES]
    nodes, weights, previous = [], [], "pixels"
    for i, (rows, cols) in enumerate(zip(widths, widths[1:], strict=False)):
        # He scaling keeps activations finite through the Relu layers.
        scaled = rng.standard_normal((rows, cols)) * np.sqrt(2.0 / rows)
        weights.append(numpy_helper.from_array(scaled.astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [previous, f"w{i}"], [f"dense{i}"]))
        previous = f"dense{i}"
        if cols != CLASSES:
            nodes.append(helper.make_node("Relu", [previous], [f"relu{i}"]))
            previous = f"relu{i}"
    nodes.append(helper.make_node("Softmax", [previous], ["probabilities"], axis=-1))
    return helper.make_graph(
        nodes,
        "soak_heavy_mlp",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", FEATURES])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", CLASSES])],
        weights,
    )


def build_repository(root: Path, seed: int = 0) -> Path:
    shutil.copytree(REPO_MODELS, root)
    version_dir = root / HEAVY / "1"
    version_dir.mkdir(parents=True)
    model = helper.make_model(
        _heavy_graph(np.random.default_rng(seed)), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8  # readable by any onnxruntime since 1.10
    save_model(model, str(version_dir / "model.onnx"))
    (version_dir / "config.json").write_text(json.dumps(HEAVY_CONFIG, indent=2))
    return root
