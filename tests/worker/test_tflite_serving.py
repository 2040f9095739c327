"""TFLite models served through the real queue (API in-process, a real worker running LiteRT, a
real Redis): dropping NAME/VERSION/model.tflite into the repository is enough, jobs of different
sizes share batches, and int8 models take and return float."""

import asyncio
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from export.options import ExportOptions
from export.pipeline import run_export
from maas.models.tflite_interpreters import TfliteInterpreters
from tests.support import keras_models
from tests.support.processes import REPO_ROOT
from tests.worker.test_jobs_through_queue import submit


@pytest.fixture(scope="module")
def tflite_files(tmp_path_factory) -> dict[str, Path]:
    digits = keras_models.build_digits(tmp_path_factory.getbasetemp() / "keras-digits")
    out = tmp_path_factory.mktemp("tflite")
    model = digits / keras_models.DIGITS_KERAS
    for name, options in {
        "float32": {"model": model},
        "int8": {"model": model, "quantize": "int8", "calibration": digits / keras_models.TRAIN},
        "pair": {"model": keras_models.two_inputs(out / "pair.keras")},
        "counts": {"model": keras_models.integer_input(out / "counts.keras")},
    }.items():
        run_export(ExportOptions(to="tflite", output=out / f"{name}.tflite", **options))
    files = {name: out / f"{name}.tflite" for name in ("float32", "int8", "pair", "counts")}
    return files | {"test": digits / keras_models.TEST}


@pytest.fixture
def tflite_repo(model_repo, tflite_files) -> Path:
    for name, source in (("tdigits", "float32"), ("tint8", "int8"), ("tpair", "pair"), ("tcounts", "counts")):
        (model_repo / name / "1").mkdir(parents=True)
        shutil.copy(tflite_files[source], model_repo / name / "1" / "model.tflite")
    # a long queue delay, so that concurrent jobs surely share batches
    (model_repo / "tdigits" / "1" / "config.json").write_text(json.dumps({"max_queue_delay_ms": 100}))
    return model_repo


def held_out(tflite_files, rows: int) -> tuple[np.ndarray, np.ndarray]:
    with np.load(tflite_files["test"]) as data:
        return data["pixels"][:rows], data["labels"][:rows]


def interpreter_directly(path: Path, **inputs) -> dict[str, np.ndarray]:
    runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    return runner(**inputs)


async def test_tflite_jobs_of_different_sizes_batched_together_equal_the_interpreter(
    tflite_repo, tflite_files, api, worker
):
    sizes = [1, 2, 3, 5, 8, 1]
    rows, labels = held_out(tflite_files, sum(sizes))
    starts = np.cumsum([0, *sizes[:-1]])
    jobs = await asyncio.gather(
        *(
            submit(api, {"model": "tdigits", "inputs": rows[s : s + n].tolist()})
            for s, n in zip(starts, sizes, strict=True)
        )
    )
    assert all(job["status"] == "succeeded" for job in jobs), jobs
    assert max(job["timings"]["batch_size"] for job in jobs) > max(sizes)  # jobs shared a batch
    for job, start, size in zip(jobs, starts, sizes, strict=True):
        direct = interpreter_directly(tflite_files["float32"], pixels=rows[start : start + size])
        got = np.asarray(job["outputs"]["probabilities"], np.float32)
        np.testing.assert_allclose(got, direct["probabilities"], atol=1e-6)
    got = np.concatenate([np.asarray(job["outputs"]["probabilities"]) for job in jobs])
    assert (got.argmax(1) == labels).mean() > 0.85


def _quantize(values: np.ndarray, details: dict) -> np.ndarray:
    scale, zero_point = details["quantization"]
    return np.clip(np.round(values / scale) + zero_point, -128, 127).astype(np.int8)


async def test_a_full_int8_tflite_is_served_with_float_inputs_and_outputs(
    tflite_repo, tflite_files, api, worker
):
    rows, labels = held_out(tflite_files, 32)
    job = await submit(api, {"model": "tint8", "inputs": rows.tolist()})
    assert job["status"] == "succeeded", job
    interpreter = Interpreter(model_path=str(tflite_files["int8"]))
    (input_details,), (output_details,) = interpreter.get_input_details(), interpreter.get_output_details()
    raw = interpreter_directly(tflite_files["int8"], pixels=_quantize(rows, input_details))["probabilities"]
    assert raw.dtype == np.int8
    scale, zero_point = output_details["quantization"]
    expected = (raw.astype(np.float32) - zero_point) * scale
    got = np.asarray(job["outputs"]["probabilities"], np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert (got.argmax(1) == labels).mean() > 0.85
    latest = (await api.get("/v1/models/tint8")).json()["latest"]
    signature = latest["signature"]
    assert [t["dtype"] for t in signature["inputs"] + signature["outputs"]] == ["float32", "float32"]
    # What the version really runs on: LiteRT, on the CPU (it would on a GPU worker too).
    assert [(w["runtime"], w["device"]) for w in latest["workers"]] == [("litert", "cpu")]


async def test_a_two_input_tflite_model_is_served_under_its_own_tensor_names(
    tflite_repo, tflite_files, api, worker
):
    a = np.array([[0.5, -1.0, 2.0], [0.0, 0.25, -0.5]], np.float32)
    b = np.array([[1.0, 2.0], [-3.0, 0.0]], np.float32)
    job = await submit(api, {"model": "tpair", "inputs": {"a": a.tolist(), "b": b.tolist()}})
    assert job["status"] == "succeeded", job
    expected = interpreter_directly(tflite_files["pair"], a=a, b=b)
    assert sorted(job["outputs"]) == ["score", "total"]
    for name in ("score", "total"):
        np.testing.assert_allclose(np.asarray(job["outputs"][name], np.float32), expected[name], atol=1e-6)


async def test_a_tflite_model_that_takes_integers_gets_integers(tflite_repo, tflite_files, api, worker):
    tokens = np.array([[1, 2, 3], [0, 4, 7], [7, 0, 1]], np.int32)
    job = await submit(api, {"model": "tcounts", "inputs": tokens.tolist()})
    assert job["status"] == "succeeded", job
    signature = (await api.get("/v1/models/tcounts")).json()["latest"]["signature"]
    assert signature["inputs"] == [{"name": "tokens", "dtype": "int32", "shape": [None, 3]}]
    expected = interpreter_directly(tflite_files["counts"], tokens=tokens)["weighted"]
    np.testing.assert_allclose(np.asarray(job["outputs"]["weighted"], np.float32), expected, rtol=1e-6)
    refused = await api.post("/v1/jobs", json={"model": "tcounts", "inputs": [[0.5, 1, 2]]})
    assert refused.status_code == 422


def test_batches_of_every_size_share_a_few_interpreters_and_answer_row_by_row():
    """Batch sizes 1..64 are padded to powers of two: 7 interpreters, none rebuilt on rotation,
    and each row's answer is the one it gets alone."""
    demo = REPO_ROOT / "models" / "digits" / "2" / "model.tflite"
    content = demo.read_bytes()
    interpreters = TfliteInterpreters(content, 1)
    name = interpreters.inputs[0].name
    rows = np.random.default_rng(0).uniform(0, 16, (64, 64)).astype(np.float32)
    one_by_one = [next(iter(interpreters.run({name: rows[i : i + 1]}).values())) for i in range(64)]
    alone = np.concatenate(one_by_one)
    for size in range(1, 65):
        batched = next(iter(interpreters.run({name: rows[:size]}).values()))
        assert batched.shape[0] == size
        np.testing.assert_allclose(batched, alone[:size], atol=1e-6)
    assert len(interpreters._interpreters) == 7
