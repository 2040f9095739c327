"""What one request may make the server store, and repeat back, is bounded."""

import orjson

from tests.support.bulk_helpers import jsonl

ROW = [0.0] * 64


async def test_job_metadata_over_the_limit_is_422_and_nothing_is_stored(api, redis, settings):
    metadata = {"blob": "x" * settings.max_metadata_bytes}
    response = await api.post("/v1/jobs", json={"model": "digits", "inputs": [ROW], "metadata": metadata})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["loc"] == ["metadata"] and "MAAS_MAX_METADATA_BYTES" in error["message"]
    assert await redis.dbsize() == 0


async def test_job_metadata_within_the_limit_is_kept(api, settings):
    metadata = {"blob": "x" * (settings.max_metadata_bytes - 100)}
    response = await api.post("/v1/jobs", json={"model": "digits", "inputs": [ROW], "metadata": metadata})
    assert response.status_code == 202, response.text
    assert response.json()["metadata"] == metadata


async def test_bulk_metadata_over_the_limit_is_422(api, settings):
    metadata = orjson.dumps({"blob": "x" * settings.max_metadata_bytes}).decode()
    response = await api.post(
        "/v1/bulk-jobs",
        data={"model": "digits", "metadata": metadata},
        files={"file": ("in.jsonl", jsonl([{"inputs": [ROW]}]))},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["loc"] == ["metadata"]
    assert (await api.get("/v1/bulk-jobs")).json()["data"] == []


async def test_a_webhook_lists_each_event_at_most_once(api):
    webhook = {"url": "https://example.com/hook", "events": ["succeeded"] * 1000}
    response = await api.post("/v1/jobs", json={"model": "digits", "inputs": [ROW], "webhook": webhook})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["loc"] == ["webhook", "events"]
