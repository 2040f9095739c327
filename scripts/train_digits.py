"""Trains the demo model `digits` and writes it to models/digits/1/model.onnx.

An MLP (64 -> 64 relu -> 10 softmax) on scikit-learn's bundled 8x8 digits. The graph takes raw
pixel values (0..16, float32 [N, 64]) and returns class probabilities (float32 [N, 10]).
Run: .venv/bin/python scripts/train_digits.py   (needs the `demo` extra)
"""

import argparse
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

PIXEL_MAX = 16.0


def to_onnx(mlp: MLPClassifier) -> onnx.ModelProto:
    (w1, w2), (b1, b2) = mlp.coefs_, mlp.intercepts_
    initializers = [
        numpy_helper.from_array(np.array([1 / PIXEL_MAX], np.float32), "scale"),
        numpy_helper.from_array(w1.astype(np.float32), "w1"),
        numpy_helper.from_array(b1.astype(np.float32), "b1"),
        numpy_helper.from_array(w2.astype(np.float32), "w2"),
        numpy_helper.from_array(b2.astype(np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Mul", ["pixels", "scale"], ["scaled"]),
        helper.make_node("MatMul", ["scaled", "w1"], ["h1"]),
        helper.make_node("Add", ["h1", "b1"], ["h1b"]),
        helper.make_node("Relu", ["h1b"], ["a1"]),
        helper.make_node("MatMul", ["a1", "w2"], ["logits0"]),
        helper.make_node("Add", ["logits0", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "digits",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("models/digits/1/model.onnx"))
    args = parser.parse_args()
    digits = load_digits()
    x = digits.data.astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=600, random_state=0)
    mlp.fit(x_train / PIXEL_MAX, y_train)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(to_onnx(mlp), args.out)
    session = ort.InferenceSession(str(args.out), providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(None, {"pixels": x_test})
    accuracy = float((probabilities.argmax(1) == y_test).mean())
    sklearn_accuracy = mlp.score(x_test / PIXEL_MAX, y_test)
    print(
        f"wrote {args.out}: held-out accuracy {accuracy:.4f} on {len(y_test)} digits "
        f"(scikit-learn: {sklearn_accuracy:.4f})"
    )


if __name__ == "__main__":
    main()
