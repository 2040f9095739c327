"""Resumable uploads against real API processes: chunks in any order, retried freely; the API
SIGKILLed between chunks and the upload resumed against a restarted one (maas_client sends only
what is missing); the sha256 checked before the version exists; the version served with the
answers onnxruntime gives on the same files; abandoned uploads swept once expired."""

import hashlib
import os
import random
import tarfile
import time
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from maas_client import Client

from api.chunked import ChunkedUploads
from maas.cli.redis_server import free_port
from maas.core.settings import Settings
from tests.conftest import in_process_api
from tests.support import large_models
from tests.support.model_versions import finished
from tests.support.processes import MaasProcesses

WIDTH, DEPTH = 2048, 4  # 64 MiB of weights: several chunks, quick enough for CI
CHUNK = 8 * 1024 * 1024


@pytest.fixture
def settings(redis_server, model_repo, tmp_path) -> Settings:
    return Settings(
        redis_url=redis_server.url,
        model_repository=model_repo,
        state_dir=tmp_path / "state",
        heartbeat_interval_s=0.2,
        port=free_port(),
        upload_validation_timeout_s=300,
    )


def tarball(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "source"
    large_models.mlp(source, WIDTH, DEPTH, files=2)
    target = tmp_path / "version.tar"
    with tarfile.open(target, "w") as tar:
        for path in sorted(source.iterdir()):
            tar.add(path, arcname=path.name)
    return source, target


def put_chunk(http: httpx.Client, upload_id: str, file: Path, start: int, end: int) -> httpx.Response:
    size = file.stat().st_size
    with file.open("rb") as f:
        f.seek(start)
        body = f.read(end - start)
    headers = {"Content-Type": "application/octet-stream", "Content-Range": f"bytes {start}-{end - 1}/{size}"}
    return http.put(f"/v1/models/big/uploads/{upload_id}", content=body, headers=headers)


async def test_an_upload_survives_the_api_being_killed_between_chunks(settings, redis, worker, tmp_path):
    source, file = tarball(tmp_path)
    size = file.stat().st_size
    spans = [(a, min(a + CHUNK, size)) for a in range(0, size, CHUNK)]
    first_half = random.Random(3).sample(spans, len(spans) // 2)  # any order
    base = f"http://127.0.0.1:{settings.port}"
    with MaasProcesses(settings, tmp_path) as processes:
        api = await processes.ready("api")
        with httpx.Client(base_url=base, timeout=60) as http:
            created = http.post(
                "/v1/models/big/uploads", json={"filename": "version.tar", "size_bytes": size}
            )
            assert created.status_code == 201, created.text
            upload_id = created.json()["id"]
            for start, end in [*first_half, first_half[0]]:  # the last one again: a retry
                assert put_chunk(http, upload_id, file, start, end).status_code == 200
            early = http.post(f"/v1/models/big/uploads/{upload_id}/finish", json={"sha256": "0" * 64})
            assert early.status_code == 409 and "missing bytes" in early.text
            before = http.get(f"/v1/models/big/uploads/{upload_id}").json()
        api.kill()  # SIGKILL between chunks
        await processes.ready("api")
        with httpx.Client(base_url=base, timeout=60) as http:
            after = http.get(f"/v1/models/big/uploads/{upload_id}").json()
        assert after["received"] == before["received"]
        assert after["received_bytes"] == sum(end - start for start, end in first_half)

        sent: list[int] = []
        with Client(url=base, timeout=300) as maas:
            created_version = maas.models.resume_push(
                "big", file, upload_id, progress=lambda done, total: sent.append(done)
            )
        assert created_version["version"] == 1
        assert sent[0] == after["received_bytes"] and sent[-1] == size  # only the rest was sent
        assert created_version["size_bytes"] == sum(p.stat().st_size for p in source.iterdir())
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            x = np.random.default_rng(2).standard_normal((2, WIDTH)).astype(np.float32)
            response = await client.post(
                "/v1/jobs", json={"model": "big", "inputs": x.tolist()}, headers={"Prefer": "wait=60"}
            )
            job = await finished(client, response.json())
    session = ort.InferenceSession(str(source / "model.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(job["outputs"]["y"], session.run(None, {"x": x})[0], rtol=1e-4, atol=1e-5)
    assert not list((settings.state_dir / "uploads").glob("chunked-*"))


async def test_a_wrong_checksum_creates_nothing_and_keeps_the_upload(api, model_repo, tmp_path):
    file = tmp_path / "m.tar"
    source = tmp_path / "s"
    large_models.mlp(source, 16, 1)
    with tarfile.open(file, "w") as tar:
        for path in sorted(source.iterdir()):
            tar.add(path, arcname=path.name)
    size = file.stat().st_size
    upload = (
        await api.post("/v1/models/small/uploads", json={"filename": "m.tar", "size_bytes": size})
    ).json()
    headers = {"Content-Type": "application/octet-stream", "Content-Range": f"bytes 0-{size - 1}/{size}"}
    path = f"/v1/models/small/uploads/{upload['id']}"
    short = await api.put(path, content=file.read_bytes()[:-1], headers=headers)
    assert short.status_code == 422  # a chunk cut short is not recorded
    assert (await api.get(path)).json()["received"] == []
    assert (await api.put(path, content=file.read_bytes(), headers=headers)).status_code == 200
    wrong = await api.post(f"{path}/finish", json={"sha256": "ab" * 32})
    assert wrong.status_code == 422 and wrong.json()["error"]["loc"] == ["sha256"]
    assert not (model_repo / "small").exists()
    assert (await api.get(path)).json()["complete"] is True
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    created = await api.post(f"{path}/finish", json={"sha256": digest})
    assert created.status_code == 201, created.text
    assert (await api.get(path)).status_code == 404  # taken


@pytest.mark.parametrize("header", ["bytes 0-9/11", "bytes 5-4/10", "bytes 0-10/10", "items 0-1/10", None])
async def test_a_chunk_outside_its_upload_is_refused(api, header):
    upload = (await api.post("/v1/models/m/uploads", json={"filename": "m.onnx", "size_bytes": 10})).json()
    headers = {"Content-Type": "application/octet-stream", **({"Content-Range": header} if header else {})}
    response = await api.put(f"/v1/models/m/uploads/{upload['id']}", content=b"x" * 10, headers=headers)
    assert response.status_code == 422 and response.json()["error"]["loc"] == ["Content-Range"]


async def test_an_upload_over_the_size_limit_is_refused_at_creation(settings, api):
    big = settings.max_model_bytes + 1
    response = await api.post("/v1/models/m/uploads", json={"filename": "m.onnx", "size_bytes": big})
    assert response.status_code == 422 and "MAAS_MAX_MODEL_BYTES" in response.text


def test_an_abandoned_upload_is_swept_once_expired(tmp_path):
    uploads = ChunkedUploads(tmp_path, expiry_s=60)
    kept = uploads.create("m", "m.onnx", 10, None)
    old = uploads.create("m", "m.onnx", 10, None)
    folder = tmp_path / f"chunked-{old['id']}"
    stale = time.time() - 120
    os.utime(folder / "state.json", (stale, stale))
    assert uploads.sweep() == [folder]
    assert not folder.exists() and uploads.state("m", kept["id"])["received"] == []


async def test_an_upload_by_reference_takes_a_directory_under_an_allowed_one(
    settings, redis, model_repo, tmp_path
):
    shared = tmp_path / "shared"
    large_models.mlp(shared / "v", 16, 2, files=2)
    (tmp_path / "secret").mkdir()
    (shared / "escape").symlink_to(tmp_path / "secret")
    before = sorted(p.name for p in (shared / "v").iterdir())
    async with in_process_api(settings) as api:
        off = await api.post("/v1/models/ref/uploads/from-path", json={"path": str(shared / "v")})
        assert off.status_code == 403
    allowed = settings.model_copy(update={"upload_reference_dirs": [shared]})
    async with in_process_api(allowed) as api:
        for outside in (tmp_path / "secret", shared / "escape", "relative/v"):
            refused = await api.post("/v1/models/ref/uploads/from-path", json={"path": str(outside)})
            assert refused.status_code == 422 and refused.json()["error"]["loc"] == ["path"], refused.text
        created = await api.post("/v1/models/ref/uploads/from-path", json={"path": str(shared / "v")})
        assert created.status_code == 201, created.text
    assert sorted(p.name for p in (shared / "v").iterdir()) == before  # the source is untouched
    stored = sorted(p.name for p in (model_repo / "ref" / "1").iterdir())
    assert stored == ["model.onnx", "version.json", "weights-0.bin", "weights-1.bin"]
