"""`maas serve` as a real child process: start, wait until ready, stop (always)."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from maas.cli.redis_server import free_port

MAAS = Path(sys.executable).parent / "maas"
# maas drains for up to 25 s on SIGTERM (settings.drain_timeout_s); a closed-loop bench leaves at
# most one batch per connection behind, so anything much longer means it hung.
STOP_TIMEOUT_S = 40.0


class ServiceError(RuntimeError):
    pass


def http_status(
    url: str,
    body: bytes | None = None,
    headers: dict | None = None,
    timeout_s: float = 2.0,
    method: str | None = None,
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Service:
    def __init__(self, repository: Path, state_dir: Path, log_file: Path, env: dict[str, str] | None = None):
        self.port = free_port()
        self.env = {**os.environ, **(env or {})}  # e.g. MAAS_DATA_KEYS for bench/sealing.py
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = log_file
        self.command = [
            str(MAAS),
            "serve",
            "--port",
            str(self.port),
            "--state-dir",
            str(state_dir),
            "--model-repository",
            str(repository),
        ]
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 180.0) -> None:
        """Starts `maas serve` and returns once GET /readyz answers 200."""
        with self.log_file.open("wb") as log:
            # Its own session: a last-resort kill can take the whole tree by process group.
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=self.env
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceError(f"maas serve exited with {self.process.returncode}\n{self.log_tail()}")
            try:
                if http_status(self.url + "/readyz", timeout_s=1.0)[0] == 200:
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.2)
        raise ServiceError(f"maas serve not ready after {timeout_s:g} s\n{self.log_tail()}")

    def submit(self, body: bytes, wait_s: float) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json", "Prefer": f"wait={wait_s:g}"}
        status, answer = http_status(self.url + "/v1/jobs", body, headers, timeout_s=wait_s + 5)
        return status, json.loads(answer)

    def stop(self) -> None:
        """SIGTERM to `maas serve`, which drains and stops its children; SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(
                f"maas serve did not stop in {STOP_TIMEOUT_S:g} s; killing its process group", file=sys.stderr
            )
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_file.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])
