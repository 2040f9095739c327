"""Every kind of bad request gets a clear 4xx that says what is wrong and where; none a 500."""

import pytest

ROW = [0.0] * 64


@pytest.mark.parametrize(
    ("body", "status", "message_part"),
    [
        ({"model": "nope", "inputs": [ROW]}, 404, "model 'nope' not found"),
        ({"model": "digits", "version": 7, "inputs": [ROW]}, 404, "no version 7"),
        (
            {"model": "digits", "inputs": [ROW[:63]]},
            422,
            "inputs.pixels: expected shape [N, 64], got [1, 63]",
        ),
        ({"model": "digits", "inputs": ROW}, 422, "expected shape [N, 64], got [64]"),
        ({"model": "digits", "inputs": [[ROW]]}, 422, "got [1, 1, 64]"),
        ({"model": "digits", "inputs": [ROW, ROW[:10]]}, 422, "ragged"),
        ({"model": "digits", "inputs": [["a"] * 64]}, 422, "non-numeric"),
        ({"model": "digits", "inputs": [[None] * 64]}, 422, "non-numeric"),
        ({"model": "digits", "inputs": [[True] * 64]}, 422, "booleans"),
        ({"model": "digits", "inputs": [[1e300] * 64]}, 422, "float32 range"),
        ({"model": "digits", "inputs": []}, 422, "inputs.pixels"),
        ({"model": "digits", "inputs": "pixels"}, 422, "inputs"),
        ({"model": "digits", "inputs": {"pixels": [ROW], "extra": [[1]]}}, 422, "unknown ['extra']"),
        ({"model": "digits", "inputs": {"pixel": [ROW]}}, 422, "missing ['pixels']"),
        ({"model": "digits", "inputs": [ROW] * 65}, 422, "65 rows exceed the model's max_batch_size (64)"),
        ({"model": "pair", "inputs": [[1.0, 2.0, 3.0]]}, 422, "give an object by name"),
        (
            {"model": "pair", "inputs": {"a": [[1.0, 2.0, 3.0]], "b": [[1.5, 2]]}},
            422,
            "inputs.b: expected integers (int64), got decimals",
        ),
        ({"model": "pair", "inputs": {"a": [[1.0, 2.0, 3.0]], "b": [[2**63, 2]]}}, 422, "inputs.b"),
        (
            {"model": "pair", "inputs": {"a": [[1.0, 2.0, 3.0]] * 2, "b": [[1, 2]]}},
            422,
            "same number of rows",
        ),
        ({"model": "digits"}, 422, "inputs: Field required"),
        ({"model": "digits", "inputs": [ROW], "timeout_s": -1}, 422, "timeout_s"),
        ({"model": "digits", "inputs": [ROW], "colour": "red"}, 422, "colour"),
        ({"model": "digits", "inputs": [ROW], "version": "stable"}, 404, "has no alias 'stable'"),
        ({"model": "digits", "inputs": [ROW], "version": 1.5}, 422, "version"),
    ],
)
async def test_bad_job_bodies_are_refused_with_a_precise_message(api, redis, body, status, message_part):
    response = await api.post("/v1/jobs", json=body)
    assert response.status_code == status, response.text
    assert message_part in response.json()["error"]["message"]
    assert await redis.dbsize() == 0  # nothing was written


@pytest.mark.parametrize(
    "raw", [b'{"model": "digits", "inputs": [[1,2', b"", b"[1, 2]", b"null", b"\xff\xfe"]
)
async def test_malformed_bodies_are_422(api, raw):
    response = await api.post("/v1/jobs", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith("body")


async def test_a_body_over_the_limit_is_413(api, settings):
    big = b'{"model": "digits", "inputs": [' + b"0," * settings.max_body_bytes + b"0]}"
    response = await api.post("/v1/jobs", content=big)
    assert response.status_code == 413
    assert "limit" in response.json()["error"]["message"]


async def test_a_body_over_the_limit_without_content_length_is_413(api, settings):
    async def chunks():
        yield b'{"model": "digits", "inputs": ['
        for _ in range(settings.max_body_bytes // 1000 + 1):
            yield b"0," * 500
        yield b"0]}"

    response = await api.post("/v1/jobs", content=chunks())
    assert response.status_code == 413


@pytest.mark.parametrize("path", ["/v1/jobs/nope", "/v1/jobs/01M8JGKP0D4TVQ7RHSTBYNM2RK"])
async def test_unknown_jobs_are_404(api, path):
    assert (await api.get(path)).status_code == 404
    assert (await api.delete(path)).status_code == 404


async def test_bad_query_parameters_are_422(api):
    response = await api.get("/v1/jobs/01M8JGKP0D4TVQ7RHSTBYNM2RK", params={"wait": "soon"})
    assert response.status_code == 422
    assert "wait" in response.json()["error"]["message"]


async def test_unknown_model_page_is_404(api):
    response = await api.get("/v1/models/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
