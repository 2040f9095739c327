"""Model management refused when it must be: without an admin token when tokens are set (and
audited under the token's name when given), and for a model that does not exist."""

import pytest

from maas.core.settings import Settings
from tests.conftest import in_process_api
from tests.support import onnx_models
from tests.support.model_versions import snapshot, upload_parts


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


async def test_rollback_of_an_unknown_model_is_404_and_creates_nothing(api, model_repo):
    before = sorted(p.name for p in model_repo.parent.iterdir())
    for name in ("nosuch", "%2E%2E"):
        response = await api.post(f"/v1/models/{name}/aliases/stable/rollback")
        assert response.status_code == 404, response.text
    assert not (model_repo / "nosuch").exists()
    assert sorted(p.name for p in model_repo.parent.iterdir()) == before
