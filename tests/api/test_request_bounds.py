"""What one request may make the server store, and repeat back, is bounded."""

import asyncio

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


async def test_a_long_id_or_many_names_are_not_echoed_in_full(api, settings):
    response = await api.get("/v1/jobs/" + "x" * 8000)
    assert response.status_code == 404
    assert len(response.text) < 2 * settings.max_echo_chars
    inputs = {"pixels": [ROW], **{f"member_{i}": [[1]] for i in range(10_000)}}
    response = await api.post("/v1/jobs", json={"model": "digits", "inputs": inputs})
    assert response.status_code == 422
    assert "more characters" in response.json()["error"]["message"]
    assert len(response.content) < 20 * settings.max_echo_chars


async def test_an_upload_error_names_the_file_not_the_staging_directory(api, settings, tmp_path):
    files = {"file": ("mine.onnx", b"not a model", "application/octet-stream")}
    response = await api.post("/v1/models/offset/versions", files=files)
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert "mine.onnx" in message or "model.onnx" in message
    assert str(settings.state_dir) not in message and "/tmp" not in message


async def test_non_finite_query_numbers_and_boolean_versions_are_422(api):
    assert (await api.get("/v1/bulk-jobs", params={"before": "nan"})).status_code == 422
    assert (await api.get("/v1/jobs/01M8JGKP0D4TVQ7RHSTBYNM2RK", params={"wait": "inf"})).status_code == 422
    response = await api.post("/v1/jobs", json={"model": "digits", "version": True, "inputs": [ROW]})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["loc"][0] == "version"


async def test_a_non_finite_output_fails_its_job_unless_the_config_allows_it(api, worker):
    async def run(a: list[float]) -> dict:
        body = {"model": "pair", "inputs": {"a": [a], "b": [[1, 2]]}}
        return (await api.post("/v1/jobs", json=body, headers={"Prefer": "wait=10"})).json()

    failed, fine = await asyncio.gather(run([3e38, 1.0, 2.0]), run([1.0, 2.0, 3.0]))  # 2a overflows
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "non_finite_output"
    assert fine["status"] == "succeeded" and fine["outputs"]["doubled"] == [[2.0, 4.0, 6.0]], fine
    patched = await api.patch("/v1/models/pair/versions/1/config", json={"allow_non_finite": True})
    assert patched.status_code == 200, patched.text
    for _ in range(50):  # the worker loads the version again with the new config within a second
        kept = await run([3e38, 1.0, 2.0])
        if kept["status"] == "succeeded":
            break
        await asyncio.sleep(0.1)
    assert kept["status"] == "succeeded", kept
    assert kept["outputs"]["doubled"] == [[None, 2.0, 4.0]]  # JSON has no infinity: null
