"""Model versions managed over HTTP while jobs flow: upload (validated, atomic), config changes
applied by a running worker, retirement, lazy loading and unloading under a memory budget."""

import asyncio
import hashlib
import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from maas.core.settings import Settings
from tests.conftest import WorkerHandle, in_process_api
from tests.support import onnx_models
from tests.support.processes import REPO_ROOT


def upload_parts(path: Path, config: dict | None = None, filename: str | None = None) -> dict:
    parts = {"files": {"file": (filename or path.name, path.read_bytes(), "application/octet-stream")}}
    if config is not None:
        parts["data"] = {"config": json.dumps(config)}
    return parts


async def upload(api, name: str, path: Path, config: dict | None = None):
    return await api.post(f"/v1/models/{name}/versions", **upload_parts(path, config))


async def score(api, x: float, version=None, wait_s: float = 10) -> dict:
    body = {"model": "offset", "inputs": [[x] * 4]}
    if version is not None:
        body["version"] = version
    response = await api.post("/v1/jobs", json=body, headers={"Prefer": f"wait={wait_s}"})
    assert response.status_code in (200, 202), response.text
    return response.json()


async def finished(api, job: dict) -> dict:
    if job["status"] in ("queued", "running"):
        job = (await api.get(f"/v1/jobs/{job['id']}", params={"wait": 20})).json()
    return job


def answered_by(job: dict, x: float) -> float:
    """Which offset (= version, for these models) computed the job."""
    assert job["status"] == "succeeded", job
    return job["outputs"]["y"][0][0] - x


