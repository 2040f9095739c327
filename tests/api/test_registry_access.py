"""How the API reaches the model repository: a version's signature comes from its version.json
(no runtime session built at submit), and no repository call runs on the event loop."""

import json
import threading
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from tests.support import onnx_models
from tests.support.bulk_helpers import jsonl


async def upload_offset(api, tmp_path: Path) -> dict:
    candidate = onnx_models.offset(tmp_path / "candidate" / "model.onnx", 2.0)
    parts = {"file": ("model.onnx", candidate.read_bytes(), "application/octet-stream")}
    response = await api.post("/v1/models/offset/versions", files=parts)
    assert response.status_code == 201, response.text
    return response.json()


async def submit(api, row_width: int) -> httpx.Response:
    return await api.post("/v1/jobs", json={"model": "offset", "inputs": [[1.0] * row_width]})


async def test_an_uploaded_version_validates_jobs_from_its_stored_signature(api, model_repo, tmp_path):
    created = await upload_offset(api, tmp_path)
    version_dir = model_repo / "offset" / str(created["version"])
    stored = json.loads((version_dir / "version.json").read_text())["signature"]
    assert stored == created["signature"]
    # From now on a session built from the file fails: submit must not build one.
    (version_dir / "model.onnx").write_bytes(b"no longer a model")
    refused = await submit(api, 3)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["message"] == "inputs.x: expected shape [N, 4], got [1, 3]"
    assert (await submit(api, 4)).status_code == 202


async def test_a_version_json_without_a_signature_still_validates_from_the_file(api, model_repo, tmp_path):
    created = await upload_offset(api, tmp_path)
    version_json = model_repo / "offset" / str(created["version"]) / "version.json"
    metadata = json.loads(version_json.read_text())
    del metadata["signature"]  # as versions uploaded before signatures were stored
    version_json.write_text(json.dumps(metadata))
    refused = await submit(api, 3)
    assert refused.status_code == 422, refused.text
    assert (await submit(api, 4)).status_code == 202
    read = await api.get(f"/v1/models/offset/versions/{created['version']}")
    assert read.json()["signature"] == created["signature"]


def record_threads(repository, calls: list[tuple[str, int]]) -> None:
    """Wraps the repository's reads and writes to note the thread each call runs on."""

    def wrap(owner, name: str):
        method = getattr(owner, name)

        def recorded(*args, **kwargs):
            calls.append((name, threading.get_ident()))
            return method(*args, **kwargs)

        setattr(owner, name, recorded)

    for name in ("get", "names", "versions", "set_alias", "rollback_alias", "update_config", "retire"):
        wrap(repository, name)
    wrap(repository.aliases, "read")


@pytest.fixture
async def app_and_api(settings, redis):
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://maas") as client:
            yield app, client


async def test_no_repository_call_runs_on_the_event_loop(app_and_api, tmp_path):
    app, api = app_and_api
    calls: list[tuple[str, int]] = []
    record_threads(app.state.services.jobs.registry.repository, calls)
    pair = {"model": "pair", "inputs": {"a": [[1.0, 2.0, 3.0]], "b": [[1, 2]]}}
    assert (await api.post("/v1/jobs", json=pair)).status_code == 202
    bulk = await api.post(
        "/v1/bulk-jobs",
        data={"model": "digits"},
        files={"file": ("rows.jsonl", jsonl([{"id": "r", "inputs": [[0.0] * 64]}]))},
    )
    assert bulk.status_code == 202, bulk.text
    for path in ("/v1/models", "/v1/models/pair", "/v1/models/pair/versions/1"):
        assert (await api.get(path)).status_code == 200
    assert (await api.put("/v1/models/pair/aliases/stable", json={"version": 1})).status_code == 200
    patched = await api.patch("/v1/models/pair/versions/1/config", json={"max_batch_size": 8})
    assert patched.status_code == 200, patched.text
    await upload_offset(api, tmp_path)
    called = {name for name, _ in calls}
    assert {"get", "names", "versions", "read", "set_alias", "update_config"} <= called
    on_loop = [name for name, thread in calls if thread == threading.get_ident()]
    assert not on_loop, on_loop
