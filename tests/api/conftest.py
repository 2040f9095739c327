"""Fixtures of the model version tests (tests/api/test_model_*.py): `offset` models, whose
output is their input plus an offset equal to their version. Requested before `worker`, they
exist before the worker starts and so are preloaded."""

from pathlib import Path

import pytest

from tests.support import onnx_models


@pytest.fixture
def offset_v1(model_repo) -> Path:
    return onnx_models.offset(model_repo / "offset" / "1" / "model.onnx", 1.0, {"max_queue_delay_ms": 2})


@pytest.fixture
def offset_v1_v2(model_repo) -> Path:
    onnx_models.offset(model_repo / "offset" / "1" / "model.onnx", 1.0)
    onnx_models.offset(model_repo / "offset" / "2" / "model.onnx", 2.0)
    return model_repo
