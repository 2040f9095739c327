"""A tenant's cap on queued rows through the API: 429 with Retry-After, per-tenant limits, and
the tenant JobService.submit is given stays with the job."""

import pytest

from api.app import create_app
from api.schemas import JobCreate
from maas.core.access import ALL_SCOPES, Caller
from maas.core.errors import TenantQuotaError
from maas.core.settings import TenantLimit
from tests.conftest import in_process_api

PAIR = {"model": "pair", "inputs": {"a": [[1.0, 2.0, 3.0]], "b": [[1, 2]]}}


def caller(tenant: str, max_queued_rows: int | None = None) -> Caller:
    return Caller(tenant, f"key-{tenant}", f"key of {tenant}", ALL_SCOPES, max_queued_rows)


async def test_a_tenant_past_its_queued_rows_gets_429_with_retry_after(settings, redis):
    async with in_process_api(settings.model_copy(update={"tenant_max_queued_rows": 2})) as api:
        assert [(await api.post("/v1/jobs", json=PAIR)).status_code for _ in range(2)] == [202, 202]
        refused = await api.post("/v1/jobs", json=PAIR)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    error = refused.json()["error"]
    assert error["code"] == "tenant_quota_exceeded"
    assert "tenant default has 2 rows queued across models (limit 2)" in error["message"]


async def test_each_tenant_has_its_own_cap_and_keeps_its_jobs(settings, redis):
    limits = {"acme": TenantLimit(max_queued_rows=1)}
    app = create_app(settings.model_copy(update={"tenant_max_queued_rows": 5, "tenant_limits": limits}))
    async with app.router.lifespan_context(app):
        jobs = app.state.services.jobs
        record, _ = await jobs.submit(caller("acme"), JobCreate(**PAIR))
        assert (await jobs.get(caller("acme"), record.id)).tenant == "acme"
        with pytest.raises(TenantQuotaError, match=r"tenant acme .*\(limit 1\)"):
            await jobs.submit(caller("acme"), JobCreate(**PAIR))
        for _ in range(5):
            await jobs.submit(caller("other"), JobCreate(**PAIR))  # the default cap: 5
        with pytest.raises(TenantQuotaError, match=r"tenant other .*\(limit 5\)"):
            await jobs.submit(caller("other"), JobCreate(**PAIR))


async def test_a_keys_own_cap_applies_where_lower_than_its_tenants(settings, redis):
    app = create_app(settings.model_copy(update={"tenant_max_queued_rows": 5}))
    async with app.router.lifespan_context(app):
        jobs = app.state.services.jobs
        await jobs.submit(caller("acme", max_queued_rows=1), JobCreate(**PAIR))
        with pytest.raises(TenantQuotaError, match=r"tenant acme .*\(limit 1\)"):
            await jobs.submit(caller("acme", max_queued_rows=1), JobCreate(**PAIR))
        await jobs.submit(caller("acme"), JobCreate(**PAIR))  # another key of acme: the tenant's 5
