"""Keys and scopes with MAAS_AUTH=keys: every /v1 route names a scope; a missing, unknown,
revoked or expired key is 401 with a Bearer challenge, a missing scope 403; keys are managed over
/v1/keys; no key or key hash shows in answers, logs or the audit streams."""

import logging

import pytest

from api.app import create_app
from batching import keys
from batching.tenancy import tokens
from maas.core.access import Scope
from tests.conftest import in_process_api
from tests.support.tenants import DATA_SCOPES, ROW, SECRET, bearer, keyed, make_key
from tests.support.waiting import wait_until

JOB = {"model": "digits", "version": 1, "inputs": [ROW]}
MADE_UP = "maas_sk_0123456789abcdef_" + "A" * 43
# One call per surface, with the scope it needs.
SURFACES = [
    ("POST", "/v1/jobs", {"json": JOB}, Scope.JOBS_WRITE),
    ("GET", "/v1/jobs", {}, Scope.JOBS_READ),
    ("GET", "/v1/jobs/01J00000000000000000000000", {}, Scope.JOBS_READ),
    ("DELETE", "/v1/jobs/01J00000000000000000000000", {}, Scope.JOBS_WRITE),
    ("POST", "/v1/jobs/01J00000000000000000000000/webhook/redeliver", {}, Scope.JOBS_WRITE),
    (
        "POST",
        "/v1/bulk-jobs",
        {"data": {"model": "digits"}, "files": {"file": ("a.jsonl", b"")}},
        Scope.BULK_WRITE,
    ),
    ("GET", "/v1/bulk-jobs", {}, Scope.BULK_READ),
    ("GET", "/v1/bulk-jobs/01J00000000000000000000000/output", {}, Scope.BULK_READ),
    ("GET", "/v1/models", {}, Scope.MODELS_READ),
    ("GET", "/v1/models/digits/versions/1", {}, Scope.MODELS_READ),
    ("PUT", "/v1/models/digits/aliases/stable", {"json": {"version": 1}}, Scope.MODELS_ADMIN),
    ("GET", "/v1/audit", {}, Scope.AUDIT_READ),
    ("GET", "/v1/keys", {}, Scope.KEYS_ADMIN),
    ("POST", "/v1/keys", {"json": {"tenant": "x", "scopes": ["jobs:read"]}}, Scope.KEYS_ADMIN),
]


@pytest.fixture
async def keyed_api(settings, redis):
    async with in_process_api(keyed(settings, key_last_used_interval_s=0)) as client:
        yield client


def test_every_v1_route_declares_the_scope_it_needs(settings):
    app = create_app(settings)
    undeclared = []
    for route in app.routes:
        path = getattr(route, "path", "")
        if not path.startswith("/v1"):
            continue
        scopes = [d.call.scope for d in route.dependant.dependencies if hasattr(d.call, "scope")]
        if len(scopes) != 1:
            undeclared.append((path, scopes))
    assert undeclared == []


async def test_without_a_valid_key_every_call_is_401_with_a_challenge(keyed_api, redis):
    revoked = await make_key(redis, "acme")
    await redis.hset(keys.api_key(tokens.key_id_of(revoked)), "revoked_at", "1")
    for method, path, kwargs, _ in SURFACES:
        for headers in (
            {},
            bearer("nonsense"),
            bearer(MADE_UP),
            bearer(revoked),
            {"Authorization": "Basic eDp5"},
        ):
            response = await keyed_api.request(method, path, headers=headers, **kwargs)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["www-authenticate"] == 'Bearer realm="maas"'
            assert response.json()["error"]["code"] == "unauthorized"
            for token in (MADE_UP, revoked):
                assert token not in response.text and tokens.key_id_of(token) != response.text
    assert (await keyed_api.get("/healthz")).status_code == 200  # probes stay open


async def test_a_key_without_the_scope_is_403_on_every_surface(keyed_api, redis):
    for method, path, kwargs, scope in SURFACES:
        others = await make_key(redis, "acme", frozenset(Scope) - {scope})
        response = await keyed_api.request(method, path, headers=bearer(others), **kwargs)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "forbidden"
        assert scope.value in response.json()["error"]["message"]
        allowed = await make_key(redis, "acme", frozenset({scope}))
        response = await keyed_api.request(method, path, headers=bearer(allowed), **kwargs)
        assert response.status_code not in (401, 403), (method, path, response.text)


