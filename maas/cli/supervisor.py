"""`maas serve`: Redis (unless given), the API and a worker as one process tree for a laptop."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from maas.cli.redis_server import RedisServer
from maas.core.child_process import die_with_parent
from maas.core.settings import Settings

log = logging.getLogger(__name__)
DEMO_DIGIT = [
    0,
    0,
    5,
    13,
    9,
    1,
    0,
    0,
    0,
    0,
    13,
    15,
    10,
    15,
    5,
    0,
    0,
    3,
    15,
    2,
    0,
    11,
    8,
    0,
    0,
    4,
    12,
    0,
    0,
    8,
    8,
    0,
    0,
    5,
    8,
    0,
    0,
    9,
    8,
    0,
    0,
    4,
    11,
    0,
    1,
    12,
    7,
    0,
    0,
    2,
    14,
    5,
    10,
    12,
    0,
    0,
    0,
    0,
    6,
    13,
    10,
    0,
    0,
    0,
]  # a "0" from the digits set


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as MAAS_* variables, so every child process builds the same Settings."""
    env = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is not None:
            env[f"MAAS_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def demo_curl(settings: Settings) -> str:
    body = json.dumps({"model": "digits", "inputs": [DEMO_DIGIT]}, separators=(",", ":"))
    return (
        f"curl -s -X POST http://{settings.host}:{settings.port}/v1/jobs "
        f"-H 'Content-Type: application/json' -H 'Prefer: wait=5' -d '{body}'"
    )


class Supervisor:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.redis: RedisServer | None = None
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = False

    def start(self) -> None:
        settings = self.settings
        if not settings.redis_url:
            self.redis = RedisServer(settings.state_dir / "redis", appendfsync=settings.redis_appendfsync)
            settings = settings.model_copy(update={"redis_url": self.redis.start()})
            log.info("started redis-server at %s (data in %s)", settings.redis_url, self.redis.data_dir)
        env = {**os.environ, **settings_env(settings)}
        for role in ("api", "worker", "rq-worker"):
            self.children[role] = subprocess.Popen(
                [sys.executable, "-m", "maas", role], env=env, preexec_fn=die_with_parent
            )

    def wait_ready(self, timeout_s: float = 60.0) -> bool:
        url = f"http://{self.settings.host}:{self.settings.port}/readyz"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.stopping and self.alive():
            try:
                with urllib.request.urlopen(url, timeout=1.0) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass  # not listening yet, or 503 until a worker's first heartbeat
            time.sleep(0.2)
        return False

    def alive(self) -> bool:
        return all(child.poll() is None for child in self.children.values())

    def stop(self) -> None:
        self.stopping = True
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.drain_timeout_s + 5
        for role, child in self.children.items():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", role)
                child.kill()
                child.wait()
        if self.redis:
            self.redis.stop()


def serve(settings: Settings) -> int:
    """Runs until Ctrl-C / SIGTERM, or until a child dies (then stops the rest, exit 1)."""
    supervisor = Supervisor(settings)

    def on_signal(*_):
        supervisor.stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    supervisor.start()
    try:
        if supervisor.wait_ready():
            print(f"maas is serving on http://{settings.host}:{settings.port} (API docs: /docs)")
            print("try:\n  " + demo_curl(settings), flush=True)
        while not supervisor.stopping and supervisor.alive():
            time.sleep(0.2)
        failed = not supervisor.stopping
        if failed:
            log.error("a maas process exited unexpectedly; stopping the rest")
    finally:
        supervisor.stop()
    return 1 if failed else 0
