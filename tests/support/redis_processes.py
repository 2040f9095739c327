"""What the test deployments of Redis (tests/support/sentinel.py, redis_cluster.py) share: their
redis-server processes on free ports, each in a folder of its own under `root` with its log, a
client per port, waiting with a deadline, and SIGKILL of every process on leaving."""

import subprocess
from pathlib import Path
from typing import Self

import redis

from maas.cli.redis_server import find_redis_server
from maas.core.child_process import die_with_parent
from tests.support.waiting import wait_until_blocking


class RedisProcesses:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, timeout_s: float = 30.0) -> Self:
        raise NotImplementedError

    def _spawn(self, name: str, command: list[str]) -> None:
        workdir = self.root / name
        workdir.mkdir(parents=True, exist_ok=True)
        self.processes[name] = subprocess.Popen(
            command, cwd=workdir, stdout=subprocess.DEVNULL, preexec_fn=die_with_parent
        )

    def _server(self, name: str, port: int, *more: str) -> None:
        command = [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        self._spawn(name, [*command, "--appendonly", "no", "--logfile", "redis.log", *more])

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=2)

    def ask(self, port: int, question, refused=None):
        """`question(client)` of the node at `port`, or `refused` when it cannot answer (down,
        starting, failing over)."""
        with self.client(port) as client:
            try:
                return question(client)
            except redis.RedisError:
                return refused

    def wait(self, condition, timeout_s: float, what: str) -> None:
        wait_until_blocking(condition, timeout_s, f"{what} (logs under {self.root})", interval_s=0.1)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
