"""The demo versions of `digits` in models/ (scripts/build_digits_demo.py) load and answer well in
the worker's own runtimes, each with the report that vouched for it."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from maas.models.registry import ModelRepository
from tests.conftest import REPO_ROOT
from worker.runtimes.catalog import load_runtime

DIGITS = load_digits()
# the held-out quarter the demo's reports were measured on (the split of scripts/train_digits.py)
HELD_OUT = train_test_split(
    DIGITS.data.astype(np.float32), DIGITS.target, test_size=0.25, random_state=0, stratify=DIGITS.target
)[1::2]


@pytest.mark.parametrize(
    "version, runtime", [(2, "litert"), (3, "litert"), (4, "onnxruntime"), (5, "onnxruntime")]
)
def test_each_demo_version_serves_held_out_digits_as_its_report_says(version, runtime):
    model = ModelRepository(REPO_ROOT / "models").get("digits", version)
    assert model.runtime == runtime
    (pixels,) = model.signature.inputs
    assert (pixels.name, pixels.dtype.name, pixels.shape) == ("pixels", "float32", (None, 64))
    rows, labels = HELD_OUT
    probabilities = load_runtime(model, "cpu").run({"pixels": rows})["probabilities"]
    accuracy = float((probabilities.argmax(1) == labels).mean())
    report = json.loads((model.path.parent / "report.json").read_text())
    assert report["parity"]["passed"]
    assert accuracy == pytest.approx(report["parity"]["accuracy"]["artifact"], abs=1e-4)
    assert accuracy > 0.95