def snapshot(root: Path) -> list:
    """Every file with its size and mtime; writers' lock files aside (they hold no content)."""
    return sorted(
        (str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.name != ".versions.lock" and p.is_file()
    )


@pytest.fixture
def offset_v1(model_repo) -> Path:
    return onnx_models.offset(model_repo / "offset" / "1" / "model.onnx", 1.0, {"max_queue_delay_ms": 2})


@pytest.fixture
def offset_v1_v2(model_repo) -> Path:
    onnx_models.offset(model_repo / "offset" / "1" / "model.onnx", 1.0)
    onnx_models.offset(model_repo / "offset" / "2" / "model.onnx", 2.0)
    return model_repo


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


async def test_a_new_version_uploaded_while_1000_jobs_stream_in(api, offset_v1, worker, tmp_path):
    """No job fails, and each job's result is the one of the version it was resolved to."""
    candidate = onnx_models.offset(tmp_path / "candidate" / "model.onnx", 2.0)
    jobs: list[tuple[float, dict]] = []

    async def client(first: int) -> None:
        for i in range(first, 1000, 20):
            jobs.append((float(i), await score(api, float(i))))

    async def upload_midway() -> None:
        while len(jobs) < 300:
            await asyncio.sleep(0.005)
        response = await upload(api, "offset", candidate)
        assert response.status_code == 201, response.text

    await asyncio.gather(*(client(i) for i in range(20)), upload_midway())
    assert len(jobs) == 1000
    done = [(x, await finished(api, job)) for x, job in jobs]
    assert all(answered_by(job, x) == job["version"] for x, job in done)
    by_version = Counter(job["version"] for _, job in done)
    assert by_version[1] >= 300 and by_version[2] > 0, by_version


async def test_jobs_follow_an_alias_promoted_and_rolled_back_under_load(api, worker_handle, model_repo):
    onnx_models.offset(model_repo / "offset" / "1" / "model.onnx", 1.0, {"max_queue_delay_ms": 2})
    onnx_models.offset(model_repo / "offset" / "2" / "model.onnx", 2.0, {"max_queue_delay_ms": 2})
    await worker_handle.start()
    assert (await api.put("/v1/models/offset/aliases/stable", json={"version": 1})).status_code == 200
    submitted: list[tuple[float, float, float, dict]] = []  # (started, answered, x, job)
    stop = asyncio.Event()

    async def client(seed: int) -> None:
        x = float(seed)
        while not stop.is_set():
            started = time.monotonic()
            job = await score(api, x, "stable", wait_s=0)
            submitted.append((started, time.monotonic(), x, job))
            x += 100

    async def move(method: str, path: str, **kwargs) -> tuple[float, float]:
        await asyncio.sleep(0.4)
        called = time.monotonic()
        response = await api.request(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return called, time.monotonic()

    clients = [asyncio.create_task(client(i)) for i in range(8)]
    promoted = await move("PUT", "/v1/models/offset/aliases/stable", json={"version": 2})
    rolled_back = await move("POST", "/v1/models/offset/aliases/stable/rollback")
    await asyncio.sleep(0.4)
    stop.set()
    await asyncio.gather(*clients)

    expected = Counter()
    for started, answered, x, job in submitted:
        if answered < promoted[0] or started > rolled_back[1]:
            want = 1
        elif promoted[1] < started and answered < rolled_back[0]:
            want = 2
        else:
            continue  # submitted while the alias moved: either version is right
        expected[want] += 1
        assert job["version"] == want
        assert answered_by(await finished(api, job), x) == want
    assert expected[1] > 10 and expected[2] > 10, expected
    audit = [(e["action"], e["before"], e["after"]) for e in (await api.get("/v1/audit")).json()]
    assert audit[:3] == [("alias.rollback", 2, 1), ("alias.set", 1, 2), ("alias.set", None, 1)]


async def test_a_config_change_reaches_the_running_worker(api, worker_handle, model_repo):
    onnx_models.offset(
        model_repo / "offset" / "1" / "model.onnx", 1.0, {"max_batch_size": 4, "max_queue_delay_ms": 100}
    )
    worker = await worker_handle.start()

    async def largest_batch() -> int:
        jobs = await asyncio.gather(*(score(api, float(i)) for i in range(32)))
        return max([(await finished(api, job))["timings"]["batch_size"] for job in jobs])

    assert await largest_batch() == 4
    patched = await api.patch("/v1/models/offset/versions/1/config", json={"max_batch_size": 32})
    assert patched.status_code == 200, patched.text
    assert patched.json()["config"]["max_batch_size"] == 32
    assert patched.json()["config"]["max_queue_delay_ms"] == 100  # a merge patch keeps the rest
    deadline = time.monotonic() + 5
    sizes = []
    while time.monotonic() < deadline and (not sizes or sizes[-1] <= 4):
        sizes.append(await largest_batch())
    assert sizes[-1] > 4, sizes
    assert not worker_handle.task.done() and worker_handle.worker is worker  # no restart
    audit = (await api.get("/v1/audit")).json()[0]
    assert audit["action"] == "version.config"
    assert audit["before"]["max_batch_size"] == 4 and audit["after"]["max_batch_size"] == 32


@pytest.mark.parametrize(
    "patch, where",
    [
        ({"max_batch_size": 0}, ["max_batch_size"]),
        ({"preferred_batch_sizes": [128]}, []),
        ({"onnxruntime": {"threads": 2}}, ["onnxruntime", "threads"]),
        ([1, 2], ["body"]),
        ({"runtime": "os:system"}, ["runtime"]),  # a plugin, and MAAS_ALLOW_PLUGIN_RUNTIMES is off
        ({"runtime": "litert"}, ["runtime"]),  # digits is an .onnx file
    ],
)
async def test_an_invalid_config_change_is_refused_and_changes_nothing(api, model_repo, patch, where):
    before = snapshot(model_repo)
    response = await api.patch("/v1/models/digits/versions/2/config", json=patch)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["loc"][: len(where)] == where if where else True
    assert snapshot(model_repo) == before


async def test_retiring_a_version_lets_its_queued_jobs_finish(api, worker_handle, offset_v1_v2):
    queued = [await score(api, float(i), 1, wait_s=0) for i in range(5)]  # no worker yet
    await api.put("/v1/models/offset/aliases/stable", json={"version": 1})
    refused = await api.delete("/v1/models/offset/versions/1")
    assert refused.status_code == 409 and "stable" in refused.json()["error"]["message"]
    await api.delete("/v1/models/offset/aliases/stable")

    retired = await api.delete("/v1/models/offset/versions/1", headers={"X-Actor": "alice"})
    assert retired.status_code == 200, retired.text
    assert retired.json()["by"] == "alice"
    new = await api.post("/v1/jobs", json={"model": "offset", "version": 1, "inputs": [[0.0] * 4]})
    assert new.status_code == 404 and "retired" in new.json()["error"]["message"]
    page = (await api.get("/v1/models/offset/versions/1")).json()
    assert page["status"] == "retired" and page["retired"]["by"] == "alice"
    assert (await api.get("/v1/models/offset")).json()["versions"] == [2]

    await worker_handle.start()
    for i, job in enumerate(queued):
        assert answered_by(await finished(api, job), float(i)) == 1.0
    deadline = time.monotonic() + 5  # once its lane is empty, the worker unloads it
    while "offset:1" in worker_handle.worker.lanes.states and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert "offset:1" not in worker_handle.worker.lanes.states
    assert "offset:2" in worker_handle.worker.lanes.states


async def test_lazy_loading_and_lru_unloading_under_a_memory_budget(settings, redis, offset_v1_v2):
    # A budget smaller than one model: every load unloads every idle model first.
    lazy = settings.model_copy(update={"worker_preload": False, "worker_memory_budget_mb": 0.0001})
    handle = WorkerHandle(lazy)
    async with in_process_api(lazy) as api:
        try:
            await handle.start()
            lanes = handle.worker.lanes
            assert lanes.states == {}  # nothing loaded before a job asks for it
            assert (await api.get("/v1/models/offset/versions/1")).json()["status"] == "unloaded"
            job = await finished(api, await score(api, 1.0, 1))
            assert answered_by(job, 1.0) == 1.0
            assert set(lanes.states) == {"offset:1"}
            page = (await api.get("/v1/models/offset/versions/1")).json()
            assert page["status"] == "ready" and page["workers"][0]["worker"] == handle.worker.worker_id
            job = await finished(api, await score(api, 1.0, 2))
            assert answered_by(job, 1.0) == 2.0
            assert set(lanes.states) == {"offset:2"}  # the least recently used one made room
            job = await finished(api, await score(api, 3.0, 1))  # and loads again on demand
            assert answered_by(job, 3.0) == 1.0
        finally:
            await handle.stop()


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
        ({"data": {"config": "{}"}}, ["file"]),
        ({"data": {"config": "{not json"}}, ["config"]),
        ({"data": {"config": '{"max_batch_size": -1}'}}, ["config", "max_batch_size"]),
    ],
)
async def test_a_malformed_upload_request_says_what_is_wrong(api, model_repo, tmp_path, request_kwargs, loc):
    model = onnx_models.offset(tmp_path / "m" / "model.onnx", 1.0)
    if "data" in request_kwargs and loc != ["file"]:
        request_kwargs = {**request_kwargs, **upload_parts(model)}
    elif "data" in request_kwargs:
        request_kwargs = {**request_kwargs, "files": {"other": ("x", b"x", "text/plain")}}
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


