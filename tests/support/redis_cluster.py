"""A real Redis Cluster for tests: three masters, each a redis-server process with cluster mode on
a free port, joined by `redis-cli --cluster create`, plus one standalone redis-server for rq
(which does not support Cluster). Started by `with RedisCluster(dir) as c:`, every process
stopped (SIGKILL) on leaving.

By default the masters have no replicas (the tests that only need a Cluster stay quick). With
`replicas=1` each master has a replica and a short `cluster-node-timeout`, so a test can SIGKILL
the master of a slot (`kill_master_of`) and wait until the cluster itself has promoted its
replica (`wait_failed_over`): a failover inside the Cluster, within a few seconds."""

import shutil
import signal
import subprocess
from pathlib import Path

import redis
from redis.crc import key_slot

from maas.cli.redis_server import find_redis_server, free_port
from maas.core.settings import Settings
from tests.support.redis_processes import RedisProcesses

MASTERS = 3
# With replicas: a master silent this long is marked failing and its replica elected (the
# election adds ~0.5-1 s), so a failover takes a few seconds. Redis' default is 15 s.
FAILOVER_NODE_TIMEOUT_MS = 1000


def redis_cli() -> str:
    found = shutil.which("redis-cli") or str(Path(find_redis_server()).with_name("redis-cli"))
    if not Path(found).exists():
        raise RuntimeError("redis-cli not found: a Redis Cluster needs it to be created")
    return found


class RedisCluster(RedisProcesses):
    def __init__(self, root: Path, replicas: int = 0, node_timeout_ms: int | None = None):
        super().__init__(root)
        self.replicas = replicas
        if node_timeout_ms is None and replicas:
            node_timeout_ms = FAILOVER_NODE_TIMEOUT_MS
        self.node_timeout_ms = node_timeout_ms
        self.ports = [free_port() for _ in range(MASTERS * (1 + replicas))]
        self.rq_port = free_port()
        self.killed: set[int] = set()  # ports of the nodes SIGKILLed by the test

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    @property
    def rq_url(self) -> str:
        return f"redis://127.0.0.1:{self.rq_port}/0"

    @property
    def live_ports(self) -> list[int]:
        return [port for port in self.ports if port not in self.killed]

    def settings(self, **more) -> Settings:
        """Settings for maas on this cluster, rq on the standalone one."""
        return Settings(redis_url=self.url, redis_cluster=True, rq_redis_url=self.rq_url, **more)

    def start(self, timeout_s: float = 30.0) -> "RedisCluster":
        timeout = ["--cluster-node-timeout", str(self.node_timeout_ms)] if self.node_timeout_ms else []
        for i, port in enumerate(self.ports):
            # The cluster bus on a free port of its own: the default, port + 10000, may be taken
            # (or past 65535).
            bus = ["--cluster-port", str(free_port())]
            config = ["--cluster-config-file", "nodes.conf"]
            self._server(f"node-{i}", port, "--cluster-enabled", "yes", *config, *bus, *timeout)
        self._server("rq", self.rq_port)
        for port in [*self.ports, self.rq_port]:
            self.wait(lambda port=port: self._answers(port), timeout_s, f"redis-server :{port} up")
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        replicas = ["--cluster-replicas", str(self.replicas)]
        subprocess.run(
            [redis_cli(), "--cluster", "create", *nodes, *replicas, "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=timeout_s,
        )
        self.wait(self.ok, timeout_s, "every node says cluster_state:ok")
        if self.replicas:
            self.wait(self._replicas_synced, timeout_s, "every replica in sync with its master")
        return self

    def _answers(self, port: int) -> bool:
        return self.ask(port, lambda client: bool(client.ping()), False)

    def ok(self) -> bool:
        """Every live node says cluster_state:ok."""
        for port in self.live_ports:
            with self.client(port) as client:
                try:
                    if client.cluster("info").get("cluster_state") != "ok":
                        return False
                except redis.RedisError:
                    return False
        return True

    def _info(self, port: int, section: str) -> dict:
        return self.ask(port, lambda client: client.info(section), {})

    def _replicas_synced(self) -> bool:
        replicas = [p for p in self.live_ports if self._info(p, "replication").get("role") == "slave"]
        return len(replicas) == MASTERS * self.replicas and all(
            self._info(p, "replication").get("master_link_status") == "up" for p in replicas
        )

    def master_port_of(self, slot: int, asking: int | None = None) -> int | None:
        """The port of the master serving `slot`, as the node on `asking` (else the first live
        node that answers) says: CLUSTER SLOTS."""
        for port in [asking] if asking else self.live_ports:
            with self.client(port) as client:
                try:
                    ranges = client.execute_command("CLUSTER SLOTS")
                except redis.RedisError:
                    continue
            for first, last, master, *_ in ranges:
                if first <= slot <= last:
                    return int(master[1])
            return None
        return None

    def master_port_of_key(self, key: str) -> int | None:
        return self.master_port_of(key_slot(key.encode()))

    def kill_master_of(self, key: str) -> int:
        """SIGKILLs the master that serves `key`'s slot (no chance to hand anything over);
        returns its port."""
        port = self.master_port_of_key(key)
        assert port is not None, f"no master serves {key!r}"
        process = self.processes[f"node-{self.ports.index(port)}"]
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.killed.add(port)
        return port

    def failed_over(self, slot: int, old_port: int) -> bool:
        """The cluster is whole again without `old_port`: every live node says
        cluster_state:ok and names one same master for `slot`, not the old one, which answers
        as a master."""
        if not self.ok():
            return False
        named = {self.master_port_of(slot, asking=port) for port in self.live_ports}
        if len(named) != 1 or None in named or old_port in named:
            return False
        return self._info(named.pop(), "replication").get("role") == "master"

    def wait_failed_over(self, key: str, old_port: int, timeout_s: float) -> int:
        """Waits for `failed_over` of `key`'s slot; returns the new master's port."""
        slot = key_slot(key.encode())
        self.wait(lambda: self.failed_over(slot, old_port), timeout_s, f"slot {slot} failed over")
        new = self.master_port_of(slot)
        assert new is not None
        return new

    def flush(self) -> None:
        """Empties every master and the rq Redis (between tests; replicas follow)."""
        masters = [p for p in self.live_ports if self._info(p, "replication").get("role") != "slave"]
        for port in [*masters, self.rq_port]:
            with self.client(port) as client:
                client.flushall()
