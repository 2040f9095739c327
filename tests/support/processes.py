"""Real `python -m maas ROLE` processes for tests: started with the test's settings, waited for
until they serve, killed or signalled by fault tests, and always stopped at the end (their whole
process group), their log's tail printed then (pytest shows it when the test failed)."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
from rq import Worker as RqWorker

from batching import keys
from batching.connection import connect_sync, rq_settings
from maas.cli.supervisor import settings_env
from maas.core.settings import Settings
from tests.support.waiting import wait_until_blocking

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL_LINES = 80


def maas_env(settings: Settings | None) -> dict[str, str]:
    """The test's environment without the developer's MAAS_* variables, plus the settings'."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    env["PYTHONUNBUFFERED"] = "1"  # so a SIGKILLed process's log holds all it printed
    env.update(settings_env(settings) if settings else {})
    if settings is not None and "grpc_port" not in settings.model_fields_set:
        # gRPC only where a test asks for it: API processes would all bind the default 8001
        # (with SO_REUSEPORT, silently sharing it with whatever else holds it on the machine).
        env["MAAS_GRPC_PORT"] = "0"
    return env


def _holds_id_of(pid: int, ids) -> bool:
    """Worker ids (and so rq worker names and lane consumer names) are `host-PID-random`."""
    return any(f"-{pid}-" in (i.decode() if isinstance(i, bytes) else i) for i in ids)


def _api_ready(process: "MaasProcess") -> bool:
    try:
        url = f"http://127.0.0.1:{process.settings.port}/healthz"
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _worker_ready(process: "MaasProcess") -> bool:
    """It sends heartbeats once its models are loaded, that is once it serves."""
    with connect_sync(process.settings) as client:
        return _holds_id_of(process.pid, client.zrange(keys.WORKERS, 0, -1))


def _rq_worker_ready(process: "MaasProcess") -> bool:
    with connect_sync(rq_settings(process.settings)) as client:
        return _holds_id_of(process.pid, RqWorker.all_keys(connection=client))


READY_CHECKS: dict[str, Callable[["MaasProcess"], bool]] = {
    "api": _api_ready,
    "worker": _worker_ready,
    "rq-worker": _rq_worker_ready,
}


class MaasProcess:
    """`python -m maas ROLE ARGS...` logging to `log_path`. Readiness is the role's check above,
    or `ready_marker` appearing in its log. `with` / `async with` starts it, waits until it is
    ready and always stops it on leaving."""

    def __init__(
        self,
        role: str,
        log_path: Path,
        settings: Settings | None = None,
        args: tuple[str, ...] = (),
        ready_marker: str | None = None,
    ):
        self.role, self.log_path, self.settings = role, log_path, settings
        self.args, self.ready_marker = args, ready_marker
        self.process: subprocess.Popen | None = None

    def start(self) -> "MaasProcess":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "maas", self.role, *self.args],
                env=maas_env(self.settings),
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() ends its children too
            )
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        return f"----- maas {self.role} (pid {self.pid}), last lines of {self.log_path} -----\n{tail}"

    def is_ready(self) -> bool:
        if not self.alive():
            raise AssertionError(
                f"exited with {self.process.returncode} before it was ready\n{self.log_tail()}"
            )
        if self.ready_marker is not None:
            return self.ready_marker in self.log_text()
        return READY_CHECKS[self.role](self)

    def wait_ready(self, timeout_s: float = 60) -> "MaasProcess":
        def serves() -> str:  # asked at a failure, so the log is read then
            return f"maas {self.role} serves\n{self.log_tail()}"

        wait_until_blocking(self.is_ready, timeout_s, serves, interval_s=0.1)
        return self

    async def ready(self, timeout_s: float = 60) -> "MaasProcess":
        """`wait_ready` off the event loop, which in-process API and workers keep running on."""
        return await asyncio.to_thread(self.wait_ready, timeout_s)

    def send_signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL of this process alone (a fault): its children are left to notice."""
        if self.alive():
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """SIGKILL of its whole process group; then its log's tail goes to the test's output."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        print(self.log_tail())

    def __enter__(self) -> "MaasProcess":
        try:
            return self.start().wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_) -> None:
        self.stop()

    async def __aenter__(self) -> "MaasProcess":
        try:
            return await self.start().ready()
        except BaseException:
            self.stop()
            raise

    async def __aexit__(self, *_) -> None:
        self.stop()


class MaasProcesses:
    """The maas processes of one test, all with its settings and a log each in `log_dir`
    (ROLE + the count started before it, e.g. worker0.log, rq-worker1.log); all stopped on
    leaving, whatever happened."""

    def __init__(self, settings: Settings, log_dir: Path):
        self.settings, self.log_dir = settings, log_dir
        self.started: list[MaasProcess] = []

    def start(self, role: str, *args: str) -> MaasProcess:
        """Started, not waited for: a test may queue work first, or expect it to crash."""
        log_path = self.log_dir / f"{role}{len(self.started)}.log"
        self.started.append(MaasProcess(role, log_path, self.settings, args).start())
        return self.started[-1]

    async def ready(self, role: str, *args: str, timeout_s: float = 60) -> MaasProcess:
        return await self.start(role, *args).ready(timeout_s)

    def __enter__(self) -> "MaasProcesses":
        return self

    def __exit__(self, *_) -> None:
        for process in self.started:
            process.stop()


async def run_maas(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    """A `maas` command run to its end (e.g. `maas bulk submit`), in a thread so that the test's
    event loop, and any in-process worker on it, keeps running meanwhile."""
    command = [sys.executable, "-m", "maas", *args]
    return await asyncio.to_thread(
        subprocess.run,
        command,
        cwd=REPO_ROOT,
        env=maas_env(None),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