async def test_a_runtime_option_change_loads_a_new_runtime_and_a_broken_one_keeps_the_old(
    api, offset_v1, worker
):
    lanes = worker.lanes
    before = lanes.served[("offset", 1)].runtime
    patched = await api.patch(
        "/v1/models/offset/versions/1/config", json={"onnxruntime": {"intra_op_num_threads": 1}}
    )
    assert patched.status_code == 200, patched.text
    deadline = time.monotonic() + 5
    while lanes.served[("offset", 1)].runtime is before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    reloaded = lanes.served[("offset", 1)].runtime
    assert reloaded is not before
    assert (
        reloaded.inner.session.get_session_options().intra_op_num_threads == 1
    )  # inner: under FiniteOutputsRuntime
    assert answered_by(await finished(api, await score(api, 2.0)), 2.0) == 1.0

    broken = {"onnxruntime": {"providers": ["NoSuchProvider"]}}
    await api.patch("/v1/models/offset/versions/1/config", json=broken)
    deadline = time.monotonic() + 5
    while not lanes.states["offset:1"]["error"] and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    page = (await api.get("/v1/models/offset/versions/1")).json()
    assert page["status"] == "ready" and page["workers"][0]["state"] == "ready"
    assert "new config not applied" in page["workers"][0]["error"]
    assert "NoSuchProvider" in page["workers"][0]["error"]
    assert lanes.served[("offset", 1)].runtime is reloaded  # the working runtime still serves
    assert answered_by(await finished(api, await score(api, 3.0)), 3.0) == 1.0


async def test_with_admin_tokens_management_needs_one_and_is_audited_under_its_name(
    settings, redis, model_repo, tmp_path
):
    guarded = settings.model_copy(update={"admin_tokens": {"alice": "a" * 24, "ci": "c" * 32}})
    candidate = onnx_models.offset(tmp_path / "m" / "model.onnx", 1.0)
    async with in_process_api(guarded) as api:
        calls = [
            ("PUT", "/v1/models/digits/aliases/stable", {"json": {"version": 1}}),
            ("POST", "/v1/models/digits/aliases/stable/rollback", {}),
            ("DELETE", "/v1/models/digits/aliases/stable", {}),
            ("PATCH", "/v1/models/digits/versions/1/config", {"json": {"max_batch_size": 8}}),
            ("DELETE", "/v1/models/digits/versions/1", {}),
            ("POST", "/v1/models/offset/versions", upload_parts(candidate)),
        ]
        before = snapshot(model_repo)
        for method, path, kwargs in calls:
            for headers in ({}, {"Authorization": "Bearer " + "b" * 24}, {"X-Actor": "alice"}):
                response = await api.request(method, path, headers=headers, **kwargs)
                assert response.status_code == 401, (method, path, response.text)
                assert response.headers["www-authenticate"].startswith("Bearer")
        assert snapshot(model_repo) == before
        assert (await api.get("/v1/models/digits")).status_code == 200  # reading stays open

        alice = {"Authorization": "Bearer " + "a" * 24, "X-Actor": "mallory"}
        moved = await api.put("/v1/models/digits/aliases/stable", json={"version": 1}, headers=alice)
        assert moved.status_code == 200
        assert (await api.get("/v1/audit")).json()[0]["actor"] == "alice"


