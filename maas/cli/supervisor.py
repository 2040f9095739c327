"""`maas serve`: Redis (unless given), the API, a batch worker and an rq worker as one process
tree for a laptop or a small host.

Each child that dies (Redis too) is reaped, logged with its exit status, and restarted after a
backoff (maas.cli.restarts.RestartPolicy); one that dies too often, or refuses its configuration
(exit 78), stops the rest and `maas serve` exits 1, for a process manager to act on."""

import functools
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import redis
from pydantic import SecretStr

from maas.cli.redis_server import RedisServer
from maas.cli.restarts import Child, RestartPolicy, describe_exit
from maas.core.child_process import die_with_parent
from maas.core.sealing import new_ring_entry
from maas.core.settings import Settings

log = logging.getLogger(__name__)
ROLES = ("api", "worker", "rq-worker")
DATA_KEYS_FILE = "data_keys"
EX_CONFIG = 78  # sysexits.h: a configuration error, which restarting the same process cannot fix
TICK_S = 0.2
DEMO_DIGIT = [  # a "0" from the digits set
    int(v)
    for v in "0 0 5 13 9 1 0 0 0 0 13 15 10 15 5 0 0 3 15 2 0 11 8 0 0 4 12 0 0 8 8 0 "
    "0 5 8 0 0 9 8 0 0 4 11 0 1 12 7 0 0 2 14 5 10 12 0 0 0 0 6 13 10 0 0 0".split()
]


