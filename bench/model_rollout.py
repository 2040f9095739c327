"""`make bench-rollout`: a model rollout under steady traffic through a real `maas serve`: upload a
new version, wait until a worker serves it, promote an alias to it, roll back. Prints how long each
step took to take effect and what the jobs saw (failures, latency around each step)."""

import argparse
import json
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from service import Service, http_status

DIGITS = Path(__file__).resolve().parent.parent / "models" / "digits" / "1"


def multipart(file: Path) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="model.onnx"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + file.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


class Traffic:
    """Single-row jobs naming the alias `stable`, at a fixed rate, answered with Prefer: wait."""

    def __init__(self, url: str, rate: float):
        self.url, self.rate = url, rate
        self.records: list[tuple[float, float, int, int | None]] = []  # sent, answered, status, version
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def one(self, row: list[float]) -> None:
        body = json.dumps({"model": "digits", "version": "stable", "inputs": [row]}).encode()
        sent = time.monotonic()
        status, answer = http_status(
            self.url + "/v1/jobs", body, {"Content-Type": "application/json", "Prefer": "wait=10"}, 15
        )
        job = json.loads(answer)
        ok = status == 200 and job.get("status") == "succeeded"
        with self.lock:
            self.records.append((sent, time.monotonic(), 200 if ok else status, job.get("version")))

    def run(self) -> None:
        rng = np.random.default_rng(0)
        with ThreadPoolExecutor(32) as pool:
            started, i = time.monotonic(), 0
            while not self.stop.is_set():
                time.sleep(max(0.0, started + i / self.rate - time.monotonic()))
                pool.submit(self.one, rng.uniform(0, 16, 64).round(1).tolist())
                i += 1


def call(url: str, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"):
    """(status, answer, seconds) of one management call."""
    started = time.monotonic()
    status, answer = http_status(url + path, body, {"Content-Type": content_type}, 60, method)
    return status, json.loads(answer), time.monotonic() - started


def wait_ready(url: str, version: int) -> float:
    started = time.monotonic()
    while time.monotonic() - started < 30:
        status, page = http_status(f"{url}/v1/models/digits/versions/{version}")
        if status == 200 and json.loads(page)["status"] == "ready":
            return time.monotonic() - started
        time.sleep(0.01)
    raise TimeoutError(f"version {version} not ready in 30 s")


def summarize(records, since: float, until: float) -> str:
    window = [r for r in records if since <= r[0] < until]
    latencies = np.array([(r[1] - r[0]) * 1000 for r in window]) if window else np.zeros(1)
    failed = sum(1 for r in window if r[2] != 200)
    versions = sorted({r[3] for r in window if r[3] is not None})
    return (
        f"{len(window):5d} jobs, {failed} failed, versions {versions}, "
        f"p50 {np.percentile(latencies, 50):.1f} ms, p99 {np.percentile(latencies, 99):.1f} ms, "
        f"max {latencies.max():.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=100, help="jobs/s")
    parser.add_argument("--phase-s", type=float, default=3.0, help="seconds of traffic between steps")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repository = Path(tmp) / "models"
        shutil.copytree(DIGITS, repository / "digits" / "1")
        service = Service(repository, Path(tmp) / "state", Path(tmp) / "serve.log")
        service.start()
        try:
            url = service.url
            assert call(url, "PUT", "/v1/models/digits/aliases/stable", b'{"version": 1}')[0] == 200
            traffic = Traffic(url, args.rate)
            runner = threading.Thread(target=traffic.run)
            runner.start()
            marks = {"start": time.monotonic()}
            time.sleep(args.phase_s)
            marks["upload"] = time.monotonic()
            body, content_type = multipart(DIGITS / "model.onnx")
            status, created, upload_s = call(url, "POST", "/v1/models/digits/versions", body, content_type)
            assert status == 201, created
            ready_s = wait_ready(url, created["version"])
            time.sleep(args.phase_s)
            marks["promote"] = time.monotonic()
            _, _, promote_s = call(url, "PUT", "/v1/models/digits/aliases/stable", b'{"version": 2}')
            time.sleep(args.phase_s)
            marks["rollback"] = time.monotonic()
            _, _, rollback_s = call(url, "POST", "/v1/models/digits/aliases/stable/rollback")
            time.sleep(args.phase_s)
            marks["end"] = time.monotonic()
            traffic.stop.set()
            runner.join()
        finally:
            service.stop()
    records = traffic.records
    print(f"rollout under {args.rate:g} jobs/s of single-row digits jobs naming alias `stable`:")
    print(
        f"  upload (validate + write) answered in {upload_s * 1000:.0f} ms; "
        f"a worker served it {ready_s * 1000:.0f} ms later"
    )
    print(f"  promote answered in {promote_s * 1000:.1f} ms; rollback in {rollback_s * 1000:.1f} ms")
    steps = list(marks.items())
    for (name, since), (_, until) in zip(steps, steps[1:], strict=False):
        print(f"  after {name:8s}: {summarize(records, since, until)}")
    late = [r for r in records if r[0] > marks["promote"] + promote_s and r[0] < marks["rollback"]]
    print(f"  jobs sent after the promote returned that ran version 1: {sum(r[3] == 1 for r in late)}")


if __name__ == "__main__":
    main()
