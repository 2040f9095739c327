"""Aliases: promote and roll back versions by name, resolved at submit; every change audited."""

import asyncio

ROW = [[0.0] * 64]


async def submit(api, version) -> dict:
    response = await api.post("/v1/jobs", json={"model": "digits", "version": version, "inputs": ROW})
    assert response.status_code == 202, response.text
    return response.json()


async def test_jobs_follow_an_alias_from_the_moment_it_moves(api, worker_handle):
    assert (await api.put("/v1/models/digits/aliases/stable", json={"version": 1})).status_code == 200
    before = [await submit(api, "stable") for _ in range(3)]
    promoted = await api.put("/v1/models/digits/aliases/stable", json={"version": 2})
    assert promoted.json() == {"name": "digits", "alias": "stable", "version": 2, "previous": 1}
    after = [await submit(api, "stable") for _ in range(3)]
    assert [job["version"] for job in before + after] == [1, 1, 1, 2, 2, 2]
    await worker_handle.start()  # the queued jobs run what they were resolved to, not the alias
    for job in before + after:
        done = (await api.get(f"/v1/jobs/{job['id']}", params={"wait": 10})).json()
        assert done["status"] == "succeeded" and done["version"] == job["version"]


async def test_rollback_and_delete(api):
    await api.put("/v1/models/digits/aliases/canary", json={"version": 2})
    rolled_back = await api.put("/v1/models/digits/aliases/canary", json={"version": 1})
    assert rolled_back.json()["previous"] == 2
    model = (await api.get("/v1/models/digits")).json()
    assert model["aliases"] == {"canary": 1}
    deleted = await api.delete("/v1/models/digits/aliases/canary")
    assert deleted.status_code == 200 and deleted.json()["previous"] == 1
    assert (await api.delete("/v1/models/digits/aliases/canary")).status_code == 404
    gone = await api.post("/v1/jobs", json={"model": "digits", "version": "canary", "inputs": ROW})
    assert gone.status_code == 404
    assert "has no alias 'canary'" in gone.json()["error"]["message"]


async def test_bad_alias_changes_are_refused(api, model_repo):
    assert (await api.put("/v1/models/digits/aliases/stable", json={"version": 9})).status_code == 404
    assert (await api.put("/v1/models/nope/aliases/stable", json={"version": 1})).status_code == 404
    for bad in ("latest", "Stable", "x" * 40):
        response = await api.put(f"/v1/models/digits/aliases/{bad}", json={"version": 1})
        assert response.status_code == 422, bad
    assert (await api.put("/v1/models/digits/aliases/ok", json={"version": "1"})).status_code == 422
    assert not (model_repo / "digits" / "aliases.json").exists()  # nothing was written


async def test_concurrent_alias_changes_all_land(api):
    await asyncio.gather(
        *(api.put(f"/v1/models/digits/aliases/a{i}", json={"version": 1 + i % 2}) for i in range(10))
    )
    aliases = (await api.get("/v1/models/digits")).json()["aliases"]
    assert aliases == {f"a{i}": 1 + i % 2 for i in range(10)}


async def test_every_alias_change_is_in_the_audit_stream(api):
    headers = {"X-Actor": "alice"}
    await api.put("/v1/models/digits/aliases/stable", json={"version": 1}, headers=headers)
    await api.put("/v1/models/digits/aliases/stable", json={"version": 2}, headers=headers)
    await api.delete("/v1/models/digits/aliases/stable")
    entries = (await api.get("/v1/audit")).json()
    assert [(e["action"], e["before"], e["after"]) for e in entries] == [
        ("alias.delete", 2, None),
        ("alias.set", 1, 2),
        ("alias.set", None, 1),
    ]
    assert entries[1]["actor"] == "alice" and entries[1]["target"] == "digits:stable"
    assert entries[0]["actor"]  # the client, when no X-Actor is given


async def test_a_version_has_its_own_page(api):
    page = await api.get("/v1/models/digits/versions/1")
    assert page.status_code == 200
    assert page.json()["version"] == 1 and page.json()["config"]["max_batch_size"] == 128
    assert (await api.get("/v1/models/digits/versions/9")).status_code == 404
