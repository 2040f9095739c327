"""`make bench-large`: a version past protobuf's 2 GB limit (an MLP whose weights live in external
data files, generated on the fly) through a real `maas serve`: upload it as one archive in one
request and as a resumable upload in chunks (MB/s of each), validation alone, the worker's load
(ready after the upload, peak RSS of each process), and the time from a promotion to the first
answer naming the alias, with and without waiting for readiness. Needs about 4x the model's size
of free disk (source, archive, two stored versions); everything is deleted afterwards."""

import argparse
import asyncio
import json
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

import httpx
from maas_client import Client
from rss import peak_rss_mb
from service import Service

from maas.core.settings import Settings
from maas.models.sandbox import validate_in_child
from tests.support import large_models

GIB = 1024**3


def archive(source: Path, target: Path) -> Path:
    with tarfile.open(target, "w") as tar:
        for path in sorted(source.iterdir()):
            tar.add(path, arcname=path.name)
    return target


def timed(what: str, started: float) -> float:
    took = time.monotonic() - started
    print(f"  {what}: {took:.2f} s", flush=True)
    return took


def wait_ready(http: httpx.Client, version: int, timeout_s: float = 900) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if http.get(f"/v1/models/large/versions/{version}").json().get("status") == "ready":
            return
        time.sleep(0.05)
    raise TimeoutError(f"version {version} not ready in {timeout_s:g} s")


def first_answer_s(http: httpx.Client, width: int) -> float:
    started = time.monotonic()
    body = {"model": "large", "version": "stable", "inputs": [[0.5] * width]}
    answer = http.post("/v1/jobs", json=body, headers={"Prefer": "wait=600"}, timeout=700).json()
    assert answer["status"] == "succeeded", answer
    return time.monotonic() - started


def upload_plain(http: httpx.Client, tarball: Path) -> dict:
    with tarball.open("rb") as body:
        response = http.post("/v1/models/large/versions", files={"file": ("v.tar", body)}, timeout=1800)
    assert response.status_code == 201, response.text
    return response.json()


def promote(http: httpx.Client, version: int, wait_workers: int) -> None:
    body = {"version": version, "wait_ready_workers": wait_workers, "wait_timeout_s": 900}
    response = http.put("/v1/models/large/aliases/stable", json=body, timeout=1000)
    assert response.status_code == 200, response.text


def run(args: argparse.Namespace, tmp: Path) -> None:
    size_mb = args.depth * args.width**2 * 4 / 2**20
    print(
        f"model: {args.depth} x MatMul {args.width}x{args.width} float32, {size_mb:,.0f} MiB of external data"
    )
    started = time.monotonic()
    source = tmp / "source"
    large_models.mlp(source, args.width, args.depth, files=args.files)
    timed("generated", started)
    tarball = archive(source, tmp / "v.tar")
    mb = tarball.stat().st_size / 1e6
    started = time.monotonic()
    settings = Settings(upload_validation_timeout_s=1800, upload_validation_memory_mb=1024)
    asyncio.run(validate_in_child(source / "model.onnx", None, settings))
    timed("validation alone (checks + trial batch in the child)", started)
    env = {
        "MAAS_MAX_MODEL_BYTES": str(16 * GIB),
        "MAAS_UPLOAD_VALIDATION_TIMEOUT_S": "1800",
        "MAAS_WORKER_LOAD_REHEARSAL_TIMEOUT_S": "1800",
    }
    service = Service(tmp / "models", tmp / "state", tmp / "serve.log", env)
    (tmp / "models").mkdir()
    service.start()
    try:
        with httpx.Client(base_url=service.url, timeout=60) as http:
            measure(args, http, service, tarball, mb)
    finally:
        peaks = peak_rss_mb(service.process.pid) if service.process else {}
        service.stop()
    print(f"  peak RSS by process (MB): {json.dumps(peaks)}")


def measure(args: argparse.Namespace, http: httpx.Client, service: Service, tarball: Path, mb: float) -> None:
    started = time.monotonic()
    upload_plain(http, tarball)
    took = timed("plain upload (one request: stream, unpack, hash, validate, store)", started)
    print(f"    {mb / took:,.0f} MB/s of a {mb:,.0f} MB archive")
    started = time.monotonic()
    wait_ready(http, 1)
    timed("worker ready after the upload answered (rehearsal, load, warm-up)", started)
    promote(http, 1, 0)
    with Client(url=service.url, timeout=600) as maas:
        started = time.monotonic()
        created = maas.models.push("large", tarball)
        took = timed("chunked upload (client sha256, 16 MiB chunks, server sha256, validate, store)", started)
        print(f"    {mb / took:,.0f} MB/s")
        started = time.monotonic()
        promote(http, created["version"], 0)
        print(f"  promote without waiting, to first answer: {first_answer_s(http, args.width):.2f} s")
        http.delete("/v1/models/large/versions/1")  # unloads once idle: room for the next one
        created = maas.models.push("large", tarball)
        started = time.monotonic()
        promote(http, created["version"], 1)
        waited = time.monotonic() - started
        answer = first_answer_s(http, args.width)
        print(
            f"  promote waiting for 1 ready worker: {waited:.2f} s, then first answer {answer * 1000:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=8192)
    parser.add_argument("--depth", type=int, default=9, help="layers; 9 x 8192^2 floats = 2.25 GiB")
    parser.add_argument("--files", type=int, default=3, help="external data files")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary dir)")
    args = parser.parse_args()
    needed = 5 * args.depth * args.width**2 * 4
    place = args.dir or Path(tempfile.gettempdir())
    free = shutil.disk_usage(place).free
    if free < needed:
        raise SystemExit(f"{place}: {free / GIB:.1f} GiB free, this bench needs {needed / GIB:.1f} GiB")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        run(args, Path(tmp))


if __name__ == "__main__":
    main()
