"""The model repository: versions, configs, signatures, and models it must refuse to serve."""

import json
import shutil

import numpy as np
import pytest

from maas.core.errors import ModelLoadError, ModelNotFoundError
from maas.models.registry import ModelRepository
from maas.models.signatures import read_signature
from maas.models.store import add_version
from tests.conftest import DIGITS
from tests.support import onnx_models
from worker.runtimes.catalog import load_runtime
from worker.runtimes.onnx_runtime import OnnxRuntime


def test_versions_latest_and_signature_come_from_the_files(model_repo):
    registry = ModelRepository(model_repo)
    assert registry.names() == ["digits", "lookup", "pair"]
    assert registry.versions("digits") == [1, 2]
    latest = registry.get("digits")
    assert latest.version == 2 and latest.config.max_queue_delay_ms == 30
    pair = registry.get("pair", 1)
    assert [(t.name, t.dtype.name, t.shape) for t in pair.signature.inputs] == [
        ("a", "float32", (None, 3)),
        ("b", "int64", (None, 2)),
    ]
    assert pair.config.max_batch_size == 64  # defaults without a config file


def test_unknown_models_and_versions_are_not_found(model_repo):
    registry = ModelRepository(model_repo)
    with pytest.raises(ModelNotFoundError, match="'nope'"):
        registry.get("nope")
    with pytest.raises(ModelNotFoundError, match="no version 3"):
        registry.get("digits", 3)
    with pytest.raises(ModelNotFoundError):
        registry.get("../digits")


def test_a_model_without_a_batch_dimension_is_refused(tmp_path):
    onnx_models.fixed_batch(tmp_path / "fixed" / "1" / "model.onnx")
    with pytest.raises(ModelLoadError, match="no dynamic first"):
        ModelRepository(tmp_path).get("fixed")


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    (tmp_path / "junk" / "1").mkdir(parents=True)
    (tmp_path / "junk" / "1" / "model.onnx").write_bytes(b"not a model at all")
    with pytest.raises(ModelLoadError, match="not a loadable ONNX model"):
        ModelRepository(tmp_path).get("junk")


@pytest.mark.parametrize(
    "config",
    [{"max_batch_size": 0}, {"max_batch_sise": 8}, {"max_batch_size": 4, "preferred_batch_sizes": [8]}],
)
def test_an_invalid_config_is_refused_with_its_reason(tmp_path, config):
    shutil.copytree(DIGITS, tmp_path / "d" / "1")
    (tmp_path / "d" / "1" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="invalid model config"):
        ModelRepository(tmp_path).get("d")


def test_a_config_change_is_seen_without_a_restart(model_repo):
    registry = ModelRepository(model_repo, recheck_s=0)
    assert registry.get("pair").config.max_batch_size == 64
    (model_repo / "pair" / "1" / "config.json").write_text('{"max_batch_size": 4}')
    assert registry.get("pair").config.max_batch_size == 4


def test_the_runtime_matches_direct_onnxruntime_and_refuses_a_missing_gpu(model_repo):
    model = ModelRepository(model_repo).get("pair")
    runtime = load_runtime(model, "cpu")
    out = runtime.run({"a": np.ones((2, 3), np.float32), "b": np.ones((2, 2), np.int64)})
    np.testing.assert_array_equal(out["doubled"], np.full((2, 3), 2.0, np.float32))
    np.testing.assert_array_equal(out["total"], [[2], [2]])
    with pytest.raises(ModelLoadError, match="CUDAExecutionProvider unavailable"):
        OnnxRuntime(model, "cuda")


def test_a_registered_version_is_read_from_its_stored_signature_not_its_file(tmp_path):
    model = onnx_models.two_in_two_out(tmp_path / "src" / "model.onnx")
    root = tmp_path / "models"
    version = add_version(root, "pair", model)
    # Unloadable from now on: a registry that built a session to read the signature would fail.
    (root / "pair" / str(version) / "model.onnx").write_bytes(b"no longer a model")
    assert ModelRepository(root).get("pair").signature == read_signature(model)


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "not a signature",
        {"inputs": [{"name": "a", "dtype": "complex64", "shape": [None]}], "outputs": []},
    ],
)
def test_a_version_json_without_a_usable_signature_falls_back_to_the_model_file(tmp_path, stored):
    model = onnx_models.two_in_two_out(tmp_path / "src" / "model.onnx")
    root = tmp_path / "models"
    version_json = root / "pair" / str(add_version(root, "pair", model)) / "version.json"
    metadata = json.loads(version_json.read_text())
    if stored is None:
        del metadata["signature"]  # as written before signatures were stored
    else:
        metadata["signature"] = stored
    version_json.write_text(json.dumps(metadata))
    found = ModelRepository(root).get("pair")
    assert found.signature == read_signature(model)
    assert found.sha256 == metadata["sha256"]
