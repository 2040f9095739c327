"""Bulk jobs end to end: API and batch worker in-process, a real `maas rq-worker` process that
splits the files, real Redis, real onnxruntime; outputs compared with onnxruntime called directly."""

import io

import numpy as np
import onnxruntime as ort
import pytest

from batching.bulk.arrays import array_chunks, npy_columns
from batching.bulk.jsonl import jsonl_chunks
from batching.bulk.record import chunk_path
from maas.models.registry import ModelRepository
from tests.conftest import DIGITS, WorkerHandle, in_process_api
from tests.support import onnx_models
from tests.support.bulk_helpers import jsonl, npy, npz, output_lines, read_npz, submit, wait_for_status
from tests.support.processes import MaasProcess


@pytest.fixture
async def rq_worker(settings, tmp_path):
    async with MaasProcess("rq-worker", tmp_path / "rq-worker.log", settings) as process:
        yield process


def run_direct(model_path, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


def digits_rows(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 17, (count, 64)).astype(np.float32)


async def test_jsonl_output_keeps_input_order_and_equals_onnxruntime(api, worker, rq_worker):
    rows = digits_rows(250)
    content = jsonl([{"id": f"r{i}", "inputs": [row]} for i, row in enumerate(rows)])
    job = await submit(
        api, "in.jsonl", content, model="digits", version="1", chunk_rows=64, metadata='{"team": "data"}'
    )
    assert job["status"] == "validating" and job["metadata"] == {"team": "data"}
    done = await wait_for_status(api, job["id"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    assert done["counts"] == {"total": 250, "succeeded": 250, "failed": 0}
    assert done["chunks"]["total"] == 4 and done["started_at"] and done["finished_at"]
    lines = await output_lines(api, job["id"])
    assert [line["id"] for line in lines] == [f"r{i}" for i in range(250)]
    got = np.concatenate([np.asarray(line["outputs"]["probabilities"], np.float32) for line in lines])
    [expected] = run_direct(DIGITS / "model.onnx", {"pixels": rows})
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert await output_lines(api, job["id"], "errors") == []


async def test_npy_input_gives_npy_output_equal_to_onnxruntime(api, worker, rq_worker):
    rows = digits_rows(300, seed=1)
    job = await submit(api, "rows.npy", npy(rows), model="digits", chunk_rows=128)
    done = await wait_for_status(api, job["id"], {"succeeded", "failed"})
    assert done["status"] == "succeeded" and done["version"] == 2  # latest, resolved at submit
    response = await api.get(f"/v1/bulk-jobs/{job['id']}/output")
    assert response.status_code == 200
    got = np.load(io.BytesIO(response.content))
    [expected] = run_direct(DIGITS / "model.onnx", {"pixels": rows})
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    as_jsonl = (await api.get(f"/v1/bulk-jobs/{job['id']}/output", params={"format": "jsonl"})).text
    assert len(as_jsonl.splitlines()) == 300


async def test_npz_input_for_a_two_input_model_gives_npz_output(api, worker, rq_worker, model_repo):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((130, 3)).astype(np.float32)
    b = rng.integers(-50, 50, (130, 2))
    job = await submit(api, "pairs.npz", npz(a=a, b=b), model="pair", chunk_rows=50)
    done = await wait_for_status(api, job["id"], {"succeeded", "failed"})
    assert done["status"] == "succeeded" and done["counts"]["succeeded"] == 130
    got = read_npz((await api.get(f"/v1/bulk-jobs/{job['id']}/output")).content)
    doubled, total = run_direct(model_repo / "pair" / "1" / "model.onnx", {"a": a, "b": b})
    np.testing.assert_array_equal(got["doubled"], doubled)
    np.testing.assert_array_equal(got["total"], total)


async def test_bad_rows_fail_alone_and_are_listed_with_their_reason(api, worker, rq_worker):
    good = [{"id": i, "inputs": [[i % 4]]} for i in range(40)]
    lines = jsonl(good[:10]) + b'{"id": "torn", "inputs": [[1\n' + jsonl(good[10:20])
    lines += jsonl([{"id": "shape", "inputs": [[1, 2]]}, {"id": "text", "inputs": [["x"]]}])
    lines += b"\n" + jsonl(good[20:30] + [{"id": "raises", "inputs": [[7]]}] + good[30:])
    job = await submit(api, "mixed.jsonl", lines, model="lookup", chunk_rows=16)
    done = await wait_for_status(api, job["id"], {"succeeded", "failed"})
    assert done["counts"] == {"total": 44, "succeeded": 40, "failed": 4}
    errors = await output_lines(api, job["id"], "errors")
    assert [(e["id"], e["row"]) for e in errors] == [(10, 10), ("shape", 21), ("text", 22), ("raises", 33)]
    assert "row 10: malformed JSON" in errors[0]["error"]["message"]  # its id unreadable: the row
    assert "expected shape [N, 1], got [1, 2]" in errors[1]["error"]["message"]
    assert "non-numeric" in errors[2]["error"]["message"]
    assert errors[3]["error"]["code"] == "inference_error"  # onnxruntime raised: bisected to it
    output = await output_lines(api, job["id"])
    assert len(output) == 44 and output[33] == {"id": "raises", "error": errors[3]["error"]}
    table = np.arange(8, dtype=np.float32).reshape(4, 2)
    scored = [line for line in output if "outputs" in line]
    assert [line["id"] for line in scored] == list(range(40))
    assert all(line["outputs"]["row"] == [[table[line["id"] % 4].tolist()]] for line in scored)


async def test_bad_requests_get_a_clear_4xx(api, settings):
    async def post(filename, content, **fields):
        data = {"model": "digits", **fields}
        return await api.post("/v1/bulk-jobs", data=data, files={"file": (filename, content)})

    cases = [
        (await post("x.npy", npy(np.zeros((5, 63), np.float32))), 422, "expected shape [N, 64], got [5, 63]"),
        (await post("x.npy", npy(np.array(["a"]))), 422, "is not numeric"),
        (await post("x.npy", b"not an array"), 422, "not a readable .npy"),
        (await post("x.csv", b"1,2\n"), 422, "format 'csv' unknown"),
        (await post("x.npz", npz(pixel=np.zeros((2, 64), np.float32))), 422, "the model takes ['pixels']"),
        (await post("x.jsonl", b"{}", model="nope"), 404, "model 'nope' not found"),
        (await post("x.jsonl", b"{}", chunk_rows="0"), 422, "chunk_rows"),
        (await post("x.jsonl", b"{}", metadata="{"), 422, "metadata: malformed JSON"),
        (
            await post("x.jsonl", b"{}", webhook_url="http://example.com/hook"),  # the field is `webhook`
            422,
            "webhook_url: unknown form field; known: file, model, version",
        ),
        (
            await api.post("/v1/bulk-jobs", data={"model": "digits", "path": "/etc/passwd"}),
            422,
            "server-side paths are off",
        ),
        (await api.get("/v1/bulk-jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404, "not found"),
    ]
    for response, status, message in cases:
        assert response.status_code == status, response.text
        assert message in response.json()["error"]["message"], response.text
    listed = (await api.get("/v1/bulk-jobs")).json()["data"]
    assert listed == []  # nothing refused was kept
    assert not list((settings.state_dir / "bulk").glob("*/input.*"))


async def test_cancel_mid_run_stops_the_remaining_chunks(api, worker_handle, rq_worker):
    rows = digits_rows(5000, seed=3)
    job = await submit(api, "big.npy", npy(rows), model="digits", chunk_rows=10)
    await wait_for_status(api, job["id"], {"queued", "running"})  # split, no worker yet
    await worker_handle.start()
    running = await wait_for_status(api, job["id"], {"running"})
    assert running["status"] == "running"
    cancelled = (await api.post(f"/v1/bulk-jobs/{job['id']}/cancel")).json()
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"]
    again = await api.post(f"/v1/bulk-jobs/{job['id']}/cancel")
    assert again.status_code == 409
    assert (await api.get(f"/v1/bulk-jobs/{job['id']}/output")).status_code == 409
    final = await wait_for_status(api, job["id"], {"cancelled"})
    assert final["counts"]["succeeded"] < 5000


def test_a_chunk_holds_fewer_rows_when_they_would_pass_its_byte_limit():
    signature = ModelRepository(DIGITS.parent.parent).get("digits", 1).signature
    rows = digits_rows(100)
    columns = npy_columns(io.BytesIO(npy(rows)), signature)
    chunks = list(array_chunks(columns, 0, 0, chunk_rows=1000, max_bytes=30 * 64 * 4))
    assert [len(chunk.ids) for chunk, _ in chunks] == [30, 30, 30, 10]
    assert [after for _, after in chunks] == [30, 60, 90, 100]  # where a resumed split goes on
    np.testing.assert_array_equal(np.concatenate([c.tensors["pixels"] for c, _ in chunks]), rows)
    text = jsonl([{"inputs": [[5.0] * 64]}] * 100)  # lines of one length
    line_bytes = len(text) // 100
    lines = list(jsonl_chunks(io.BytesIO(text), signature, 0, 0, 0, chunk_rows=40, max_bytes=25 * line_bytes))
    assert [len(chunk.ids) for chunk, _ in lines] == [25, 25, 25, 25]
    assert lines[1][0].ids[0] == 25 and lines[-1][1] == len(text)


async def test_a_server_side_path_is_read_only_under_the_allowed_directories(
    settings, worker, rq_worker, tmp_path
):
    allowed = tmp_path / "inputs"
    allowed.mkdir()
    rows = digits_rows(20, seed=4)
    (allowed / "rows.npy").write_bytes(npy(rows))
    (tmp_path / "elsewhere.npy").write_bytes(npy(rows))
    async with in_process_api(settings.model_copy(update={"bulk_input_dirs": [allowed]})) as api:
        outside = await api.post(
            "/v1/bulk-jobs", data={"model": "digits", "path": str(allowed / ".." / "elsewhere.npy")}
        )
        assert outside.status_code == 422, outside.text
        assert "not under an allowed input directory" in outside.json()["error"]["message"]
        inside = {"model": "digits", "path": str(allowed / "rows.npy")}
        response = await api.post("/v1/bulk-jobs", data=inside)
        assert response.status_code == 202, response.text
        done = await wait_for_status(api, response.json()["id"], {"succeeded", "failed"})
        assert done["status"] == "succeeded" and done["counts"]["succeeded"] == 20


async def test_a_lazy_worker_loads_a_version_that_only_a_bulk_job_needs(settings, redis, rq_worker):
    """The worker's demand check counts bulk chunks, not only online rows."""
    lazy = settings.model_copy(update={"worker_preload": False})
    handle = WorkerHandle(lazy)
    async with in_process_api(lazy) as api:
        try:
            await handle.start()
            assert handle.worker.lanes.states == {}
            rows = digits_rows(40)
            job = await submit(api, "in.npy", npy(rows), model="digits", version="2")
            done = await wait_for_status(api, job["id"], {"succeeded", "failed"})
            assert done["status"] == "succeeded" and done["counts"]["succeeded"] == 40
            assert set(handle.worker.lanes.states) == {"digits:2"}
        finally:
            await handle.stop()


async def test_rows_of_different_dynamic_sizes_and_an_overlong_line(
    settings, redis, model_repo, worker, tmp_path
):
    """A model with dynamic inner dimensions: lines of different image sizes go to different
    chunks (they cannot stack); a line over the chunk byte limit fails alone, unread."""
    onnx_models.conv3x3(model_repo / "conv" / "1" / "model.onnx")
    small = settings.model_copy(update={"bulk_chunk_max_bytes": 1024})
    splitter = MaasProcess("rq-worker", tmp_path / "rq-worker.log", small).start()
    lines = [{"id": f"a{i}", "inputs": [[[[1.0] * 5] * 5]]} for i in range(3)]
    lines += [{"id": "b0", "inputs": [[[[2.0] * 4] * 4]]}, {"id": "long", "inputs": [[[[1.0] * 300] * 5]]}]
    lines += [{"id": "a3", "inputs": [[[[1.0] * 5] * 5]]}]
    try:
        async with in_process_api(small) as api:
            job = await submit(api, "mixed.jsonl", jsonl(lines), model="conv")
            done = await wait_for_status(api, job["id"], {"succeeded", "failed"})
            assert done["counts"] == {"total": 6, "succeeded": 5, "failed": 1}, done
            output = await output_lines(api, job["id"])
    finally:
        splitter.stop()
    assert [line["id"] for line in output] == ["a0", "a1", "a2", "b0", 4, "a3"]
    assert output[0]["outputs"]["y"] == [[[[9.0] * 3] * 3]]
    assert output[3]["outputs"]["y"] == [[[[18.0] * 2] * 2]]
    assert "longer than 1024 bytes" in output[4]["error"]["message"]


async def test_damaged_or_odd_inputs_get_422_not_500(api, settings, tmp_path):
    damaged = bytearray(npz(pixels=np.ones((50, 64), np.float32)))
    damaged[120] ^= 0xFF  # inside the array data: the CRC no longer matches
    files = {"file": ("x.npz", bytes(damaged))}
    response = await api.post("/v1/bulk-jobs", data={"model": "digits"}, files=files)
    assert response.status_code == 422 and response.json()["error"]["loc"] == ["file"], response.text
    allowed = tmp_path / "inputs"
    allowed.mkdir()
    async with in_process_api(settings.model_copy(update={"bulk_input_dirs": [allowed]})) as guarded:
        nul = await guarded.post("/v1/bulk-jobs", data={"model": "digits", "path": f"{allowed}/a\x00b.npy"})
    assert nul.status_code == 422 and "NUL" in nul.json()["error"]["message"]


async def test_a_corrupt_chunk_fails_its_job_visibly_and_the_lane_goes_on(
    api, settings, worker_handle, rq_worker
):
    lines = jsonl([{"inputs": [row]} for row in digits_rows(30)])  # a JSONL job's chunks are files
    first = await submit(api, "a.jsonl", lines, model="digits", chunk_rows=10)
    await wait_for_status(api, first["id"], {"queued"})  # split, no worker yet
    store = settings.state_dir / "bulk"
    (store / chunk_path(first["id"], 0)).write_bytes(b"garbage")
    await worker_handle.start()
    failed = await wait_for_status(api, first["id"], {"failed", "succeeded"})
    assert failed["status"] == "failed" and "chunk 0" in failed["error"]["message"], failed
    second = await submit(api, "b.npy", npy(digits_rows(30, seed=1)), model="digits", chunk_rows=10)
    done = await wait_for_status(api, second["id"], {"succeeded", "failed"})
    assert done["status"] == "succeeded" and done["counts"]["succeeded"] == 30


async def test_a_npy_jobs_chunks_are_read_from_its_input_and_a_cut_input_fails_visibly(
    api, settings, worker_handle, rq_worker
):
    store = settings.state_dir / "bulk"
    first = await submit(api, "a.npy", npy(digits_rows(30)), model="digits", chunk_rows=10)
    queued = await wait_for_status(api, first["id"], {"queued"})  # split, no worker yet
    assert queued["chunks"]["total"] == 3 and not (store / first["id"] / "chunks").exists()
    # The header declares 30 rows, the file holds 20: the split refuses it before any chunk.
    cut = await submit(api, "b.npy", npy(digits_rows(30))[: -10 * 64 * 4], model="digits", chunk_rows=10)
    failed = await wait_for_status(api, cut["id"], {"failed", "queued"})
    assert failed["status"] == "failed" and "truncated" in failed["error"]["message"], failed
    await worker_handle.start()
    done = await wait_for_status(api, first["id"], {"succeeded", "failed"})
    assert done["status"] == "succeeded" and done["counts"]["succeeded"] == 30


async def test_a_retired_versions_bulk_job_finishes_and_downloads(api, worker, rq_worker):
    job = await submit(api, "a.npy", npy(digits_rows(20)), model="digits", version="1")
    retired = await api.delete("/v1/models/digits/versions/1")
    assert retired.status_code == 200, retired.text
    done = await wait_for_status(api, job["id"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    assert (await api.get(f"/v1/bulk-jobs/{job['id']}/output")).status_code == 200
