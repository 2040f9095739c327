"""Cross-site request forgery: a page on another site cannot make a browser change state through
the API (roll back an alias, upload a model), and management without admin tokens is open only
on a loopback bind."""

import pytest

from tests.conftest import in_process_api
from tests.support import onnx_models

EVIL = "https://evil.example"
TOKEN = "t" * 32


async def aliases(api) -> dict:
    return (await api.get("/v1/models/digits")).json()["aliases"]


@pytest.fixture
async def promoted(api):
    for version in (1, 2):
        response = await api.put("/v1/models/digits/aliases/stable", json={"version": version})
        assert response.status_code == 200, response.text
    return api


async def test_a_foreign_origin_cannot_roll_back_an_alias(promoted):
    headers = {"Origin": EVIL, "Content-Type": "text/plain"}
    response = await promoted.post("/v1/models/digits/aliases/stable/rollback", content=b"x", headers=headers)
    assert response.status_code == 403, response.text
    assert "MAAS_ALLOWED_ORIGINS" in response.json()["error"]["message"]
    assert await aliases(promoted) == {"stable": 2}


async def test_a_browser_marked_cross_site_request_is_refused(promoted):
    headers = {"Sec-Fetch-Site": "cross-site"}
    response = await promoted.post("/v1/models/digits/aliases/stable/rollback", headers=headers)
    assert response.status_code == 403, response.text
    assert await aliases(promoted) == {"stable": 2}


async def test_a_foreign_origin_cannot_upload_a_model(api, model_repo, tmp_path):
    model = onnx_models.offset(tmp_path / "m" / "model.onnx", 1.0)
    files = {"file": ("model.onnx", model.read_bytes(), "application/octet-stream")}
    response = await api.post("/v1/models/offset/versions", files=files, headers={"Origin": EVIL})
    assert response.status_code == 403, response.text
    assert not (model_repo / "offset").exists()


async def test_text_plain_is_not_json(promoted):
    rollback = await promoted.post(
        "/v1/models/digits/aliases/stable/rollback", content=b"", headers={"Content-Type": "text/plain"}
    )
    assert rollback.status_code == 415, rollback.text
    body = b'{"model": "digits", "inputs": [[0]]}'
    job = await promoted.post("/v1/jobs", content=body, headers={"Content-Type": "text/plain"})
    assert job.status_code == 415, job.text
    assert await aliases(promoted) == {"stable": 2}


async def test_the_apis_own_origin_and_allowed_origins_may_change_state(settings, redis):
    allowed = settings.model_copy(update={"allowed_origins": ["https://console.example"]})
    async with in_process_api(allowed) as api:
        for origin in ("http://maas", "https://console.example", "https://console.example:443"):
            response = await api.put(
                "/v1/models/digits/aliases/stable", json={"version": 1}, headers={"Origin": origin}
            )
            assert response.status_code == 200, (origin, response.text)
        rollback = await api.post("/v1/models/digits/aliases/stable/rollback")  # no body, no type
        assert rollback.status_code == 409, rollback.text  # no earlier version: past the guards


async def test_management_without_tokens_needs_a_loopback_bind(settings, redis):
    """With auth set off explicitly on an exposed address (else the API refuses to start)."""
    async with in_process_api(settings.model_copy(update={"host": "0.0.0.0", "auth": "off"})) as api:
        response = await api.put("/v1/models/digits/aliases/stable", json={"version": 1})
        assert response.status_code == 403, response.text
        assert "MAAS_ADMIN_TOKENS" in response.json()["error"]["message"]
        assert (await api.get("/v1/models/digits")).status_code == 200  # reading stays open
    exposed = settings.model_copy(update={"host": "0.0.0.0", "auth": "off", "admin_tokens": {"ops": TOKEN}})
    async with in_process_api(exposed) as api:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        response = await api.put("/v1/models/digits/aliases/stable", json={"version": 1}, headers=headers)
        assert response.status_code == 200, response.text
