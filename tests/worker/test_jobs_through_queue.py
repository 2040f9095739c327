"""Jobs through the real queue: API in-process over ASGI, a real worker, a real Redis."""

import asyncio

import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_digits

from tests.conftest import DIGITS, DIGITS_V2_DELAY_MS


def digits_rows(count: int, start: int = 0) -> np.ndarray:
    return load_digits().data[start : start + count].astype(np.float32)


def direct(model_path, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


async def submit(api, body: dict, wait_s: float = 10) -> dict:
    response = await api.post("/v1/jobs", json=body, headers={"Prefer": f"wait={wait_s}"})
    assert response.status_code == 200, response.text
    return response.json()


async def test_results_through_the_queue_equal_direct_onnxruntime(api, worker):
    rows = digits_rows(40)
    jobs = await asyncio.gather(
        *(
            submit(api, {"model": "digits", "version": 1, "inputs": rows[i : i + 4].tolist()})
            for i in range(0, 40, 4)
        )
    )
    (expected,) = direct(DIGITS / "model.onnx", {"pixels": rows})
    got = np.concatenate([np.asarray(job["outputs"]["probabilities"], np.float32) for job in jobs])
    assert all(job["status"] == "succeeded" for job in jobs)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert (got.argmax(1) == load_digits().target[:40]).mean() > 0.9


async def test_concurrent_single_row_jobs_are_coalesced_into_batches(api, worker):
    rows = digits_rows(64)
    jobs = await asyncio.gather(*(submit(api, {"model": "digits", "inputs": [row.tolist()]}) for row in rows))
    sizes = [job["timings"]["batch_size"] for job in jobs]
    assert all(job["version"] == 2 for job in jobs)
    assert max(sizes) > 1, sizes
    assert max(sizes) <= 64
    assert len(set(sizes)) < 64  # far fewer batches than jobs


async def test_lone_job_waits_about_the_queue_delay(api, worker):
    for start in range(3):
        job = await submit(api, {"model": "digits", "inputs": digits_rows(1, start).tolist()})
        queue_ms = job["timings"]["queue_ms"]
        assert job["timings"]["batch_size"] == 1
        assert DIGITS_V2_DELAY_MS * 0.8 <= queue_ms <= DIGITS_V2_DELAY_MS + 40, queue_ms


async def test_two_inputs_two_outputs_with_int64_round_trip(api, worker):
    a = [[1.5, -2.0, 0.25], [0.0, 1.0, 2.0]]
    b = [[3, 4], [2**40, -7]]
    job = await submit(api, {"model": "pair", "inputs": {"a": a, "b": b}})
    assert job["outputs"]["doubled"] == [[3.0, -4.0, 0.5], [0.0, 2.0, 4.0]]
    assert job["outputs"]["total"] == [[7], [2**40 - 7]]


async def test_a_runtime_error_fails_only_the_job_that_caused_it(api, worker):
    indexes = [0, 1, 9, 2, 3, 1, 0, 2]  # 9 is outside the 4-row table
    jobs = await asyncio.gather(*(submit(api, {"model": "lookup", "inputs": [[i]]}) for i in indexes))
    assert max(job["timings"]["batch_size"] for job in jobs) > 1  # they did share batches
    for index, job in zip(indexes, jobs, strict=True):
        if index == 9:
            assert job["status"] == "failed"
            assert job["error"]["code"] == "inference_error"
            assert "Gather" in job["error"]["message"] or "indices" in job["error"]["message"]
        else:
            assert job["status"] == "succeeded", job
            assert job["outputs"]["row"] == [[[2.0 * index, 2.0 * index + 1]]]


async def test_metadata_and_timings_come_back_with_the_job(api, worker):
    job = await submit(
        api, {"model": "digits", "inputs": digits_rows(2).tolist(), "metadata": {"user": "u1"}}
    )
    assert job["metadata"] == {"user": "u1"}
    timings = job["timings"]
    assert timings["batch_size"] >= 2
    assert timings["total_ms"] >= timings["queue_ms"] >= 0
    assert timings["inference_ms"] > 0
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]
