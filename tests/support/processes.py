"""Real `maas worker` processes for fault tests: started, killed and restarted by the test."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import redis.asyncio as aioredis

from batching import keys
from maas.cli.supervisor import settings_env
from maas.core.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """`maas worker` (or another role, e.g. `rq-worker`) as a real process."""

    def __init__(self, settings: Settings, log_path: Path, role: str = "worker"):
        self.settings = settings
        self.log_path = log_path
        self.role = role
        self.process: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
        env.update(settings_env(self.settings))
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "maas", self.role],
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait()


async def wait_for_workers(redis: aioredis.Redis, count: int, timeout_s: float = 30) -> None:
    """Waits until `count` worker processes have sent a heartbeat (they are serving)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while await redis.zcard(keys.WORKERS) < count:
        if loop.time() > deadline:
            raise TimeoutError(f"fewer than {count} workers started")
        await asyncio.sleep(0.05)
