"""Tenant isolation with MAAS_AUTH=keys: tenant A creates jobs, a bulk job and an idempotency key;
tenant B gets 404 for each of A's things on every call (never 403: existence is not told), and
sees nothing of A's in its lists, its audit or behind A's Idempotency-Key. Models restricted to
tenants are 404 to the others."""

import json

import pytest

from maas.core.access import Scope
from tests.conftest import in_process_api
from tests.support.bulk_helpers import jsonl
from tests.support.tenants import DATA_SCOPES, ROW, bearer, keyed, make_key

TENANT_SCOPES = DATA_SCOPES | {Scope.AUDIT_READ}


@pytest.fixture
async def tenants(settings, redis):
    """(api, A's headers, B's headers)."""
    async with in_process_api(keyed(settings)) as api:
        a = bearer(await make_key(redis, "tenant-a", TENANT_SCOPES))
        b = bearer(await make_key(redis, "tenant-b", TENANT_SCOPES))
        yield api, a, b


async def _a_creates(api, a) -> tuple[str, str]:
    job = await api.post(
        "/v1/jobs",
        json={"model": "digits", "version": 1, "inputs": [ROW]},
        headers={**a, "Idempotency-Key": "k1"},
    )
    assert job.status_code == 202, job.text
    bulk = await api.post(
        "/v1/bulk-jobs",
        data={"model": "digits"},
        files={"file": ("in.jsonl", jsonl([{"inputs": [ROW]}]))},
        headers=a,
    )
    assert bulk.status_code == 202, bulk.text
    return job.json()["id"], bulk.json()["id"]


async def test_another_tenant_gets_404_on_every_call_and_sees_nothing(tenants):
    api, a, b = tenants
    job_id, bulk_id = await _a_creates(api, a)
    calls = [
        ("GET", f"/v1/jobs/{job_id}", {}, 200),
        ("GET", f"/v1/jobs/{job_id}?wait=0.2", {}, 200),
        ("POST", f"/v1/jobs/{job_id}/webhook/redeliver", {}, 409),  # A's job has no webhook
        ("GET", f"/v1/bulk-jobs/{bulk_id}", {}, 200),
        ("GET", f"/v1/bulk-jobs/{bulk_id}/output", {}, 409),  # not finished (no worker here)
        ("GET", f"/v1/bulk-jobs/{bulk_id}/errors", {}, 409),
        ("POST", f"/v1/bulk-jobs/{bulk_id}/cancel", {}, 200),
        ("DELETE", f"/v1/jobs/{job_id}", {}, 200),
    ]
    for method, path, kwargs, owner_status in calls:
        other = await api.request(method, path, headers=b, **kwargs)
        assert other.status_code == 404, (method, path, other.text)
        assert other.json()["error"]["code"] == "job_not_found" and "tenant-a" not in other.text
        owner = await api.request(method, path, headers=a, **kwargs)
        assert owner.status_code == owner_status, (method, path, owner.text)

    b_lists = [
        (await api.get("/v1/jobs", headers=b)).json(),
        (await api.get("/v1/bulk-jobs", headers=b)).json(),
        (await api.get("/v1/audit", params={"kind": "data"}, headers=b)).json(),
        (await api.get("/v1/audit", headers=b)).json(),
    ]
    assert b_lists == [{"data": [], "next_cursor": None}, {"data": []}, [], []]
    a_jobs = (await api.get("/v1/jobs", headers=a)).json()["data"]
    assert [j["id"] for j in a_jobs] == [job_id]
    assert [j["id"] for j in (await api.get("/v1/bulk-jobs", headers=a)).json()["data"]] == [bulk_id]
    a_audit = (await api.get("/v1/audit", params={"kind": "data"}, headers=a)).json()
    assert [e["action"] for e in a_audit] == ["job.cancel", "bulk.cancel", "bulk.submit", "job.submit"]
    assert {e["tenant"] for e in a_audit} == {"tenant-a"} and all(e["key_id"] for e in a_audit)


async def test_an_idempotency_key_is_the_tenant_s_own(tenants):
    api, a, b = tenants
    job_id, _ = await _a_creates(api, a)
    body = {"model": "digits", "version": 1, "inputs": [ROW]}
    again = await api.post("/v1/jobs", json=body, headers={**a, "Idempotency-Key": "k1"})
    assert again.json()["id"] == job_id and again.headers["idempotent-replayed"] == "true"
    other = await api.post("/v1/jobs", json=body, headers={**b, "Idempotency-Key": "k1"})
    assert other.status_code == 202 and other.json()["id"] != job_id
    assert "idempotent-replayed" not in other.headers


async def test_the_job_list_pages_newest_first_and_filters(tenants):
    api, a, b = tenants
    body = {"model": "digits", "version": 1, "inputs": [ROW]}
    ids = [(await api.post("/v1/jobs", json=body, headers=a)).json()["id"] for _ in range(5)]
    await api.post("/v1/jobs", json=body, headers=b)
    await api.delete(f"/v1/jobs/{ids[1]}", headers=a)
    pages, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/jobs", params=params, headers=a)).json()
        pages.append([j["id"] for j in page["data"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i for p in pages for i in p] == ids[::-1]
    cancelled = (await api.get("/v1/jobs", params={"status": "cancelled"}, headers=a)).json()["data"]
    assert [j["id"] for j in cancelled] == [ids[1]]
    assert (await api.get("/v1/jobs", params={"model": "pair"}, headers=a)).json()["data"] == []


async def test_a_model_restricted_to_tenants_is_404_to_the_others(tenants, model_repo, redis):
    api, a, b = tenants
    (model_repo / "pair" / "1" / "config.json").write_text(json.dumps({"access": ["tenant-a"]}))
    pair = {"model": "pair", "inputs": {"a": [[1.0, 2.0]], "b": [[3.0, 4.0]]}}
    for headers, seen in ((a, True), (b, False)):
        names = [m["name"] for m in (await api.get("/v1/models", headers=headers)).json()]
        assert ("pair" in names) is seen and "digits" in names
        for path in ("/v1/models/pair", "/v1/models/pair/versions/1"):
            assert (await api.get(path, headers=headers)).status_code == (200 if seen else 404)
        submitted = await api.post("/v1/jobs", json=pair, headers=headers)
        assert submitted.status_code != 404 if seen else submitted.status_code == 404, submitted.text
    admin = bearer(await make_key(redis, "ops", frozenset({Scope.MODELS_READ, Scope.MODELS_ADMIN})))
    assert (await api.get("/v1/models/pair", headers=admin)).status_code == 200
