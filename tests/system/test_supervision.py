"""`maas serve` watches its children: a SIGKILLed Redis or worker is reaped and restarted with
backoff, and jobs succeed afterwards; a child in a crash loop makes `maas serve` give up, stop
the rest and exit non-zero."""

import os
import re
import signal
import socket
import time

import httpx
import pytest
import redis

from maas.cli.redis_server import free_port
from tests.system.serving import READY, ServeProcess, wait_gone

ROW = [1.0] * 64
FAST_RESTARTS = {"MAAS_SUPERVISOR_BACKOFF_S": "0.2", "MAAS_HEARTBEAT_INTERVAL_S": "0.5"}


@pytest.fixture
def serve_factory(tmp_path, model_repo):
    started = []

    def start(env: dict[str, str]) -> tuple[ServeProcess, str]:
        port = free_port()
        args = ["--port", str(port), "--state-dir", str(tmp_path / "state")]
        serve = ServeProcess(tmp_path / "serve.log", [*args, "--model-repository", str(model_repo)], env)
        started.append(serve)
        return serve, f"http://127.0.0.1:{port}"

    yield start
    for serve in started:
        serve.stop()


def run_a_job(base: str, timeout_s: float = 30) -> dict:
    """Submits one job (retrying the 503s of a Redis that is coming back) and waits for it."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=base, timeout=timeout_s) as client:
        while True:
            submitted = client.post("/v1/jobs", json={"model": "digits", "version": 1, "inputs": [ROW]})
            if submitted.status_code == 202 or time.monotonic() > deadline:
                break
            assert submitted.status_code == 503, submitted.text
            time.sleep(0.2)
        assert submitted.status_code == 202, submitted.text
        answer = client.get(submitted.headers["location"], params={"wait": 20})
        assert answer.status_code == 200, answer.text
        return answer.json()


def test_a_sigkilled_redis_and_worker_are_reaped_and_restarted_and_jobs_succeed(serve_factory):
    serve, base = serve_factory({**FAST_RESTARTS, "MAAS_EMBEDDED_REDIS_MAXMEMORY_MB": "64"})
    redis_pid, mark = serve.pid_of("redis-server")
    worker_pid, _ = serve.pid_of("worker")
    serve.wait_for(READY)
    redis_port = int(re.search(r"redis-server at redis://127.0.0.1:(\d+)", serve.output()).group(1))
    with redis.Redis(port=redis_port) as client:  # the setting reached the embedded Redis
        assert int(client.config_get("maxmemory")["maxmemory"]) == 64 * 2**20
    assert run_a_job(base)["status"] == "succeeded"

    os.kill(redis_pid, signal.SIGKILL)
    new_redis_pid, mark = serve.pid_of("redis-server", after=mark)
    assert new_redis_pid != redis_pid and wait_gone(redis_pid)  # reaped: no <defunct> left
    assert f"redis-server (pid {redis_pid}) exited with signal SIGKILL" in serve.output()
    assert run_a_job(base)["status"] == "succeeded"

    os.kill(worker_pid, signal.SIGKILL)
    new_worker_pid, _ = serve.pid_of("worker", after=mark)
    assert new_worker_pid != worker_pid and wait_gone(worker_pid)
    assert run_a_job(base)["status"] == "succeeded"
    assert serve.process.poll() is None

    serve.process.send_signal(signal.SIGINT)
    assert serve.process.wait(timeout=30) == 0


def test_a_child_in_a_crash_loop_stops_everything_and_serve_exits_non_zero(serve_factory):
    taken = socket.socket()  # `maas worker` cannot bind its metrics port: it exits at start, every time
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    crash_loop = {
        "MAAS_WORKER_METRICS_PORT": str(taken.getsockname()[1]),
        "MAAS_SUPERVISOR_MAX_RESTARTS": "2",
        "MAAS_SUPERVISOR_BACKOFF_S": "0.1",
    }
    serve, base = serve_factory(crash_loop)
    api_pid, _ = serve.pid_of("api")
    assert serve.process.wait(timeout=90) == 1
    output = serve.output()
    assert "worker died 3 times within 300 s; giving up" in output
    assert len(re.findall(r"restarting worker in", output)) == 2
    assert wait_gone(api_pid, timeout_s=30)  # the rest were stopped with it
    redis_port = int(re.search(r"redis-server at redis://127.0.0.1:(\d+)", output).group(1))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", redis_port), timeout=1).close()
    taken.close()
