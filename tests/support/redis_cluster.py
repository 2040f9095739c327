"""A real Redis Cluster for tests: three masters (no replicas), each a redis-server process with
cluster mode on a free port, joined by `redis-cli --cluster create`, plus one standalone
redis-server for rq (which does not support Cluster). Started by `with RedisCluster(dir) as c:`,
every process stopped (SIGKILL) on leaving."""

import shutil
import subprocess
from pathlib import Path

import redis

from maas.cli.redis_server import find_redis_server, free_port
from maas.core.settings import Settings
from tests.support.redis_processes import RedisProcesses

MASTERS = 3


def redis_cli() -> str:
    found = shutil.which("redis-cli") or str(Path(find_redis_server()).with_name("redis-cli"))
    if not Path(found).exists():
        raise RuntimeError("redis-cli not found: a Redis Cluster needs it to be created")
    return found


class RedisCluster(RedisProcesses):
    def __init__(self, root: Path):
        super().__init__(root)
        self.ports = [free_port() for _ in range(MASTERS)]
        self.rq_port = free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    @property
    def rq_url(self) -> str:
        return f"redis://127.0.0.1:{self.rq_port}/0"

    def settings(self, **more) -> Settings:
        """Settings for maas on this cluster, rq on the standalone one."""
        return Settings(redis_url=self.url, redis_cluster=True, rq_redis_url=self.rq_url, **more)

    def start(self, timeout_s: float = 30.0) -> "RedisCluster":
        for i, port in enumerate(self.ports):
            # The cluster bus on a free port of its own: the default, port + 10000, may be taken
            # (or past 65535).
            bus = ["--cluster-port", str(free_port())]
            self._server(
                f"node-{i}", port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", *bus
            )
        self._server("rq", self.rq_port)
        for port in [*self.ports, self.rq_port]:
            self.wait(lambda port=port: self._answers(port), timeout_s, f"redis-server :{port} up")
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            [redis_cli(), "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=timeout_s,
        )
        self.wait(self.ok, timeout_s, "every node says cluster_state:ok")
        return self

    def _answers(self, port: int) -> bool:
        with self.client(port) as client:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

    def ok(self) -> bool:
        for port in self.ports:
            with self.client(port) as client:
                try:
                    if client.cluster("info").get("cluster_state") != "ok":
                        return False
                except redis.RedisError:
                    return False
        return True

    def flush(self) -> None:
        """Empties every master and the rq Redis (between tests)."""
        for port in [*self.ports, self.rq_port]:
            with self.client(port) as client:
                client.flushall()
