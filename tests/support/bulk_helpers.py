"""Helpers of the bulk job tests: build input files, submit them, wait, read the results."""

import io
import zipfile

import numpy as np
import orjson

from tests.support.waiting import wait_until


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n" for row in rows)


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def read_npz(data: bytes) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {n.removesuffix(".npy"): np.load(archive.open(n)) for n in archive.namelist()}


async def submit(api, filename: str, content: bytes, **fields) -> dict:
    data = {k: str(v) for k, v in fields.items()}
    response = await api.post("/v1/bulk-jobs", data=data, files={"file": (filename, content)})
    assert response.status_code == 202, response.text
    return response.json()


async def wait_for_status(api, bulk_id: str, statuses: set[str], timeout_s: float = 60) -> dict:
    """The bulk job once its status is one of `statuses`."""
    job = {}

    async def reached() -> bool:
        nonlocal job
        job = (await api.get(f"/v1/bulk-jobs/{bulk_id}")).json()
        return job["status"] in statuses

    await wait_until(reached, timeout_s, lambda: f"bulk job in {sorted(statuses)}, stuck: {job}")
    return job


async def output_lines(api, bulk_id: str, what: str = "output") -> list[dict]:
    response = await api.get(f"/v1/bulk-jobs/{bulk_id}/{what}")
    assert response.status_code == 200, response.text
    return [orjson.loads(line) for line in response.content.splitlines()]
