"""`maas serve` as a real process tree (its own redis-server, API, worker) over real HTTP."""

import re
import signal
import socket

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from sklearn.datasets import load_digits

from maas.cli.redis_server import free_port
from tests.conftest import DIGITS
from tests.support.processes import MaasProcess
from tests.support.waiting import wait_until_blocking


@pytest.fixture
def served(tmp_path, model_repo):
    """`maas serve`, once it printed its example (it prints it once ready); then what it printed.
    Teardown stops its whole process group."""
    port = free_port()
    state = tmp_path / "state"
    args = ("--port", str(port), "--state-dir", str(state), "--model-repository", str(model_repo))
    serve = MaasProcess("serve", tmp_path / "serve.log", args=args, ready_marker="curl -s -X POST")
    with serve:
        yield serve.process, f"http://127.0.0.1:{port}", state, serve.log_text()


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
    open_ports = {redis_port, api_port}

    def all_closed() -> bool:
        for port in list(open_ports):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except ConnectionRefusedError:
                open_ports.discard(port)
        return not open_ports

    wait_until_blocking(all_closed, 30, lambda: f"its children's ports close, open: {open_ports}", 0.2)
    assert not open_ports
