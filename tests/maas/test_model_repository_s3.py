"""A model repository in an object store: a worker process reads it from `s3://` (a real S3 API,
moto's server) through its local cache, fetching each version once, checked against its
listing and version.json before the registry sees it, within the cache's size bound."""

import json
import threading
import time

import pytest

from maas.models.registry import ModelRepository
from maas.models.remote import RepositoryMirror
from maas.models.store import file_facts
from tests.maas.conftest import BUCKET
from tests.support import large_models, onnx_models
from tests.support.waiting import wait_until


def put_version(s3, local_version, name: str, version: int) -> None:
    s3.put(str(local_version), f"{BUCKET}/models/{name}/{version}", recursive=True)
    s3.invalidate_cache()


def mirror(tmp_path, max_bytes: int = 1 << 30) -> RepositoryMirror:
    return RepositoryMirror(f"s3://{BUCKET}/models", tmp_path / "cache", max_bytes)


def test_a_version_is_fetched_once_checked_and_its_config_followed(s3, tmp_path):
    folder = tmp_path / "src" / "1"
    large_models.mlp(folder, 64, 2, files=2)
    (folder / "version.json").write_text(json.dumps(file_facts(folder / "model.onnx")))
    put_version(s3, folder, "mlp", 1)
    cache = mirror(tmp_path)
    cache.sync()
    cached = tmp_path / "cache" / "mlp" / "1"
    assert sorted(p.name for p in cached.iterdir()) == [
        "model.onnx",
        "version.json",
        "weights-0.bin",
        "weights-1.bin",
    ]
    assert ModelRepository(tmp_path / "cache").get("mlp", 1).path == cached / "model.onnx"
    fetched_at = (cached / "weights-0.bin").stat().st_mtime_ns
    s3.pipe(f"{BUCKET}/models/mlp/1/config.json", b'{"max_queue_delay_ms": 7}')
    cache.sync()
    assert (cached / "weights-0.bin").stat().st_mtime_ns == fetched_at  # immutable: not fetched again
    assert ModelRepository(tmp_path / "cache").get_uncached("mlp", 1).config.max_queue_delay_ms == 7
    s3.rm(f"{BUCKET}/models/mlp/1", recursive=True)
    cache.sync()
    assert not cached.exists()


def test_a_version_whose_file_differs_from_its_version_json_is_not_cached(s3, tmp_path):
    folder = tmp_path / "src" / "1"
    onnx_models.offset(folder / "model.onnx", 1.0)
    (folder / "version.json").write_text(json.dumps({"sha256": "0" * 64}))
    put_version(s3, folder, "offset", 1)
    mirror(tmp_path).sync()
    assert not (tmp_path / "cache" / "offset" / "1").exists()
    assert not any((tmp_path / "cache" / "offset").iterdir())  # no partial folder left


def test_a_version_past_the_cache_bound_is_not_fetched(s3, tmp_path):
    for version in (1, 2):
        large_models.mlp(tmp_path / "src" / str(version), 64, 4, seed=version)  # 64 KiB of weights
        put_version(s3, tmp_path / "src" / str(version), "mlp", version)
    mirror(tmp_path, max_bytes=100 * 1024).sync()
    assert sorted(p.name for p in (tmp_path / "cache" / "mlp").iterdir()) == ["1"]


@pytest.fixture
def settings(settings, s3, tmp_path):
    """The API and the workers read the bucket, each through the cache under the state dir."""
    bucket = {"model_repository_url": f"s3://{BUCKET}/models", "model_rescan_s": 0.2}
    return settings.model_copy(update=bucket)


async def api_sees(api, path: str) -> None:
    async def found() -> bool:
        return (await api.get(path)).status_code == 200

    await wait_until(found, 30, f"the API's sync of the bucket shows {path}")


async def test_a_worker_process_serves_a_version_from_the_bucket(s3, settings, api, processes, tmp_path):
    source = tmp_path / "offset-1"
    onnx_models.offset(source / "model.onnx", 3.0, {"max_queue_delay_ms": 2})
    put_version(s3, source, "offset", 1)  # what an operator's pipeline put in the bucket
    await api_sees(api, "/v1/models/offset/versions/1")
    await processes.ready("worker")
    cached = settings.state_dir / "model-cache" / "offset" / "1" / "model.onnx"
    await wait_until(cached.exists, 30, "offset v1 fetched into the cache")
    response = await api.post(
        "/v1/jobs", json={"model": "offset", "inputs": [[1.0] * 4]}, headers={"Prefer": "wait=30"}
    )
    assert response.json()["outputs"]["y"] == [[4.0] * 4], response.text
    assert not (settings.state_dir / "model-cache" / "digits").exists()  # only the bucket's versions


async def test_the_api_reads_a_bucket_repository_and_refuses_to_write_it(s3, settings, api, tmp_path):
    for version, offset in ((1, 1.0), (2, 2.0)):
        onnx_models.offset(tmp_path / str(version) / "model.onnx", offset)
        put_version(s3, tmp_path / str(version), "offset", version)
    await api_sees(api, "/v1/models/offset/versions/2")
    listed = (await api.get("/v1/models/offset")).json()
    assert listed["versions"] == [1, 2]
    # Aliases live in Redis, not in the bucket: they are set here as usual.
    moved = await api.put("/v1/models/offset/aliases/stable", json={"version": 1})
    assert moved.status_code == 200, moved.text
    files = {"file": ("model.onnx", (tmp_path / "1" / "model.onnx").read_bytes())}
    writes = [
        await api.post("/v1/models/offset/versions", files=files),
        await api.patch("/v1/models/offset/versions/1/config", json={"max_batch_size": 8}),
        await api.delete("/v1/models/offset/versions/2"),
        await api.post("/v1/models/offset/uploads", json={"filename": "model.onnx", "size_bytes": 10}),
    ]
    for answer in writes:
        assert answer.status_code == 409, (answer.request.url, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "repository_read_only"
        assert f"s3://{BUCKET}/models" in error["message"] and "MAAS_MODEL_REPOSITORY_URL" in error["message"]
    s3.rm(f"{BUCKET}/models/offset/2", recursive=True)  # the pipeline removes a version
    s3.invalidate_cache()

    async def gone() -> bool:
        return (await api.get("/v1/models/offset/versions/2")).status_code == 404

    await wait_until(gone, 30, "v2 leaves the API's view once gone from the bucket")


def test_a_fetch_reports_its_progress(s3, tmp_path):
    large_models.mlp(tmp_path / "src" / "1", 2048, 8, files=2)  # 128 MiB
    put_version(s3, tmp_path / "src" / "1", "mlp", 1)
    cache = mirror(tmp_path)
    seen: list[tuple[int, int]] = []
    syncing = threading.Thread(target=cache.sync)
    syncing.start()
    while syncing.is_alive():
        if (progress := cache.fetching.get(("mlp", 1))) is not None:
            seen.append(tuple(progress))
        time.sleep(0.001)
    total = 8 * 2048 * 2048 * 4 + (tmp_path / "src" / "1" / "model.onnx").stat().st_size
    assert (tmp_path / "cache" / "mlp" / "1" / "model.onnx").is_file() and not cache.fetching
    assert {t for _, t in seen} == {total}
    assert any(0 < done < total for done, _ in seen), seen[:5]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
