"""A key's request rate (a token bucket in Redis shared by every API process) and a tenant's cap
on unfinished bulk jobs: the allowed count is the bucket (+-1 for refill during the burst), the
rest 429 with a Retry-After that is right, and RateLimit-* headers on every answer."""

import asyncio

import pytest

from maas.core.access import Scope
from tests.conftest import in_process_api
from tests.support.bulk_helpers import jsonl
from tests.support.tenants import ROW, bearer, keyed, make_key


@pytest.fixture
async def keyed_api(settings, redis):
    async with in_process_api(keyed(settings, key_rate="0")) as client:
        yield client


async def test_a_burst_gets_the_bucket_and_429_with_a_correct_retry_after(keyed_api, redis):
    # 10 per 60 s: one token every 6 s, so a burst of 30 gets 10 (11 if a token came meanwhile).
    key = bearer(await make_key(redis, "acme", frozenset({Scope.MODELS_READ}), rate="10/m"))
    # A cold API opens a Redis connection per concurrent request (1 s to connect each); on a
    # loaded machine a few of 30 opened at once timed out (503). An unlimited key's burst fills
    # the pool and the model cache first, so the burst below meets the bucket alone.
    unlimited = bearer(await make_key(redis, "acme", frozenset({Scope.MODELS_READ}), rate="0"))
    await asyncio.gather(*(keyed_api.get("/v1/models", headers=unlimited) for _ in range(30)))
    answers = await asyncio.gather(*(keyed_api.get("/v1/models", headers=key) for _ in range(30)))
    allowed = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code == 429]
    others = [(r.status_code, r.text[:300]) for r in answers if r.status_code not in (200, 429)]
    assert not others, others  # every answer is the bucket's: what else came, and why
    assert 10 <= len(allowed) <= 11
    for response in refused:
        assert response.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(response.headers["retry-after"]) <= 6
        assert response.headers["ratelimit-limit"] == "10" and response.headers["ratelimit-remaining"] == "0"
    assert {r.headers["ratelimit-limit"] for r in allowed} == {"10"}
    assert sorted(int(r.headers["ratelimit-remaining"]) for r in allowed)[-1] == 9


async def test_after_retry_after_a_request_passes_again(keyed_api, redis):
    key = bearer(await make_key(redis, "acme", frozenset({Scope.MODELS_READ}), rate="2/2s"))
    statuses = [(await keyed_api.get("/v1/models", headers=key)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = await keyed_api.get("/v1/models", headers=key)
    wait_s = int(refused.headers["retry-after"])
    assert wait_s == 1  # one token per second
    await asyncio.sleep(wait_s)
    assert (await keyed_api.get("/v1/models", headers=key)).status_code == 200


async def test_each_key_has_its_own_bucket_and_the_server_default_applies(settings, redis):
    async with in_process_api(keyed(settings, key_rate="3/m")) as api:
        first = bearer(await make_key(redis, "acme", frozenset({Scope.MODELS_READ})))
        second = bearer(await make_key(redis, "acme", frozenset({Scope.MODELS_READ})))
        unlimited = bearer(await make_key(redis, "acme", frozenset({Scope.MODELS_READ}), rate="0"))
        for headers, expected in ((first, 3), (second, 3), (unlimited, 6)):
            statuses = [(await api.get("/v1/models", headers=headers)).status_code for _ in range(6)]
            assert statuses.count(200) == expected, statuses


async def test_a_tenant_s_unfinished_bulk_jobs_are_capped(settings, redis):
    async with in_process_api(keyed(settings, key_rate="0", tenant_max_active_bulk_jobs=2)) as api:
        a = bearer(await make_key(redis, "acme", frozenset(Scope)))
        a_again = bearer(await make_key(redis, "acme", frozenset(Scope)))
        big = bearer(await make_key(redis, "acme", frozenset(Scope), max_bulk_jobs=3))
        b = bearer(await make_key(redis, "other", frozenset(Scope)))

        async def submit(headers) -> int:
            files = {"file": ("in.jsonl", jsonl([{"inputs": [ROW]}]))}
            response = await api.post("/v1/bulk-jobs", data={"model": "digits"}, files=files, headers=headers)
            return response

        assert [(await submit(h)).status_code for h in (a, a_again)] == [202, 202]
        refused = await submit(a)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "quota_exceeded"
        assert refused.headers["retry-after"]
        assert (await submit(b)).status_code == 202  # another tenant has its own cap
        assert (await submit(big)).status_code == 202  # this key allows 3
        listed = (await api.get("/v1/bulk-jobs", headers=a)).json()["data"]
        await api.post(f"/v1/bulk-jobs/{listed[0]['id']}/cancel", headers=a)
        assert (await submit(big)).status_code == 202  # a finished job frees its slot
