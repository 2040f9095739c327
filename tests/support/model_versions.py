"""Helpers of the model version tests: upload a model file, score the `offset` models (whose
output is the input plus their version), and snapshot a repository to prove nothing changed."""

import json
from pathlib import Path


def upload_parts(path: Path, config: dict | None = None, filename: str | None = None) -> dict:
    parts = {"files": {"file": (filename or path.name, path.read_bytes(), "application/octet-stream")}}
    if config is not None:
        parts["data"] = {"config": json.dumps(config)}
    return parts


async def upload(api, name: str, path: Path, config: dict | None = None):
    return await api.post(f"/v1/models/{name}/versions", **upload_parts(path, config))


async def score(api, x: float, version=None, wait_s: float = 10) -> dict:
    body = {"model": "offset", "inputs": [[x] * 4]}
    if version is not None:
        body["version"] = version
    response = await api.post("/v1/jobs", json=body, headers={"Prefer": f"wait={wait_s}"})
    assert response.status_code in (200, 202), response.text
    return response.json()


async def finished(api, job: dict) -> dict:
    if job["status"] in ("queued", "running"):
        job = (await api.get(f"/v1/jobs/{job['id']}", params={"wait": 20})).json()
    return job


def answered_by(job: dict, x: float) -> float:
    """Which offset (= version, for these models) computed the job."""
    assert job["status"] == "succeeded", job
    return job["outputs"]["y"][0][0] - x


def snapshot(root: Path) -> list:
    """Every file with its size and mtime; writers' lock files aside (they hold no content)."""
    return sorted(
        (str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.name != ".versions.lock" and p.is_file()
    )
