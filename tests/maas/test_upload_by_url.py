"""Uploads by reference to an object store: the API fetches a version (a model object, or a
prefix holding a model and its external data) from a URL under MAAS_UPLOAD_REFERENCE_URLS,
from a real S3 API (moto's server), and validates it as any upload; a URL outside the allowed
prefixes, or missing, is a 422 naming it, and with no prefix set uploads by URL are a 403."""

import pytest

from tests.conftest import in_process_api
from tests.maas.conftest import BUCKET
from tests.support import large_models, onnx_models

ALLOWED = f"s3://{BUCKET}/incoming/"


@pytest.fixture
def settings(settings, s3):
    return settings.model_copy(update={"upload_reference_urls": [ALLOWED]})


async def by_url(api, name: str, url: str):
    return await api.post(f"/v1/models/{name}/uploads/from-path", json={"path": url})


async def test_a_version_directory_with_external_data_is_taken_from_the_store(s3, api, settings, tmp_path):
    large_models.mlp(tmp_path / "mlp", 64, 2, files=2)
    s3.put(str(tmp_path / "mlp"), f"{BUCKET}/incoming/mlp-v1", recursive=True)
    s3.invalidate_cache()
    response = await by_url(api, "mlp", ALLOWED + "mlp-v1")
    assert response.status_code == 201, response.text
    stored = settings.model_repository / "mlp" / "1"
    assert sorted(p.name for p in stored.glob("*.bin")) == ["weights-0.bin", "weights-1.bin"]
    assert (stored / "weights-1.bin").read_bytes() == (tmp_path / "mlp" / "weights-1.bin").read_bytes()


async def test_a_model_object_is_taken_from_the_store(s3, api, tmp_path):
    onnx_models.offset(tmp_path / "offset.onnx", 2.0)
    s3.put(str(tmp_path / "offset.onnx"), f"{BUCKET}/incoming/offset.onnx")
    response = await by_url(api, "offset", ALLOWED + "offset.onnx")
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 1


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"s3://{BUCKET}/other/offset.onnx", "not under a prefix of MAAS_UPLOAD_REFERENCE_URLS"),
        (f"s3://{BUCKET}/incoming/../other/x.onnx", "must not contain '..'"),
        (ALLOWED + "missing.onnx", "does not exist"),
    ],
)
async def test_a_url_not_allowed_or_missing_is_a_422_naming_it(s3, api, settings, url, says):
    response = await by_url(api, "offset", url)
    assert response.status_code == 422, response.text
    assert says in response.json()["error"]["message"]
    assert not (settings.model_repository / "offset").exists()


async def test_uploads_by_url_are_off_until_a_prefix_is_set(s3, redis, settings):
    async with in_process_api(settings.model_copy(update={"upload_reference_urls": []})) as api:
        response = await by_url(api, "offset", ALLOWED + "offset.onnx")
    assert response.status_code == 403, response.text
    assert "MAAS_UPLOAD_REFERENCE_URLS" in response.text
