"""Uploading a model version over HTTP: validated before anything is written, recorded and
served at once; a refused upload (bad file, too big, malformed request) leaves the repository
unchanged; concurrent uploads get distinct versions; what a killed upload left is swept."""

import asyncio
import hashlib
import os
import time
from pathlib import Path

import pytest

from tests.conftest import in_process_api
from tests.support import onnx_models
from tests.support.model_versions import answered_by, finished, score, snapshot, upload, upload_parts
from tests.support.waiting import wait_until


async def test_upload_validates_records_and_serves_the_new_version(api, redis, offset_v1, worker, tmp_path):
    candidate = onnx_models.offset(tmp_path / "candidate" / "model.onnx", 2.0)
    response = await upload(api, "offset", candidate, {"max_batch_size": 16})
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == "/v1/models/offset/versions/2"
    assert created["version"] == 2
    assert created["sha256"] == hashlib.sha256(candidate.read_bytes()).hexdigest()
    assert created["size_bytes"] == candidate.stat().st_size
    assert created["config"]["max_batch_size"] == 16
    assert created["signature"]["inputs"] == [{"name": "x", "dtype": "float32", "shape": [None, 4]}]
    assert abs(created["created_at"] - time.time()) < 60
    version_dir = offset_v1.parent.parent / "2"
    assert version_dir.stat().st_mode & 0o777 == 0o755  # readable by workers of another user
    assert (version_dir / "config.json").stat().st_mode & 0o777 == 0o644

    job = await finished(api, await score(api, 5.0))  # `latest` is the new version at once
    assert job["version"] == 2 and answered_by(job, 5.0) == 2.0
    state = (await api.get("/v1/models/offset/versions/2")).json()
    assert state["status"] == "ready"
    assert [w["state"] for w in state["workers"]] == ["ready"]
    audit = (await api.get("/v1/audit")).json()
    assert audit[0]["action"] == "version.create" and audit[0]["target"] == "offset:2"
    assert audit[0]["after"]["sha256"] == created["sha256"]


def random_bytes(tmp_path: Path) -> tuple[str, bytes]:
    return "model.onnx", os.urandom(4096)


