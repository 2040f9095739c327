"""The parity report: the exported artifact against the Keras/TensorFlow model it came from, each
run in its own runtime on the same rows: max/mean absolute difference, top-1 agreement, accuracy
(with labels), file size, latency at batch 1 and 32. Beyond the tolerance it fails."""

import time
from collections.abc import Callable

import numpy as np

from export.data import Dataset

LATENCY_BATCHES = (1, 32)
# Default max |difference| allowed per optimization, on the model's outputs (for a classifier,
# probabilities). Float32 conversion only reorders arithmetic; float16 rounds weights to ~3
# digits; int8 schemes move probabilities by a few hundredths on digits (README figures).
DEFAULT_TOLERANCE = {None: 1e-5, "float16": 1e-2, "dynamic": 0.1, "static": 0.15, "int8": 0.15}

Predict = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def _top1(outputs: np.ndarray) -> np.ndarray | None:
    return outputs.argmax(-1) if outputs.ndim == 2 and outputs.shape[1] > 1 else None


def _rows(data: Dataset, rows: int) -> dict[str, np.ndarray]:
    repeats = -(-rows // data.rows)
    return {k: np.concatenate([v] * repeats)[:rows] for k, v in data.inputs.items()}


def latency_ms(predict: Predict, data: Dataset, rows: int, runs: int = 30) -> float:
    """Median wall time of one call on `rows` rows, after warm-up calls."""
    batch = _rows(data, rows)
    for _ in range(3):
        predict(batch)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predict(batch)
        times.append(time.perf_counter() - start)
    return round(float(np.median(times)) * 1000, 4)


def accuracy(outputs: dict[str, np.ndarray], labels: np.ndarray | None) -> float | None:
    top1 = _top1(next(iter(outputs.values())))
    if labels is None or top1 is None:
        return None
    return round(float((top1 == labels).mean()), 4)


def compare(reference: dict[str, np.ndarray], artifact: dict[str, np.ndarray]) -> dict:
    """Differences over every output; top-1 agreement on the first (when it is a classifier's)."""
    diffs = [np.abs(reference[k].astype(np.float64) - artifact[k].astype(np.float64)) for k in reference]
    first = next(iter(reference))
    ref_top1, art_top1 = _top1(reference[first]), _top1(artifact[first])
    return {
        "max_abs_diff": float(max(d.max() for d in diffs)),
        "mean_abs_diff": float(np.mean([d.mean() for d in diffs])),
        "top1_agreement": None if ref_top1 is None else round(float((ref_top1 == art_top1).mean()), 4),
    }


def parity_report(reference: Predict, artifact: Predict, data: Dataset, tolerance: float) -> dict:
    ref_out, art_out = reference(data.inputs), artifact(data.inputs)
    missing = sorted(set(ref_out) - set(art_out))
    if missing:
        return {"rows": data.rows, "passed": False, "error": f"artifact lacks outputs {missing}"}
    report = {"rows": data.rows, **compare(ref_out, art_out), "tolerance": tolerance}
    report["passed"] = bool(report["max_abs_diff"] <= tolerance)
    report["accuracy"] = {
        "reference": accuracy(ref_out, data.labels),
        "artifact": accuracy(art_out, data.labels),
    }
    report["latency_ms"] = {
        runtime: {str(rows): latency_ms(predict, data, rows) for rows in LATENCY_BATCHES}
        for runtime, predict in (("reference", reference), ("artifact", artifact))
    }
    return report
