"""`maas serve` as a real process tree (its own redis-server, API, worker) over real HTTP."""

import os
import select
import signal
import subprocess
import sys
import time

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from sklearn.datasets import load_digits

from maas.redis_server import free_port
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
    process.kill()
    pytest.fail("maas serve did not become ready:\n" + "".join(lines))


@pytest.fixture
def served(tmp_path, model_repo):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "maas", "serve", "--port", str(port),
         "--state-dir", str(tmp_path / "state"), "--model-repository", str(model_repo)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0,
    )
    base = f"http://127.0.0.1:{port}"
    printed = _read_until(process, "curl -s -X POST", timeout_s=60)
    yield process, base, tmp_path / "state", printed
    if process.poll() is None:
        process.kill()
        process.wait()


def test_serve_answers_a_job_over_http_and_stops_cleanly_on_ctrl_c(served):
    process, base, state_dir, printed = served
    curl_line = next(line for line in printed.splitlines() if "curl -s -X POST" in line)
    assert f"{base}/v1/jobs" in curl_line
    printed_body = curl_line.split("-d '", 1)[1].rstrip().rstrip("'")
    answer = httpx.post(
        f"{base}/v1/jobs", content=printed_body, headers={"Prefer": "wait=5"}, timeout=30
    )
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
    redis_pids = subprocess.run(
        ["pgrep", "-f", f"redis-server.*{state_dir}"], capture_output=True, text=True
    ).stdout.split()
    assert not redis_pids  # the embedded Redis went down with it