async def test_keys_are_created_listed_rotated_and_revoked_over_the_api(keyed_api, redis):
    admin = bearer(await make_key(redis, "ops", frozenset({Scope.KEYS_ADMIN})))
    body = {"tenant": "acme", "scopes": ["jobs:read", "models:read"], "name": "ci-bot", "rate": "50/s"}
    created = await keyed_api.post("/v1/keys", json=body, headers=admin)
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["key"].startswith("maas_sk_") and key["state"] == "active" and key["name"] == "ci-bot"
    acme = bearer(key["key"])
    assert (await keyed_api.get("/v1/models", headers=acme)).status_code == 200
    listed = await keyed_api.get("/v1/keys", params={"tenant": "acme"}, headers=admin)
    [shown] = listed.json()["data"]
    assert shown["id"] == key["id"] and shown["last_used_at"] and "key" not in shown and "digest" not in shown

    rotated = (await keyed_api.post(f"/v1/keys/{key['id']}/rotate", json={}, headers=admin)).json()
    assert rotated["id"] != key["id"] and rotated["scopes"] == key["scopes"] and rotated["rate"] == "50/s"
    await wait_until(lambda: _status(keyed_api, "/v1/models", acme, 401), 3, "the rotated-out key is refused")
    new = bearer(rotated["key"])
    assert (await keyed_api.get("/v1/models", headers=new)).status_code == 200

    revoked = await keyed_api.delete(f"/v1/keys/{rotated['id']}", headers=admin)
    assert revoked.json()["state"] == "revoked"
    refused = await wait_until(lambda: _status(keyed_api, "/v1/models", new, 401), 3, "revoked key refused")
    assert "revoked" in refused.json()["error"]["message"]
    bad = await keyed_api.post("/v1/keys", json={**body, "scopes": ["jobs:everything"]}, headers=admin)
    assert bad.status_code == 422 and "jobs:everything" in bad.text
    assert (await keyed_api.delete("/v1/keys/0000000000000000", headers=admin)).status_code == 404


async def _status(api, path: str, headers: dict, status: int):
    response = await api.get(path, headers=headers)
    return response if response.status_code == status else None


async def test_an_expired_key_is_refused(keyed_api, redis):
    short = bearer(await make_key(redis, "acme", expires_in_s=1.0))
    assert (await keyed_api.get("/v1/models", headers=short)).status_code == 200
    refused = await wait_until(lambda: _status(keyed_api, "/v1/models", short, 401), 5, "expired key refused")
    assert "expired" in refused.json()["error"]["message"]


async def test_admin_tokens_manage_keys_but_submit_nothing(settings, redis):
    token = "bootstrap-admin-token-0123456789"
    async with in_process_api(keyed(settings, admin_tokens={"ops": token})) as api:
        created = await api.post(
            "/v1/keys", json={"tenant": "acme", "scopes": ["jobs:write"]}, headers=bearer(token)
        )
        assert created.status_code == 201, created.text
        assert (await api.post("/v1/jobs", json=JOB, headers=bearer(token))).status_code == 403
        entry = (await api.get("/v1/audit", headers=bearer(token))).json()[0]
        assert (entry["action"], entry["actor"], entry["key_id"]) == ("key.create", "ops", "token:ops")


async def test_no_key_or_key_hash_in_answers_logs_or_audit(keyed_api, redis, caplog):
    caplog.set_level(logging.DEBUG)
    admin = await make_key(redis, "ops", frozenset(Scope))
    acme = await make_key(redis, "acme", DATA_SCOPES)
    answers = []
    created = await keyed_api.post(
        "/v1/keys", json={"tenant": "b", "scopes": ["jobs:read"]}, headers=bearer(admin)
    )
    made = created.json()["key"]
    for method, path, kwargs, _ in SURFACES:
        for token in (admin, acme, made, admin + "x"):
            response = await keyed_api.request(method, path, headers=bearer(token), **kwargs)
            answers.append(response.text)
    answers.append((await keyed_api.get("/v1/keys", headers=bearer(admin))).text)
    streams = [keys.AUDIT, keys.AUDIT_DATA, keys.tenant_audit("acme", keys.AUDIT_DATA)]
    audit = [repr(await redis.xrange(s)) for s in streams]
    assert "job.submit" in audit[1] and "acme" in audit[2]  # the data plane is audited
    seen = "\n".join([*answers[1:], caplog.text, *audit])
    for token in (admin, acme, made):
        secret = token.removeprefix(tokens.PREFIX).split("_", 1)[1]  # its own `_`s included
        assert secret not in seen
        assert tokens.digest(SECRET.encode(), token) not in seen
    assert SECRET not in seen
