"""Caps on a bulk job's input (MAAS_BULK_MAX_ROWS, MAAS_BULK_MAX_INPUT_BYTES): refused at submit
where the file tells (array headers, JSONL counted as stored), else failed while splitting by a
real `maas rq-worker` with its own settings, before anything more is computed."""

import io
import zipfile

import numpy as np
import pytest

from batching import keys
from tests.conftest import in_process_api
from tests.support.bulk_helpers import jsonl, npy, npz, submit, wait_for_status
from tests.support.processes import MaasProcess
from tests.support.waiting import wait_until

BOMB_ROWS = 1_000_000


def npz_bomb(rows: int = BOMB_ROWS, width: int = 64) -> bytes:
    """The issue's file: `pixels`, rows x width float32 zeros, deflated (about 250 KB), written
    as it streams so the test never holds the 256 MB array."""
    header = io.BytesIO()
    layout = {"descr": "<f4", "fortran_order": False, "shape": (rows, width)}
    np.lib.format.write_array_header_1_0(header, layout)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("pixels.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            block = bytes(4 * width * 10_000)
            for _ in range(rows // 10_000):
                member.write(block)
    return buffer.getvalue()


async def post(api, filename: str, content: bytes, **fields):
    return await api.post(
        "/v1/bulk-jobs", data={"model": "digits", **fields}, files={"file": (filename, content)}
    )


def refused(response, *words: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "input_too_large" and error["loc"] == ["file"], error
    assert all(word in error["message"] for word in words), error


async def test_the_issues_npz_bomb_is_refused_at_submit_from_its_header(settings, redis):
    bomb = npz_bomb()
    assert len(bomb) < 400_000  # a quarter of a megabyte on the wire
    by_rows = settings.model_copy(update={"bulk_max_rows": 1000})
    by_bytes = settings.model_copy(update={"bulk_max_input_bytes": 64 * 1024**2})
    async with in_process_api(by_rows) as api:
        refused(await post(api, "bomb.npz", bomb), "1000000 rows", "MAAS_BULK_MAX_ROWS")
        refused(await post(api, "rows.npy", npy(np.zeros((1001, 64), np.float32))), "1001 rows")
    async with in_process_api(by_bytes) as api:
        refused(await post(api, "bomb.npz", bomb), "256000000 bytes", "MAAS_BULK_MAX_INPUT_BYTES")
        assert (await api.get("/v1/bulk-jobs")).json()["data"] == []
    assert not list((settings.state_dir / "bulk").glob("*/input.*"))  # nothing refused was kept
    assert await redis.keys(f"{keys.PREFIX}:bulk:*") == []


async def test_a_jsonl_file_is_counted_as_it_is_stored(settings, redis):
    strict = settings.model_copy(update={"bulk_max_rows": 50, "bulk_max_input_bytes": 5_000})
    small, wide = {"inputs": [[1.0]]}, {"inputs": [[1.0] * 64]}
    async with in_process_api(strict) as api:
        refused(await post(api, "a.jsonl", jsonl([small] * 51)[:-1]), "51 rows")  # no final newline
        refused(await post(api, "b.jsonl", jsonl([wide] * 40)), "bytes", "MAAS_BULK_MAX_INPUT_BYTES")
        fits = await post(api, "c.jsonl", jsonl([small] * 50))
        assert fits.status_code == 202, fits.text


@pytest.fixture
async def strict_splitter(settings, tmp_path):
    """An rq worker whose caps are lower than the API's: what passes submit fails the split."""
    strict = settings.model_copy(update={"bulk_max_rows": 50, "bulk_max_input_bytes": 64 * 4 * 1000})
    async with MaasProcess("rq-worker", tmp_path / "rq-worker.log", strict) as process:
        yield process


async def test_a_jsonl_job_past_the_row_cap_fails_while_splitting_and_nothing_is_computed(
    api, redis, worker_handle, strict_splitter
):
    rows = [{"id": i, "inputs": [[float(i % 17)] * 64]} for i in range(200)]
    job = await submit(api, "long.jsonl", jsonl(rows), model="digits", version="1", chunk_rows=10)
    failed = await wait_for_status(api, job["id"], {"failed", "succeeded"})
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "input_too_large", failed
    assert "MAAS_BULK_MAX_ROWS" in failed["error"]["message"]
    assert failed["chunks"]["fed"] <= 5 and failed["chunks"]["total"] is None  # it stopped at 50
    lane = keys.bulk_lane("digits", 1)
    assert await redis.xlen(lane) == failed["chunks"]["fed"]
    await worker_handle.start()  # the chunks fed before the cap are dropped, not computed
    await wait_until(lambda: _drained(redis, lane), 30, "the bulk lane drained")
    after = (await api.get(f"/v1/bulk-jobs/{job['id']}")).json()
    assert after["status"] == "failed" and after["counts"]["succeeded"] == 0, after


async def _drained(redis, lane: str) -> bool:
    return await redis.xlen(lane) == 0


async def test_an_npz_past_the_caps_fails_while_splitting_before_any_chunk(api, redis, strict_splitter):
    job = await submit(api, "rows.npz", npz(pixels=np.ones((1001, 64), np.float32)), model="digits")
    failed = await wait_for_status(api, job["id"], {"failed", "succeeded"})
    assert failed["error"]["code"] == "input_too_large", failed
    assert failed["chunks"]["fed"] == 0 and failed["counts"]["total"] == 0
    assert "1001 rows seen" in failed["error"]["message"]
