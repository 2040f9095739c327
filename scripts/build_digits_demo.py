"""Rebuilds the demo model `digits` through the export toolchain and prints the table in the
README ("Export and optimize").

A Keras MLP (Dense 128 relu, Dense 128 relu, Dense 10 softmax) on scikit-learn's bundled 8x8
digits, taking raw pixels (0..16, float32 [N, 64], input `pixels`) like models/digits/1 and
returning `probabilities` [N, 10]; exported and registered as versions of `digits`: TFLite
float32, TFLite full int8, an ONNX distilled student (one hidden layer of 32), and last (so it is
`latest`) the ONNX float32 export. A pruned ONNX (80% sparsity) is built for the table only.
Versions 2 and up of `digits` are replaced; version 1 (scripts/train_digits.py) is kept.
Run: make demo-export   (needs the `export` and `demo` extras)
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
from rich.console import Console
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from export.cli import summary_table
from export.options import ExportOptions
from export.pipeline import run_export

SEED = 0


def train_keras(x_train: np.ndarray, y_train: np.ndarray, epochs: int) -> keras.Model:
    keras.utils.set_random_seed(SEED)
    pixels = keras.Input(shape=(64,), name="pixels")
    x = keras.layers.Rescaling(1 / 16)(pixels)
    x = keras.layers.Dense(128, activation="relu")(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    probabilities = keras.layers.Dense(10, activation="softmax", name="probabilities")(x)
    model = keras.Model(pixels, probabilities, name="digits")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    return model


def _clear_demo_versions(root: Path) -> None:
    for version_dir in (root / "digits").glob("*"):
        if version_dir.name.isdigit() and int(version_dir.name) > 1:
            shutil.rmtree(version_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-repository", type=Path, default=Path("models"))
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data.astype(np.float32), digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    work = Path(tempfile.mkdtemp(prefix="digits-demo-"))
    model_path = work / "digits.keras"
    train_keras(x_train, y_train, args.epochs).save(model_path)
    np.savez(work / "train.npz", pixels=x_train, labels=y_train)
    np.savez(work / "test.npz", pixels=x_test, labels=y_test)
    _clear_demo_versions(args.model_repository)
    common = {"model": model_path, "validate": work / "test.npz", "model_repository": args.model_repository}
    builds = [
        ("tflite float32", {"to": "tflite", "register": "digits"}),
        (
            "tflite int8",
            {"to": "tflite", "quantize": "int8", "calibration": work / "train.npz", "register": "digits"},
        ),
        (
            "onnx student 32",
            {"distill": "32", "train": work / "train.npz", "epochs": args.epochs, "register": "digits"},
        ),
        (
            "onnx pruned 0.8",
            {"prune": 0.8, "train": work / "train.npz", "epochs": 10, "output": work / "pruned.onnx"},
        ),
        ("onnx dynamic int8", {"quantize": "dynamic", "output": work / "dynamic.onnx"}),
        ("onnx float32", {"register": "digits"}),
    ]
    rows = []
    for label, options in builds:
        result = run_export(ExportOptions(**common, **options))
        where = f"digits v{result.version}" if result.version else "not registered"
        rows.append((f"{label} ({where})", result.report))
    keras_row = rows[-1][1]["parity"]
    console = Console(width=160)
    console.print(summary_table(f"digits: {len(y_test)} held-out rows", rows))
    console.print(
        f"Keras (TensorFlow) reference: accuracy {keras_row['accuracy']['reference']}, "
        f"ms @1 {keras_row['latency_ms']['reference']['1']}, "
        f"ms @32 {keras_row['latency_ms']['reference']['32']}"
    )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
