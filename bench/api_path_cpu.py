"""CPU of the API process per request on its hot routes, measured in process: the app (its
middleware, routing, auth, guards, body reading, error mapping, rendering) driven over raw ASGI
with a job service that answers at once (no worker, no Redis round trip per job), so the figure
is the HTTP side of a request, which is what the hot paths (api/hot_path.py) change. Rounds
alternate the app without and with its hot paths; the median of each is printed.

    PYTHONPATH=$PWD .venv/bin/python bench/api_path_cpu.py [--requests 3000] [--rounds 5]
"""

import argparse
import asyncio
import inspect
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

from api.app import create_app
from batching.jobs.record import JobRecord, JobStatus
from maas.cli.redis_server import RedisServer
from maas.core.settings import Settings

DIGITS = Path(__file__).resolve().parent.parent / "models" / "digits"
JOB_ID = "01M8M76YG72CF2W8C2TBH890J1-1s2"
ROW = [0.5] * 64
JSON = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json")]
# (name, method, path, headers, body): the routes issue 20 names as the hot ones.
REQUESTS = (
    (
        "POST /v1/jobs, Prefer: wait",
        "POST",
        "/v1/jobs",
        [*JSON, (b"prefer", b"wait=5")],
        {"model": "digits", "inputs": [ROW]},
    ),
    ("GET /v1/jobs/{id}", "GET", f"/v1/jobs/{JOB_ID}", JSON[:1], None),
    (
        "POST /v2/models/digits/infer",
        "POST",
        "/v2/models/digits/infer",
        JSON,
        {"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": ROW}]},
    ),
)


def answered_record() -> JobRecord:
    now = time.time()
    outputs = {"probabilities": np.full((1, 10), 0.1, np.float32)}
    return JobRecord(
        JOB_ID,
        JobStatus.SUCCEEDED,
        "digits",
        1,
        1,
        now,
        now + 60,
        started_at=now,
        finished_at=now,
        outputs=outputs,
    )


def answer_at_once(app) -> None:
    """The job service answers every submit and read with one finished job."""
    jobs, record = app.state.services.jobs, answered_record()

    async def submit(caller, request, idempotency_key=None, wait_s=0.0, traceparent=None):
        return record, False

    async def read(caller, job_id, wait_s=0.0):
        return record

    jobs.submit, jobs.read = submit, read


def scope_of(method: str, path: str, headers: list) -> dict:
    """As uvicorn gives it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "state": {},
    }


async def call(app, method: str, path: str, headers: list, body: bytes) -> int:
    received = False
    status = 0

    async def receive() -> dict:
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope_of(method, path, headers), receive, send)
    return status


async def cpu_us(app, requests: int) -> dict[str, float]:
    spent = {}
    for name, method, path, headers, content in REQUESTS:
        body = orjson.dumps(content) if content is not None else b""
        sized = [*headers, (b"content-length", str(len(body)).encode())] if body else headers
        assert await call(app, method, path, sized, body) == 200, name
        started = time.process_time()
        for _ in range(requests):
            await call(app, method, path, sized, body)
        spent[name] = (time.process_time() - started) / requests * 1e6
    return spent


def build(settings: Settings, hot_paths: bool):
    if "hot_paths" in inspect.signature(create_app).parameters:
        return create_app(settings, hot_paths=hot_paths)  # type: ignore[call-arg]
    return create_app(settings)


async def measure(settings: Settings, requests: int, rounds: int) -> dict[bool, list[dict[str, float]]]:
    apps = {variant: build(settings, variant) for variant in (False, True)}
    found: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for app in apps.values():
        await app.router.lifespan_context(app).__aenter__()
        answer_at_once(app)
    for _ in range(rounds):
        for variant, app in apps.items():
            found[variant].append(await cpu_us(app, requests))
    return found


def report(found: dict[bool, list[dict[str, float]]], describe: Callable[[bool], str]) -> None:
    for name, *_ in REQUESTS:
        medians = {v: statistics.median(r[name] for r in rounds) for v, rounds in found.items()}
        shown = ", ".join(f"{describe(v)} {us:.0f} us" for v, us in medians.items())
        print(f"{name}: {shown} (median of {len(found[True])} rounds; {medians[True] / medians[False]:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="Requests per route and round.")
    parser.add_argument("--rounds", type=int, default=5, help="Rounds per variant, alternating.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="maas-api-cpu-"))
    shutil.copytree(DIGITS, work / "models" / "digits")
    server = RedisServer(work, appendfsync=None)
    server.start()
    try:
        settings = Settings(redis_url=server.url, model_repository=work / "models", state_dir=work / "state")
        found = asyncio.run(measure(settings, args.requests, args.rounds))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(found, lambda on: "hot paths on" if on else "off")


if __name__ == "__main__":
    main()
