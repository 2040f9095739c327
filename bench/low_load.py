"""Low load, end to end: one client, one single-row job at a time (`Prefer: wait`), through a
real `maas serve`, against the same inference called in process. Issue 20's low-load targets:
with delay 0 a job's p50 within 1 ms of direct onnxruntime; with delay D within D + 1 ms, the
queue wait overshooting D by at most 0.3 ms; a lightly loaded worker spending at most 0.3 ms of
CPU per job (it blocks on Redis instead of polling).

    python bench/low_load.py [--jobs 300] [--delay-ms 5]

The demo model is served twice: version 1 with `max_queue_delay_ms` 0, version 2 with D. Each
job's own timings (`queue_ms`: from its record's creation to its claim) give the overshoot;
its wall time at the client gives the latency; /proc gives each role's CPU.
"""

import argparse
import http.client
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from cpu import tree_cpu_s
from heavy_model import DEMO_MODEL
from service import Service

from maas.models.registry import ModelRepository
from worker.runtimes.onnx_runtime import OnnxRuntime

WARMUP_JOBS = 20


def build_repository(root: Path, delay_ms: float) -> None:
    for version, delay in ((1, 0.0), (2, delay_ms)):
        folder = root / "digits" / str(version)
        folder.mkdir(parents=True)
        shutil.copyfile(DEMO_MODEL, folder / "model.onnx")
        config = {"max_batch_size": 64, "max_queue_delay_ms": delay}
        config["onnxruntime"] = {"intra_op_num_threads": 1, "inter_op_num_threads": 1}
        (folder / "config.json").write_text(json.dumps(config))


def direct_ms(repo: Path, jobs: int) -> list[float]:
    """Milliseconds per single-row call of the worker's own runtime class, in process."""
    model = ModelRepository(repo).get("digits", 1)
    runtime = OnnxRuntime(model, "cpu")
    spec = model.signature.inputs[0]
    inputs = {spec.name: np.random.default_rng(0).random((1, *spec.shape[1:]), dtype=np.float32)}
    runtime.run(inputs)
    times = []
    for _ in range(jobs):
        started = time.perf_counter()
        runtime.run(inputs)
        times.append((time.perf_counter() - started) * 1000)
    return times


def send_jobs(url: str, version: int, jobs: int) -> tuple[list[float], list[float]]:
    """(client ms per job, queue_ms per job) for `jobs` jobs sent one after another on one
    keep-alive connection."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    row = np.random.default_rng(0).random(64).round(3).tolist()
    body = json.dumps({"model": "digits", "version": version, "inputs": [row]}).encode()
    headers = {"Content-Type": "application/json", "Prefer": "wait=10"}
    latencies, queue_waits = [], []
    for _ in range(jobs):
        started = time.perf_counter()
        connection.request("POST", "/v1/jobs", body, headers)
        response = connection.getresponse()
        answer = json.loads(response.read())
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status != 200 or answer["status"] != "succeeded":
            raise RuntimeError(f"a job answered {response.status}: {answer}")
        queue_waits.append(answer["timings"]["queue_ms"])
    connection.close()
    return latencies, queue_waits


def quantiles(values: list[float]) -> str:
    cuts = statistics.quantiles(values, n=100)
    return (
        f"p50 {statistics.median(values):.2f}  p90 {cuts[89]:.2f}  p99 {cuts[98]:.2f}  max {max(values):.2f}"
    )


def measure(service: Service, version: int, jobs: int) -> dict:
    send_jobs(service.url, version, WARMUP_JOBS)
    assert service.process is not None
    before, cpu_before = tree_cpu_s(service.process.pid), time.process_time()
    latencies, queue_waits = send_jobs(service.url, version, jobs)
    after, client_cpu_s = tree_cpu_s(service.process.pid), time.process_time() - cpu_before
    per_role = {role: (after[role] - before.get(role, 0.0)) * 1000 / jobs for role in after}
    return {"latencies": latencies, "queue_waits": queue_waits, "cpu": per_role, "client": client_cpu_s}


def report(label: str, figures: dict, delay_ms: float, direct_p50: float) -> None:
    latencies, waits = figures["latencies"], figures["queue_waits"]
    overshoot = [w - delay_ms for w in waits]
    roles = "  ".join(f"{role} {ms:.3f}" for role, ms in sorted(figures["cpu"].items()) if ms >= 0.0005)
    limit = direct_p50 + delay_ms + 1
    print(f"{label}: client ms {quantiles(latencies)}  (target p50 <= {limit:.2f})")
    print(f"{label}: queue wait - delay, ms {quantiles(overshoot)}  (target <= 0.3)")
    print(f"{label}: CPU ms per job {roles}  (client {figures['client'] * 1000 / len(latencies):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300, help="Jobs per delay, one at a time.")
    parser.add_argument("--delay-ms", type=float, default=5.0, help="The second version's delay D.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="maas-low-load-") as tmp:
        work = Path(tmp)
        build_repository(work / "models", args.delay_ms)
        direct = direct_ms(work / "models", args.jobs)
        direct_p50 = statistics.median(direct)
        print(f"direct onnxruntime, one row: ms {quantiles(direct)}")
        service = Service(work / "models", work / "state", work / "serve.log")
        try:
            service.start()
            report("delay 0", measure(service, 1, args.jobs), 0.0, direct_p50)
            report(f"delay {args.delay_ms:g}", measure(service, 2, args.jobs), args.delay_ms, direct_p50)
        finally:
            service.stop()


if __name__ == "__main__":
    main()
