"""Runs a micro-batch: stack the jobs' inputs, run once, split the outputs back per job.

A batch that raises is bisected until the jobs that make it raise are alone, so one bad input
fails only its own job.
"""

import re
import time
from dataclasses import dataclass

import numpy as np

from batching.jobs.record import JobError
from maas.core.errors import MaasError
from worker.runtimes.base import Runtime


@dataclass(frozen=True)
class Outcome:
    outputs: dict[str, np.ndarray] | None
    error: JobError | None
    batch_rows: int  # rows of the (sub-)batch this job finally ran in
    inference_ms: float


def _rows(inputs: dict[str, np.ndarray]) -> int:
    return next(iter(inputs.values())).shape[0]


def _stack(jobs: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(jobs) == 1:
        return jobs[0]
    return {name: np.concatenate([job[name] for job in jobs]) for name in jobs[0]}


def _split(outputs: dict[str, np.ndarray], rows: list[int]) -> list[dict[str, np.ndarray]]:
    total = sum(rows)
    if len(rows) == 1:
        return [outputs]
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise ValueError(
                f"output {name!r} has shape {list(array.shape)}, not {total} rows: "
                "the model's outputs are not batch-major"
            )
    bounds = np.cumsum(rows)[:-1]
    per_output = {name: np.split(array, bounds) for name, array in outputs.items()}
    return [{name: parts[i] for name, parts in per_output.items()} for i in range(len(rows))]


# How onnxruntime's CUDA/TensorRT providers word a failed device allocation. Such a batch is
# bisected like any other failure: halves that fit still run, and the worker goes on serving.
_DEVICE_OOM = re.compile(r"out of memory|failed to allocate memory|CUDNN_STATUS_ALLOC_FAILED", re.IGNORECASE)


def _job_error(e: Exception) -> JobError:
    if isinstance(e, MaasError):  # a refusal of ours (non_finite_output) keeps its code
        return JobError(e.code, e.message)
    if _DEVICE_OOM.search(str(e)):
        return JobError("device_out_of_memory", f"the device ran out of memory for this job: {e}")
    return JobError("inference_error", f"the model raised {type(e).__name__}: {e}")


def run_batch(runtime: Runtime, jobs: list[dict[str, np.ndarray]]) -> list[Outcome]:
    """One Outcome per job, in order."""
    rows = [_rows(job) for job in jobs]
    started = time.perf_counter()
    try:
        outputs = runtime.run(_stack(jobs))
        per_job = _split(outputs, rows)
    except Exception as e:  # the runtime may raise anything; it must cost only the bad jobs
        if len(jobs) > 1:
            middle = len(jobs) // 2
            return run_batch(runtime, jobs[:middle]) + run_batch(runtime, jobs[middle:])
        elapsed_ms = (time.perf_counter() - started) * 1000
        error = _job_error(e)
        return [Outcome(None, error, rows[0], elapsed_ms)]
    elapsed_ms = (time.perf_counter() - started) * 1000
    return [Outcome(outputs, None, sum(rows), elapsed_ms) for outputs in per_job]