def test_admin_tokens_must_be_long():
    with pytest.raises(ValueError, match="shorter than 16"):
        Settings(admin_tokens={"bob": "short"})


async def test_a_tflite_upload_is_validated_and_served(api, worker, model_repo, tmp_path):
    demo = REPO_ROOT / "models" / "digits" / "3" / "model.tflite"  # int8
    created = await upload(api, "digits", demo)
    assert created.status_code == 201, created.text
    assert created.json()["runtime"] == "litert"
    row = [[float(v) for v in range(16)] * 4]
    response = await api.post(
        "/v1/jobs", json={"model": "digits", "inputs": row}, headers={"Prefer": "wait=10"}
    )
    job = await finished(api, response.json())
    assert job["version"] == created.json()["version"] and job["status"] == "succeeded", job
    probabilities = next(iter(job["outputs"].values()))[0]
    assert len(probabilities) == 10 and abs(sum(probabilities) - 1) < 0.05

    truncated = tmp_path / "model.tflite"
    truncated.write_bytes(demo.read_bytes()[:4096])
    before = snapshot(model_repo)
    refused = await upload(api, "digits", truncated)
    assert refused.status_code == 422 and "TFLite" in refused.json()["error"]["message"], refused.text
    onnx_named_tflite = tmp_path / "other.tflite"
    onnx_named_tflite.write_bytes((model_repo / "digits" / "1" / "model.onnx").read_bytes())
    refused = await upload(api, "digits", onnx_named_tflite)
    assert refused.status_code == 422 and "content is a .onnx model" in refused.json()["error"]["message"]
    assert snapshot(model_repo) == before


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


async def test_a_config_change_that_would_not_serve_is_refused_and_a_broken_one_can_be_repaired(
    api, model_repo, tmp_path
):
    fixed = onnx_models.fixed_batch(model_repo / "relu4" / "1" / "model.onnx", size=4)
    (fixed.parent / "config.json").write_text('{"fixed_batch_size": 4}')
    before = snapshot(model_repo)
    unservable = (({"fixed_batch_size": None}, "fixed_batch_size"), ({"runtime": "litert"}, "runtime"))
    for patch, where in unservable:
        refused = await api.patch("/v1/models/relu4/versions/1/config", json=patch)
        assert refused.status_code == 422 and refused.json()["error"]["loc"] == [where], refused.text
    assert snapshot(model_repo) == before

    (fixed.parent / "config.json").write_text("{}")  # broken by hand: the version no longer loads
    assert (await api.post("/v1/jobs", json={"model": "relu4", "inputs": [[0.0] * 4]})).status_code == 503
    repaired = await api.patch("/v1/models/relu4/versions/1/config", json={"fixed_batch_size": 4})
    assert repaired.status_code == 200, repaired.text
    assert (await api.post("/v1/jobs", json={"model": "relu4", "inputs": [[0.0] * 4]})).status_code == 202


async def test_rollback_of_an_unknown_model_is_404_and_creates_nothing(api, model_repo):
    before = sorted(p.name for p in model_repo.parent.iterdir())
    for name in ("nosuch", "%2E%2E"):
        response = await api.post(f"/v1/models/{name}/aliases/stable/rollback")
        assert response.status_code == 404, response.text
    assert not (model_repo / "nosuch").exists()
    assert sorted(p.name for p in model_repo.parent.iterdir()) == before


async def test_jobs_for_a_version_every_worker_failed_to_load_get_503_at_once(
    api, offset_v1, worker, tmp_path
):
    candidate = onnx_models.offset(tmp_path / "m" / "model.onnx", 2.0)
    created = await upload(api, "offset", candidate, {"onnxruntime": {"providers": ["NoSuchProvider"]}})
    assert created.status_code == 201, created.text  # the API cannot know what workers provide
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        response = await api.post("/v1/jobs", json={"model": "offset", "inputs": [[0.0] * 4]})
        if response.status_code != 202:
            break
        await asyncio.sleep(0.2)
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
