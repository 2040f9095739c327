"""GET /metrics in process: Prometheus text by default, OpenMetrics when asked; requests counted
by route template (never the path itself, so no job id becomes a label); a lane's depth counts
every tenant's rows (what the KEDA trigger of deploy/keda/ scales on)."""

from tests.conftest import in_process_api
from tests.support.exposition import promtool_check_metrics, samples, value
from tests.support.tenants import keyed, make_key


async def test_openmetrics_is_served_when_asked(api):
    answer = await api.get("/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.text.endswith("# EOF\n")
    plain = await api.get("/metrics")
    assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")
    promtool_check_metrics(plain.text)


async def test_requests_are_counted_by_route_template(api):
    before = (await api.get("/metrics")).text
    job_route = {"method": "GET", "route": "/v1/jobs/{job_id}", "status": "404"}
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    for job_id in ("j_1", "j_2", "j_3"):
        assert (await api.get(f"/v1/jobs/{job_id}")).status_code == 404
    assert (await api.get("/no/such/path")).status_code == 404
    after = (await api.get("/metrics")).text
    assert (
        value(after, "maas_http_requests_total", **job_route)
        - value(before, "maas_http_requests_total", **job_route)
        == 3
    )
    assert (
        value(after, "maas_http_requests_total", **unmatched)
        - value(before, "maas_http_requests_total", **unmatched)
        == 1
    )
    assert "j_1" not in after and "/no/such/path" not in after


async def test_queue_gauges_name_every_version_in_the_repository(api):
    exported = samples((await api.get("/metrics")).text)
    for model, version in (("digits", "1"), ("digits", "2"), ("pair", "1"), ("lookup", "1")):
        for lane in ("online", "bulk"):
            labels = frozenset({"model": model, "version": version, "lane": lane}.items())
            assert exported[("maas_lane_entries_waiting", labels)] == 0
            assert exported[("maas_lane_oldest_waiting_seconds", labels)] == 0


async def test_a_sane_request_id_is_kept_and_any_other_replaced(api):
    kept = await api.get("/healthz", headers={"x-request-id": "abc-123.x"})
    assert kept.headers["x-request-id"] == "abc-123.x"
    for odd in ("a b", "x" * 129, "id\tforged"):
        answer = await api.get("/healthz", headers={"x-request-id": odd})
        assert len(answer.headers["x-request-id"]) == 32 and answer.headers["x-request-id"] != odd


async def test_lane_depth_counts_the_rows_of_every_tenant(settings, redis):
    """Other tenants' jobs sit in sub-streams of their own (`...:online:t:<tenant>`); the online
    lane's maas_lane_rows_queued still counts them all (no worker runs here: they stay)."""
    async with in_process_api(keyed(settings)) as api:
        rows_by_tenant = {"default": 1, "acme": 2, "globex": 3}
        for tenant, rows in rows_by_tenant.items():
            token = await make_key(redis, tenant)
            job = {"model": "digits", "version": 1, "inputs": [[0.0] * 64] * rows}
            answer = await api.post("/v1/jobs", json=job, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 202, answer.text
        exposition = (await api.get("/metrics")).text
    online = {"model": "digits", "version": "1", "lane": "online"}
    assert value(exposition, "maas_lane_rows_queued", **online) == sum(rows_by_tenant.values())
    assert value(exposition, "maas_lane_entries_waiting", **online) == len(rows_by_tenant)
