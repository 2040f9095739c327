"""A real Redis Sentinel deployment for tests: a primary, its replicas and three sentinels, each a
redis-server process on a free port, with a small down-after so a failover takes seconds.
Started by `with SentinelGroup(dir) as group:`, every process stopped (SIGKILL) on leaving."""

import shutil
from pathlib import Path

import redis

from maas.cli.redis_server import find_redis_server, free_port
from maas.core.settings import Settings
from tests.support.redis_processes import RedisProcesses

MASTER = "maas-primary"
DOWN_AFTER_MS = 1000  # small: the failover starts ~1 s after the primary stops answering
FAILOVER_TIMEOUT_MS = 10000
QUORUM = 2


def _sentinel_command(conf: Path) -> list[str]:
    """redis-sentinel where installed, else the same binary in sentinel mode. The file comes
    first: Valkey reads `redis-server --sentinel FILE` as a sentinel statement, Redis does not."""
    found = shutil.which("redis-sentinel")
    return [found, str(conf)] if found else [find_redis_server(), str(conf), "--sentinel"]


class SentinelGroup(RedisProcesses):
    def __init__(self, root: Path, replicas: int = 1):
        super().__init__(root)
        self.primary_port = free_port()
        self.replica_ports = [free_port() for _ in range(replicas)]
        self.sentinel_ports = [free_port() for _ in range(3)]

    def settings(self, **more) -> Settings:
        """Settings that reach the primary only through the sentinels."""
        sentinels = [f"127.0.0.1:{port}" for port in self.sentinel_ports]
        return Settings(
            redis_url=f"redis://{MASTER}/0", redis_sentinels=sentinels, redis_sentinel_master=MASTER, **more
        )

    def _sentinel(self, index: int, port: int) -> None:
        conf = self.root / f"sentinel-{index}.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\nlogfile sentinel.log\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {self.primary_port} {QUORUM}\n"
            f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {MASTER} 1\n"
        )
        self._spawn(f"sentinel-{index}", _sentinel_command(conf))

    def start(self, timeout_s: float = 30.0) -> "SentinelGroup":
        self._server("primary", self.primary_port)
        for i, port in enumerate(self.replica_ports):
            self._server(f"replica-{i}", port, "--replicaof", "127.0.0.1", str(self.primary_port))
        for port in self.replica_ports:
            self.wait(lambda port=port: self.replica_link_up(port), timeout_s, f"replica :{port} synced")
        for i, port in enumerate(self.sentinel_ports):
            self._sentinel(i, port)
        self.wait(self._sentinels_see_everyone, timeout_s, "every sentinel sees the replicas and 2 peers")
        return self

    def replica_link_up(self, port: int) -> bool:
        return self.ask(
            port, lambda client: client.info("replication").get("master_link_status") == "up", False
        )

    def _sentinels_see_everyone(self) -> bool:
        for port in self.sentinel_ports:
            with self.client(port) as sentinel:
                try:
                    master = sentinel.sentinel_master(MASTER)
                except redis.RedisError:
                    return False
                if master["num-slaves"] < len(self.replica_ports) or master["num-other-sentinels"] < 2:
                    return False
        return True

    def master_port(self) -> int | None:
        """The master's port as the first sentinel that answers names it."""
        named = self.master_ports()
        return named[0] if named else None

    def master_ports(self) -> list[int]:
        """The master's port as each sentinel that answers names it."""
        named = []
        for port in self.sentinel_ports:
            with self.client(port) as sentinel:
                try:
                    named.append(int(sentinel.sentinel_get_master_addr_by_name(MASTER)[1]))
                except (redis.RedisError, TypeError):
                    continue
        return named

    def settled_on_new_master(self, old_port: int) -> bool:
        """Every sentinel names one master other than `old_port`, and it answers as master."""
        named = set(self.master_ports())
        if len(named) != 1 or old_port in named:
            return False
        with self.client(named.pop()) as client:
            try:
                return client.info("replication")["role"] == "master"
            except redis.RedisError:
                return False

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.kill()  # SIGKILL: no chance to hand anything over
        process.wait()
