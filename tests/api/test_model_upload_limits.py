"""An upload is validated in a child process held to a memory and time limit: a file of a few
hundred bytes that allocates gigabytes for its trial batch is refused (422) without the API's own
memory growing, and the repository is unchanged."""

import pytest

from tests.conftest import in_process_api
from tests.support import onnx_models
from tests.support.model_versions import snapshot, upload

MIB = 2**20


def peak_rss_since_reset() -> int:
    """This process's peak resident size since the last reset_peak_rss(), bytes."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def current_rss() -> int:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


async def test_a_small_file_that_allocates_gigabytes_gets_422_and_the_api_stays_small(
    api, model_repo, tmp_path
):
    bomb = onnx_models.memory_bomb(tmp_path / "bomb" / "model.onnx", side=20_000)  # 1.6 GB a run
    assert bomb.stat().st_size < 300
    before = snapshot(model_repo)
    reset_peak_rss()
    baseline = current_rss()
    response = await upload(api, "bomb", bomb)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert "file: the model needs more than 1024 MB to validate" in error["message"]
    assert "MAAS_UPLOAD_VALIDATION_MEMORY_MB" in error["message"]
    assert snapshot(model_repo) == before and not (model_repo / "bomb").exists()
    assert peak_rss_since_reset() - baseline < 200 * MIB  # the child paid, not the API


@pytest.mark.parametrize("memory_mb, status", [(1024, 201), (64, 422)])
async def test_the_memory_limit_is_the_setting(settings, redis, tmp_path, memory_mb, status):
    # 8000 x 8000 floats: 256 MB for its trial batch.
    model = onnx_models.memory_bomb(tmp_path / "m" / "model.onnx", side=8_000)
    limited = settings.model_copy(update={"upload_validation_memory_mb": memory_mb})
    async with in_process_api(limited) as api:
        response = await upload(api, "squares", model)
    assert response.status_code == status, response.text
    if status == 422:
        assert f"needs more than {memory_mb} MB to validate" in response.json()["error"]["message"]
    else:
        assert response.json()["signature"]["inputs"][0]["shape"] == [None, 4]


async def test_a_validation_past_its_time_limit_gets_422(settings, redis, model_repo, tmp_path):
    model = onnx_models.offset(tmp_path / "o" / "model.onnx", 1.0)
    before = snapshot(model_repo)
    hasty = settings.model_copy(update={"upload_validation_timeout_s": 0.05})
    async with in_process_api(hasty) as api:
        response = await upload(api, "offset", model)
    assert response.status_code == 422, response.text
    assert "needs more than 0.05 s to validate" in response.json()["error"]["message"]
    assert snapshot(model_repo) == before
