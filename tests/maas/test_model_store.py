"""maas.models.store: new versions appear whole, numbered one past the highest, even when writers
race, with their signature stored in version.json."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from maas.core.errors import InvalidInputError
from maas.models.registry import ModelRepository
from maas.models.signatures import read_signature, stored_signature
from maas.models.store import STAGING_PREFIX, add_version
from tests.conftest import REPO_ROOT
from tests.support import onnx_models


def test_versions_are_numbered_after_the_highest_and_hold_every_file(tmp_path):
    model = onnx_models.two_in_two_out(tmp_path / "src" / "model.onnx")
    root = tmp_path / "models"
    (root / "pair" / "7").mkdir(parents=True)  # a number taken by someone else, even if empty
    version = add_version(root, "pair", model, {"max_batch_size": 8}, {"report.json": b"{}"})
    assert version == 8
    files = sorted(p.name for p in (root / "pair" / "8").iterdir())
    assert files == ["config.json", "model.onnx", "report.json", "version.json"]
    assert json.loads((root / "pair" / "8" / "config.json").read_text()) == {"max_batch_size": 8}
    assert ModelRepository(root).get("pair").version == 8
    assert not [p for p in (root / "pair").iterdir() if p.name.startswith(STAGING_PREFIX)]  # none left


def test_racing_writers_each_get_their_own_version(tmp_path):
    model = onnx_models.two_in_two_out(tmp_path / "src" / "model.onnx")
    root = tmp_path / "models"
    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(lambda _: add_version(root, "pair", model), range(16)))
    assert sorted(versions) == list(range(1, 17))
    assert ModelRepository(root).versions("pair") == list(range(1, 17))


@pytest.mark.parametrize(
    "name, file_name, extras, message",
    [
        ("../escape", "model.onnx", {}, "model name"),
        ("pair", "model.bin", {}, "must end in one of"),
        ("pair", "model.onnx", {"config.json": b"{}"}, "reserved"),
        ("pair", "model.onnx", {"../x": b""}, "not a plain name"),
    ],
)
def test_bad_requests_write_nothing(tmp_path, name, file_name, extras, message):
    model = onnx_models.two_in_two_out(tmp_path / "src" / "model.onnx").rename(tmp_path / "src" / file_name)
    root = tmp_path / "models"
    with pytest.raises(InvalidInputError, match=message):
        add_version(root, name, model, None, extras)
    assert not ModelRepository(root).versions("pair")
    assert not (root / "pair").exists() or not [p for p in (root / "pair").iterdir()]


@pytest.mark.parametrize("source", ["pair.onnx", "digits.tflite"])
def test_a_new_version_stores_the_signature_its_file_has(tmp_path, source):
    if source == "pair.onnx":
        model = onnx_models.two_in_two_out(tmp_path / "src" / "model.onnx")
    else:
        model = REPO_ROOT / "models" / "digits" / "3" / "model.tflite"  # int8, shown as float32
    root = tmp_path / "models"
    version = add_version(root, "m", model)
    metadata = json.loads((root / "m" / str(version) / "version.json").read_text())
    assert metadata["signature"] == read_signature(model).to_dict()
    assert stored_signature(metadata) == read_signature(model)  # what it stores reads back the same


def test_a_signature_given_by_the_caller_is_the_one_stored(tmp_path):
    """The API passes the signature it validated the upload with, rather than reading it twice."""
    model = onnx_models.two_in_two_out(tmp_path / "src" / "model.onnx")
    given = read_signature(onnx_models.offset(tmp_path / "other" / "model.onnx", 1.0))
    version = add_version(tmp_path / "models", "pair", model, signature=given)
    metadata = json.loads((tmp_path / "models" / "pair" / str(version) / "version.json").read_text())
    assert stored_signature(metadata) == given