def _env_value(value) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str | Path):
        return str(value)
    return json.dumps(value, default=lambda v: v.get_secret_value() if isinstance(v, SecretStr) else str(v))


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as MAAS_* variables, so every child process builds the same Settings
    (secrets included: the environment is the children's, not a log)."""
    return {
        f"MAAS_{name.upper()}": _env_value(value)
        for name, value in settings.model_dump().items()
        if value is not None
    }


def local_data_keys(state_dir: Path) -> str:
    """The key ring `maas serve` seals data with when MAAS_DATA_KEYS is unset: one key made
    once and kept (mode 0600) in the state directory, so restarts read what was sealed before."""
    path = Path(state_dir) / DATA_KEYS_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = path.with_name(f".{DATA_KEYS_FILE}.{os.getpid()}")
        descriptor = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(new_ring_entry("serve") + "\n")
        try:
            os.link(fresh, path)  # the first process to create it wins; the rest read its keys
        except FileExistsError:
            pass
        finally:
            fresh.unlink()
    return path.read_text().strip()


def base_url(settings: Settings) -> str:
    return f"{'https' if settings.tls_cert else 'http'}://{settings.host}:{settings.port}"


def demo_curl(settings: Settings) -> str:
    body = json.dumps({"model": "digits", "inputs": [DEMO_DIGIT]}, separators=(",", ":"))
    return (
        f"curl -s -X POST {base_url(settings)}/v1/jobs "
        f"-H 'Content-Type: application/json' -H 'Prefer: wait=5' -d '{body}'"
    )


class Supervisor:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.policy = RestartPolicy.from_settings(settings)
        self.redis: RedisServer | None = None
        if not settings.redis_url:
            self.redis = RedisServer(
                settings.state_dir / "redis",
                appendfsync=settings.redis_appendfsync,
                maxmemory_mb=settings.embedded_redis_maxmemory_mb,
            )
        self.children: list[Child] = []
        self.stopping = False

    def start(self) -> None:
        """Starts Redis (and waits for it), then the rest; raises if Redis cannot start."""
        settings = self.settings
        if self.redis:
            settings = settings.model_copy(update={"redis_url": self.redis.url})
            self._add(Child("redis-server", self._start_redis))
            log.info("started redis-server at %s (data in %s)", self.redis.url, self.redis.data_dir)
        if not settings.data_keys:  # a laptop install is encrypted at rest without configuration
            settings = settings.model_copy(update={"data_keys": local_data_keys(settings.state_dir)})
        env = {**os.environ, **settings_env(settings)}
        for role in ROLES:
            command = [sys.executable, "-m", "maas", role]
            self._add(Child(role, functools.partial(_popen, command, env)))

    def _add(self, child: Child) -> None:
        child.start()
        self.children.append(child)

    def _start_redis(self) -> subprocess.Popen:
        assert self.redis is not None  # only added as a child when maas serve embeds Redis
        self.redis.start()
        assert self.redis.process is not None
        return self.redis.process

    def watch(self, now: float) -> bool:
        """One look at every child: a dead one is reaped and its restart scheduled, a due
        restart is made. False: give up (a child died too often or refused its settings)."""
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at and not self._restart(child, now):
                    return False
                continue
            code = child.exit_code()
            if code is not None and not self._died(child, now, f"exited with {describe_exit(code)}"):
                return False
        return True

    def _restart(self, child: Child, now: float) -> bool:
        child.restart_at = None
        try:
            child.start()
        except (OSError, RuntimeError, redis.RedisError) as e:
            child.kill()
            return self._died(child, now, f"could not be restarted: {e}")
        return True

    def _died(self, child: Child, now: float, why: str) -> bool:
        process = child.process
        assert process is not None  # a child is only watched once started
        log.warning("%s (pid %d) %s", child.role, process.pid, why)
        if process.returncode == EX_CONFIG:
            log.error("%s refused its configuration (exit %d); not restarting it", child.role, EX_CONFIG)
            return False
        child.deaths = self.policy.recent([*child.deaths, now], now)
        delay = self.policy.delay_s(child.deaths, now)
        if delay is None:
            window = self.policy.window_s
            log.error("%s died %d times within %.0f s; giving up", child.role, len(child.deaths), window)
            return False
        log.warning("restarting %s in %.1f s", child.role, delay)
        child.restart_at = now + delay
        return True

    def ready(self) -> bool:
        settings = self.settings
        if settings.tls_client_ca:  # this probe has no client certificate: listening must do
            try:
                socket.create_connection((settings.host, settings.port), timeout=1.0).close()
                return True
            except OSError:
                return False
        context = None
        if settings.tls_cert:  # its own child, on its own address: no name to verify against
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(f"{base_url(settings)}/readyz", timeout=1.0, context=context) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False  # not listening yet, or 503 until a worker's first heartbeat

    def stop(self) -> None:
        self.stopping = True
        running = [
            (c, c.process)
            for c in self.children
            if c.role in ROLES and c.process and c.process.poll() is None
        ]
        for _, process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.drain_timeout_s + 5
        for child, process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", child.role)
                child.kill()
        if self.redis:
            self.redis.stop()


def _popen(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    # A process group of its own: a terminal's Ctrl-C reaches `maas serve` alone, which stops
    # the children in order (API and workers drain while Redis still runs, then Redis) with one
    # SIGTERM each, rather than every process at once (Redis first gone, a worker's second
    # signal cutting its drain short).
    return subprocess.Popen(command, env=env, preexec_fn=die_with_parent, process_group=0)


def serve(settings: Settings) -> int:
    """Runs until Ctrl-C / SIGTERM (exit 0), or until it gives up on a child (exit 1)."""
    supervisor = Supervisor(settings)

    def on_signal(*_):
        supervisor.stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    failed, announced = False, False
    try:
        supervisor.start()
        while not supervisor.stopping:
            if not supervisor.watch(time.monotonic()):
                failed = True
                break
            if not announced and supervisor.ready():
                print(f"maas is serving on {base_url(settings)} (API docs: /docs)")
                print("try:\n  " + demo_curl(settings))
                print(
                    "webhooks locally: `maas webhooks listen` prints the settings to start with", flush=True
                )
                announced = True
            time.sleep(TICK_S)
    except (OSError, RuntimeError, redis.RedisError) as e:
        log.error("could not start: %s", e)
        failed = True
    finally:
        supervisor.stop()
    if failed:
        log.error("maas serve is giving up; its processes are stopped")
    return 1 if failed else 0
