"""Helpers of the bulk job tests: build input files, submit them, wait, read the results."""

import asyncio
import io
import time
import zipfile

import numpy as np
import orjson


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


async def wait_until(api, bulk_id: str, statuses: set[str], timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = (await api.get(f"/v1/bulk-jobs/{bulk_id}")).json()
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, f"bulk job stuck: {job}"
        await asyncio.sleep(0.05)


async def output_lines(api, bulk_id: str, what: str = "output") -> list[dict]:
    response = await api.get(f"/v1/bulk-jobs/{bulk_id}/{what}")
    assert response.status_code == 200, response.text
    return [orjson.loads(line) for line in response.content.splitlines()]
