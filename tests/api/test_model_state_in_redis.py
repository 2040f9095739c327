"""Aliases, alias history, retire marks and version numbers live in Redis: two API apps (as two
API processes on two hosts would) see each other's changes at once, numbers are never handed out
twice, and a repository's alias files are migrated on first use."""

import asyncio
import json
import shutil

import pytest
import redis as sync_redis

from batching import keys
from batching.model_state import RedisModelState
from maas.core.errors import ModelNotFoundError
from tests.conftest import DIGITS, in_process_api

ROW = [[0.0] * 64]


async def test_a_promotion_through_one_api_is_seen_by_another_at_once(redis, settings):
    async with in_process_api(settings) as first, in_process_api(settings) as second:
        assert (await first.put("/v1/models/digits/aliases/stable", json={"version": 1})).status_code == 200
        await second.post("/v1/jobs", json={"model": "digits", "version": "stable", "inputs": ROW})
        promoted = await first.put("/v1/models/digits/aliases/stable", json={"version": 2})
        assert promoted.json()["previous"] == 1
        job = await second.post("/v1/jobs", json={"model": "digits", "version": "stable", "inputs": ROW})
        assert job.json()["version"] == 2  # no cache to wait out: the very next lookup
        assert (await second.get("/v1/models/digits")).json()["aliases"] == {"stable": 2}
        rolled = await second.post("/v1/models/digits/aliases/stable/rollback")
        assert rolled.status_code == 200, rolled.text
        assert (await first.get("/v1/models/digits")).json()["aliases"] == {"stable": 1}


async def test_uploads_through_two_apis_get_distinct_numbers_never_reused(redis, settings, model_repo):
    model_file = (DIGITS / "model.onnx").read_bytes()

    async def upload(api) -> int:
        files = {"file": ("model.onnx", model_file, "application/octet-stream")}
        response = await api.post("/v1/models/fresh/versions", files=files)
        assert response.status_code == 201, response.text
        return response.json()["version"]

    async with in_process_api(settings) as first, in_process_api(settings) as second:
        numbers = await asyncio.gather(*(upload(api) for api in (first, second, first, second)))
        assert sorted(numbers) == [1, 2, 3, 4]
        shutil.rmtree(model_repo / "fresh" / "4")  # a version's directory lost (or removed by hand)
        assert await upload(second) == 5  # its number is not handed out again


async def test_alias_files_are_migrated_once_and_redis_is_the_truth_after(redis, settings, model_repo):
    (model_repo / "digits" / "aliases.json").write_text(json.dumps({"stable": 2}))
    (model_repo / "digits" / "alias_history.json").write_text(json.dumps({"stable": [1]}))
    async with in_process_api(settings) as api:
        assert (await api.get("/v1/models/digits")).json()["aliases"] == {"stable": 2}
        assert (await api.post("/v1/models/digits/aliases/stable/rollback")).status_code == 200
        assert (await api.get("/v1/models/digits")).json()["aliases"] == {"stable": 1}
    assert json.loads((model_repo / "digits" / "aliases.json").read_text()) == {"stable": 2}  # untouched
    (model_repo / "digits" / "aliases.json").write_text(json.dumps({"stable": 2, "late": 1}))
    async with in_process_api(settings) as api:  # a new process: no second import over Redis
        assert (await api.get("/v1/models/digits")).json()["aliases"] == {"stable": 1}


def test_an_aliased_version_is_never_retired_and_a_retired_one_never_aliased(redis_server, model_repo):
    with sync_redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
        state = RedisModelState(client, model_repo)
        state.set("digits", "stable", 1)
        assert state.mark_retired("digits", 1) == ["stable"]
        assert state.mark_retired("digits", 2) == []
        assert client.sismember(keys.model_retired("digits"), "2")
        with pytest.raises(ModelNotFoundError, match="retired"):
            state.set("digits", "canary", 2)
