"""`maas serve` as a real process tree (its own redis-server, API, worker) over real HTTP."""

import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from sklearn.datasets import load_digits

from maas.cli.redis_server import free_port
from tests.conftest import DIGITS


def _read_until(process: subprocess.Popen, marker: str, timeout_s: float) -> str:
    """What the process printed up to the line holding `marker` (it prints it once ready)."""
    lines, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline().decode()  # unbuffered, so select stays truthful
            lines.append(line)
            if marker in line:
                return "".join(lines)
        if process.poll() is not None:
            break
    os.killpg(process.pid, signal.SIGKILL)
    pytest.fail("maas serve did not become ready:\n" + "".join(lines))


@pytest.fixture
def served(tmp_path, model_repo):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "maas",
            "serve",
            "--port",
            str(port),
            "--state-dir",
            str(tmp_path / "state"),
            "--model-repository",
            str(model_repo),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        bufsize=0,
        start_new_session=True,  # its own process group, so teardown can stop all of it
    )
    base = f"http://127.0.0.1:{port}"
    printed = _read_until(process, "curl -s -X POST", timeout_s=60)
    yield process, base, tmp_path / "state", printed
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_serve_answers_a_job_over_http_and_stops_cleanly_on_ctrl_c(served):
    process, base, state_dir, printed = served
    curl_line = next(line for line in printed.splitlines() if "curl -s -X POST" in line)
    assert f"{base}/v1/jobs" in curl_line
    printed_body = curl_line.split("-d '", 1)[1].rstrip().rstrip("'")
    answer = httpx.post(f"{base}/v1/jobs", content=printed_body, headers={"Prefer": "wait=5"}, timeout=30)
    assert answer.status_code == 200  # the printed example works as printed
    assert np.argmax(answer.json()["outputs"]["probabilities"][0]) == 0
    rows = load_digits().data[:3].astype(np.float32)
    with httpx.Client(base_url=base, timeout=30) as client:
        submitted = client.post("/v1/jobs", json={"model": "digits", "version": 1, "inputs": rows.tolist()})
        assert submitted.status_code == 202
        job = client.get(submitted.headers["location"], params={"wait": 20}).json()
    assert job["status"] == "succeeded"
    session = ort.InferenceSession(str(DIGITS / "model.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(
        job["outputs"]["probabilities"], session.run(None, {"pixels": rows})[0], rtol=1e-6, atol=1e-7
    )
    assert (state_dir / "redis" / "redis.log").exists()  # it started its own Redis there

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    redis_port = int(re.search(r"redis-server at redis://127.0.0.1:(\d+)", printed).group(1))
    with pytest.raises(ConnectionRefusedError):  # the embedded Redis went down with it
        socket.create_connection(("127.0.0.1", redis_port), timeout=1).close()


def test_a_sigkilled_serve_takes_its_redis_api_and_worker_with_it(served):
    process, base, _, printed = served
    redis_port = int(re.search(r"redis-server at redis://127.0.0.1:(\d+)", printed).group(1))
    api_port = int(base.rsplit(":", 1)[1])
    process.kill()  # SIGKILL: the supervisor cannot stop anything itself
    process.wait()
    deadline = time.monotonic() + 30
    open_ports = {redis_port, api_port}
    while open_ports and time.monotonic() < deadline:
        for port in list(open_ports):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except ConnectionRefusedError:
                open_ports.discard(port)
        time.sleep(0.2)
    assert not open_ports
