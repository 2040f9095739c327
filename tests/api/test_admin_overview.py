"""GET /dashboard and its assets (strict CSP, only its own files), GET /v1/admin/overview (lanes,
workers, dead letters, failed webhooks across tenants) and the admin redelivery: models:admin
only; any other key reads 403 there, while the page itself loads without a key."""

import numpy as np
import pytest
import redis as sync_redis

from batching import keys
from batching.entry import LaneEntry
from batching.jobs.store import JobStore
from batching.webhook import WebhookState
from maas.core.access import Scope
from tests.conftest import in_process_api
from tests.support import bulk_helpers
from tests.support.tenants import keyed, make_key
from worker.webhooks import delivery

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
JOB = {"model": "digits", "version": 1, "inputs": [[0.0] * 64]}


@pytest.fixture
def settings(settings):
    return settings.model_copy(
        update={
            "webhook_secrets": [SECRET],
            "webhook_allow_http": True,
            "webhook_allowed_networks": ["127.0.0.0/8"],
        }
    )


async def test_the_page_and_its_assets_are_served_with_a_strict_csp(api):
    page = await api.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "unsafe" not in csp
    assert '<script src="/dashboard/dashboard.js"' in page.text
    script = await api.get("/dashboard/dashboard.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text  # values from the API are set as text, never parsed
    for name in ("index.html", "..%2Fapp.py", "nothing.js"):
        assert (await api.get(f"/dashboard/{name}")).status_code == 404


async def test_the_overview_shows_queued_rows_a_dead_letter_and_a_failed_webhook(api, redis, settings):
    for _ in range(2):
        assert (await api.post("/v1/jobs", json=JOB)).status_code == 202
    hooked = {**JOB, "webhook": {"url": "http://127.0.0.1:9/hook"}}
    job_id = (await api.post("/v1/jobs", json=hooked)).json()["id"]
    assert (await api.delete(f"/v1/jobs/{job_id}")).status_code == 200  # ends it: its event exists
    with sync_redis.Redis.from_url(settings.redis_url) as client:  # as the delivery task records
        delivery._record(client, keys.job(job_id), WebhookState.FAILED, 500, "msg_1")
    lane = keys.online_lane("digits", 2)
    dead = LaneEntry("01M8JGKP0D4TVQ7RHSTBYNM2RK", 1, 1.0, b"MT1", b"1-0", deliveries=4)
    await JobStore(redis, 60).dead_letter(lane, [dead], 3)

    overview = (await api.get("/v1/admin/overview")).json()
    lanes = {(x["model"], x["version"], x["lane"]): x for x in overview["lanes"]}
    # The cancelled job's entry counts until a worker drops it at claim.
    assert lanes["digits", 1, "online"]["rows_queued"] == 3
    assert lanes["digits", 2, "online"]["dead_letters"] == 1
    (letter,) = overview["dead_letters"]
    assert (letter["job_id"], letter["lane"], letter["deliveries"]) == (dead.job_id, "online", 4)
    (failed,) = overview["failed_webhooks"]
    assert (failed["id"], failed["state"], failed["last_status"], failed["receiver"]) == (
        job_id,
        "failed",
        "500",
        "127.0.0.1:9",
    )
    assert "hook" not in str(failed)  # the receiver's host only, never its path

    redeliver = f"/v1/admin/jobs/{job_id}/webhook/redeliver"
    cross_site = await api.post(redeliver, headers={"Origin": "https://elsewhere.example"})
    assert cross_site.status_code == 403  # the Origin guard holds for the admin action too
    as_form = await api.post(redeliver, content=b"a=1", headers={"Content-Type": "text/plain"})
    assert as_form.status_code == 415
    same_site = await api.post(redeliver, headers={"Origin": "http://maas"})  # the page's own origin
    assert same_site.status_code == 202
    assert (await api.get(f"/v1/jobs/{job_id}")).json()["webhook"]["state"] == "pending"
    again = await api.post(redeliver)
    assert again.status_code == 429  # once per MAAS_WEBHOOK_REDELIVER_INTERVAL_S, as for its owner
    with sync_redis.Redis.from_url(settings.redis_url) as client:
        delivery._record(client, keys.job(job_id), WebhookState.DELIVERED, 200, "msg_1")
    assert (await api.get("/v1/admin/overview")).json()["failed_webhooks"] == []


async def test_a_bulk_jobs_failed_webhook_is_listed_and_redelivered_by_an_admin(api, settings):
    rows = bulk_helpers.npy(np.zeros((2, 64), np.float32))
    webhook = '{"url": "http://127.0.0.1:9/hook"}'
    bulk_id = (await bulk_helpers.submit(api, "rows.npy", rows, model="digits", webhook=webhook))["id"]
    assert (await api.post(f"/v1/bulk-jobs/{bulk_id}/cancel")).status_code == 200  # its event exists
    with sync_redis.Redis.from_url(settings.redis_url) as client:  # as the delivery task records
        delivery._record(client, keys.bulk_job(bulk_id), WebhookState.FAILED, 503, f"msg_{bulk_id}")
        outbox_before = client.xlen(keys.WEBHOOK_OUTBOX)
    (failed,) = (await api.get("/v1/admin/overview")).json()["failed_webhooks"]
    assert (failed["kind"], failed["id"], failed["state"]) == ("bulk", bulk_id, "failed")

    redeliver = f"/v1/admin/bulk-jobs/{bulk_id}/webhook/redeliver"
    assert (await api.post(redeliver, headers={"Origin": "https://elsewhere.example"})).status_code == 403
    queued = await api.post(redeliver)
    assert queued.status_code == 202 and queued.json() == {"bulk_id": bulk_id, "redelivery": "queued"}
    assert (await api.get(f"/v1/bulk-jobs/{bulk_id}")).json()["webhook"]["state"] == "pending"
    with sync_redis.Redis.from_url(settings.redis_url) as client:
        (_, event), *_ = client.xrevrange(keys.WEBHOOK_OUTBOX, count=1)
        assert client.xlen(keys.WEBHOOK_OUTBOX) == outbox_before + 1
    assert event == {b"bulk": bulk_id.encode(), b"redeliver": b"1"}  # the relay gives it a task of its own
    again = await api.post(redeliver)
    assert again.status_code == 429 and int(again.headers["retry-after"]) >= 1  # as for a job
    audit = (await api.get("/v1/audit", params={"kind": "data"})).json()
    assert any(e["action"] == "bulk.redeliver" and e["target"] == bulk_id for e in audit)
    unknown = await api.post("/v1/admin/bulk-jobs/01M8JGKP0D4TVQ7RHSTBYNM2RK/webhook/redeliver")
    assert unknown.status_code == 404


async def test_only_models_admin_reads_the_overview_or_redelivers(settings, redis):
    async with in_process_api(keyed(settings)) as api:
        reader = await make_key(redis, "acme", frozenset({Scope.JOBS_READ, Scope.MODELS_READ}))
        admin = await make_key(redis, "ops", frozenset({Scope.MODELS_ADMIN}))
        assert (await api.get("/dashboard")).status_code == 200  # the page holds no data
        assert (await api.get("/v1/admin/overview")).status_code == 401
        as_reader = {"Authorization": f"Bearer {reader}"}
        assert (await api.get("/v1/admin/overview", headers=as_reader)).status_code == 403
        redeliver = "/v1/admin/jobs/01M8JGKP0D4TVQ7RHSTBYNM2RK/webhook/redeliver"
        assert (await api.post(redeliver, headers=as_reader)).status_code == 403
        bulk_redeliver = "/v1/admin/bulk-jobs/01M8JGKP0D4TVQ7RHSTBYNM2RK/webhook/redeliver"
        assert (await api.post(bulk_redeliver, headers=as_reader)).status_code == 403
        overview = await api.get("/v1/admin/overview", headers={"Authorization": f"Bearer {admin}"})
        assert overview.status_code == 200
        assert overview.json()["caller"] == {"tenant": "ops", "scopes": ["models:admin"]}