def truncated_onnx(tmp_path: Path) -> tuple[str, bytes]:
    whole = onnx_models.heavy(tmp_path / "h" / "model.onnx", width=64, depth=2).read_bytes()
    return "model.onnx", whole[: len(whole) // 2]


def tflite_named_onnx(tmp_path: Path) -> tuple[str, bytes]:
    return "model.onnx", b"\x1c\x00\x00\x00TFL3" + os.urandom(1024)  # a TFLite flatbuffer's header


def fixed_batch_of_one(tmp_path: Path) -> tuple[str, bytes]:
    return "model.onnx", onnx_models.fixed_batch(tmp_path / "f" / "model.onnx").read_bytes()


def unknown_suffix(tmp_path: Path) -> tuple[str, bytes]:
    return "model.pt", os.urandom(64)


@pytest.mark.parametrize(
    "make, says",
    [
        (random_bytes, "not a valid ONNX model"),
        (truncated_onnx, "not a valid ONNX model"),
        (tflite_named_onnx, "content is a .tflite model"),
        (fixed_batch_of_one, "fixed first dimension"),
        (unknown_suffix, "must end in one of"),
    ],
)
async def test_an_invalid_upload_gets_422_and_leaves_the_repository_unchanged(
    api, model_repo, tmp_path, make, says
):
    filename, content = make(tmp_path)
    before = snapshot(model_repo)
    for name in ("digits", "brand-new"):
        response = await api.post(
            f"/v1/models/{name}/versions", files={"file": (filename, content, "application/octet-stream")}
        )
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert says in error["message"] and error["loc"] == ["file"]
    assert snapshot(model_repo) == before


@pytest.mark.parametrize("size", [2_000, 200_000])  # under and over the form's slack for a config
async def test_an_upload_over_the_size_limit_gets_422(settings, redis, model_repo, tmp_path, size):
    small = settings.model_copy(update={"max_model_bytes": 1_000})
    before = snapshot(model_repo)
    async with in_process_api(small) as api:
        content = os.urandom(size)
        response = await api.post(
            "/v1/models/digits/versions", files={"file": ("model.onnx", content, "application/octet-stream")}
        )
    assert response.status_code == 422, response.text
    assert "exceeds the model size limit of 1000 bytes" in response.json()["error"]["message"]
    assert snapshot(model_repo) == before


@pytest.mark.parametrize(
    "request_kwargs, loc",
    [
        ({"files": {"config": ("config.json", b"{}", "application/json")}}, ["file"]),
        ({"data": {"config": "{not json"}}, ["config"]),
        ({"data": {"config": '{"max_batch_size": -1}'}}, ["config", "max_batch_size"]),
        ({"data": {"configuration": "{}"}}, ["configuration"]),  # a misspelt field is not ignored
    ],
)
async def test_a_malformed_upload_request_says_what_is_wrong(api, model_repo, tmp_path, request_kwargs, loc):
    model = onnx_models.offset(tmp_path / "m" / "model.onnx", 1.0)
    if "data" in request_kwargs:
        request_kwargs = {**request_kwargs, **upload_parts(model)}
    before = snapshot(model_repo)
    response = await api.post("/v1/models/offset/versions", **request_kwargs)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["loc"] == loc
    assert snapshot(model_repo) == before


async def test_an_upload_naming_a_plugin_runtime_is_refused_where_workers_refuse_plugins(
    api, model_repo, tmp_path
):
    model = onnx_models.offset(tmp_path / "m" / "model.onnx", 1.0)
    before = snapshot(model_repo)
    response = await upload(api, "offset", model, {"runtime": "tests.support.crash_runtime:CrashOnMarker"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["loc"] == ["config", "runtime"] and "MAAS_ALLOW_PLUGIN_RUNTIMES" in error["message"]
    assert snapshot(model_repo) == before


async def test_an_upload_that_is_not_multipart_is_415(api, model_repo):
    before = snapshot(model_repo)
    response = await api.post("/v1/models/offset/versions", json={"file": "model.onnx"})
    assert response.status_code == 415, response.text
    assert "multipart/form-data" in response.json()["error"]["message"]
    assert snapshot(model_repo) == before


async def test_concurrent_uploads_get_distinct_versions(api, model_repo, tmp_path):
    files = [onnx_models.offset(tmp_path / str(k) / "model.onnx", float(k)) for k in range(1, 6)]
    responses = await asyncio.gather(*(upload(api, "offset", f) for f in files))
    assert sorted(r.json()["version"] for r in responses) == [1, 2, 3, 4, 5]
    assert not [p for p in (model_repo / "offset").iterdir() if p.name.startswith(".staging")]


async def test_a_fixed_batch_model_is_accepted_with_a_config_stating_it_and_padded(api, worker, tmp_path):
    fixed = onnx_models.fixed_batch(tmp_path / "f" / "model.onnx", size=4)
    refused = await upload(api, "relu4", fixed, {"fixed_batch_size": 2})
    assert refused.status_code == 422 and "fixed_batch_size" in refused.json()["error"]["message"]
    too_big = await upload(api, "relu4", fixed, {"fixed_batch_size": 4, "max_batch_size": 8})
    assert too_big.status_code == 422 and too_big.json()["error"]["loc"][0] == "config"
    created = await upload(api, "relu4", fixed, {"fixed_batch_size": 4, "max_queue_delay_ms": 20})
    assert created.status_code == 201, created.text
    assert created.json()["config"]["max_batch_size"] == 4

    rows = [[[float(i), -1.0, 2.0, -3.0]] * (1 + i % 2) for i in range(9)]  # 1- and 2-row jobs
    responses = await asyncio.gather(
        *(
            api.post("/v1/jobs", json={"model": "relu4", "inputs": r}, headers={"Prefer": "wait=10"})
            for r in rows
        )
    )
    for r, response in zip(rows, responses, strict=True):
        job = await finished(api, response.json())
        assert job["outputs"]["y"] == [[max(v, 0.0) for v in row] for row in r]
        assert job["timings"]["batch_size"] <= 4
    too_many = await api.post("/v1/jobs", json={"model": "relu4", "inputs": [[0.0] * 4] * 5})
    assert too_many.status_code == 422


async def test_a_model_that_refuses_the_dummy_warm_up_batch_still_uploads_and_serves(api, worker, tmp_path):
    created = await upload(api, "conv", onnx_models.conv3x3(tmp_path / "c" / "model.onnx"))
    assert created.status_code == 201, created.text
    image = [[[[1.0] * 5] * 5]]  # one 5x5 image
    body = {"model": "conv", "inputs": image}
    response = await api.post("/v1/jobs", json=body, headers={"Prefer": "wait=10"})
    job = await finished(api, response.json())
    assert job["status"] == "succeeded", job
    assert job["outputs"]["y"] == [[[[9.0] * 3] * 3]]
    assert worker.lanes.states["conv:1"]["state"] == "ready"


async def test_jobs_for_a_version_every_worker_failed_to_load_get_503_at_once(
    api, offset_v1, worker, tmp_path
):
    candidate = onnx_models.offset(tmp_path / "m" / "model.onnx", 2.0)
    created = await upload(api, "offset", candidate, {"onnxruntime": {"providers": ["NoSuchProvider"]}})
    assert created.status_code == 201, created.text  # the API cannot know what workers provide

    async def not_accepted():  # accepted (202) until every worker has reported its failure
        response = await api.post("/v1/jobs", json={"model": "offset", "inputs": [[0.0] * 4]})
        return response if response.status_code != 202 else None

    response = await wait_until(not_accepted, 5, "jobs for the unloadable version are refused", 0.2)
    assert response.status_code == 503, response.text
    assert "failed to load on every worker" in response.json()["error"]["message"]
    assert "NoSuchProvider" in response.json()["error"]["message"]
    assert (await api.get("/v1/models/offset/versions/2")).json()["status"] == "failed"
    job = await finished(api, await score(api, 1.0, 1))  # the other version is unaffected
    assert answered_by(job, 1.0) == 1.0


async def test_an_api_start_sweeps_what_a_killed_upload_left_behind(settings, redis, model_repo):
    stale_stage = model_repo / "digits" / ".staging-dead"
    stale_upload = settings.state_dir / "uploads" / "upload-dead"
    fresh_upload = settings.state_dir / "uploads" / "upload-live"
    for folder in (stale_stage, stale_upload, fresh_upload):
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    for folder in (stale_stage, stale_upload):
        os.utime(folder, (two_hours_ago, two_hours_ago))
    async with in_process_api(settings):
        pass
    assert not stale_stage.exists() and not stale_upload.exists()
    assert fresh_upload.exists()  # an upload in flight in another API process is left alone
