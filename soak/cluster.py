"""The soak's own maas: a redis-server, one `maas api` and two `maas worker` processes, all real."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from batching import keys
from batching.connection import connect_sync
from maas.cli.redis_server import RedisServer, free_port
from maas.cli.supervisor import settings_env
from maas.core.child_process import die_with_parent
from maas.core.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2
STOP_TIMEOUT_S = 30.0


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the most resident memory the process ever had; readable until it is reaped."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Cluster:
    def __init__(self, state_dir: Path, model_repository: Path, visibility_timeout_s: float):
        self.state_dir = state_dir
        self.redis_server = RedisServer(state_dir / "redis", appendfsync="everysec")
        self.settings = Settings(
            state_dir=state_dir,
            model_repository=model_repository,
            port=free_port(),
            visibility_timeout_s=visibility_timeout_s,
            heartbeat_interval_s=0.5,
            drain_timeout_s=10.0,
        )
        self.api: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.started_workers = 0
        self.kills = 0
        self.unexpected_exits: list[str] = []
        self.peak_rss_mb: dict[str, float | None] = {}

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def _spawn(self, role: str, log_name: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
        env.update(settings_env(self.settings))
        with (self.state_dir / log_name).open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "maas", role],
                env=env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )

    def _start_worker(self) -> subprocess.Popen:
        self.started_workers += 1
        return self._spawn("worker", f"worker{self.started_workers}.log")

    def start(self, timeout_s: float = 60.0) -> None:
        """Returns once the API answers /readyz and both workers have sent a heartbeat."""
        url = self.redis_server.start()
        self.settings = self.settings.model_copy(update={"redis_url": url})
        self.api = self._spawn("api", "api.log")
        self.workers = [self._start_worker() for _ in range(WORKERS)]
        deadline = time.monotonic() + timeout_s
        with connect_sync(self.settings) as client:
            while not (self._ready() and client.zcard(keys.WORKERS) >= WORKERS):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"maas not ready after {timeout_s:g} s; logs in {self.state_dir}")
                if any(p.poll() is not None for p in [self.api, *self.workers]):
                    raise RuntimeError(f"a maas process exited at start; logs in {self.state_dir}")
                time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=1.0) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False  # not listening yet, or 503 until a worker's first heartbeat

    def kill_and_replace(self) -> str:
        """SIGKILLs the workers in turn and starts the replacement at once, as a supervisor would.

        Call it from the main thread: children get SIGTERM when the *thread* that started them
        ends (PR_SET_PDEATHSIG), so a worker started from a pool thread is told to drain when
        that thread exits, and the soak's own SIGTERM then reads as a second, stop-now signal."""
        slot = self.kills % WORKERS
        victim = self.workers[slot]
        rss_mb = self.peak_rss_mb[f"worker pid {victim.pid} (killed)"] = peak_rss_mb(victim.pid)
        victim.kill()
        victim.wait()
        self.kills += 1
        self.workers[slot] = self._start_worker()
        return (
            f"SIGKILLed worker pid {victim.pid} (peak RSS {rss_mb or 0:.0f} MB), "
            f"started pid {self.workers[slot].pid}"
        )

    def restart_dead_workers(self) -> list[str]:
        """Only the soak may kill a worker: one that exited by itself is recorded and replaced."""
        restarted = []
        for slot, worker in enumerate(self.workers):
            if worker.poll() is not None:
                exit_ = f"worker pid {worker.pid} exited {worker.returncode}"
                self.unexpected_exits.append(exit_)
                self.workers[slot] = self._start_worker()
                restarted.append(f"{exit_} by itself; started pid {self.workers[slot].pid}")
        return restarted

    def record_survivors_rss(self) -> None:
        for worker in self.workers:
            self.peak_rss_mb[f"worker pid {worker.pid}"] = peak_rss_mb(worker.pid)
        if self.api is not None:
            self.peak_rss_mb[f"api pid {self.api.pid}"] = peak_rss_mb(self.api.pid)
        if self.redis_server.process is not None:
            self.peak_rss_mb[f"redis pid {self.redis_server.process.pid}"] = peak_rss_mb(
                self.redis_server.process.pid
            )

    def stop(self) -> list[str]:
        """SIGTERM to the API and workers (they drain), then Redis; returns what had to be killed."""
        children = [p for p in [self.api, *self.workers] if p is not None]
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        killed = []
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                killed.append(f"pid {child.pid} did not stop in {STOP_TIMEOUT_S:g} s; killed")
                child.kill()
                child.wait()
        self.redis_server.stop()
        return killed

    def unclean_exits(self) -> list[str]:
        """Processes that did not exit cleanly on SIGTERM; uvicorn re-raises the signal once it
        has shut down, so the API's clean exit reads -SIGTERM."""
        found = [f"worker pid {w.pid} exited {w.returncode}" for w in self.workers if w.returncode != 0]
        if self.api is not None and self.api.returncode not in (0, -signal.SIGTERM):
            found.append(f"api pid {self.api.pid} exited {self.api.returncode}")
        return found
