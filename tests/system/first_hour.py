"""`maas serve` started as `make run` starts it, in a directory of the test's (a checkout's
stand-in, with its own `models/`), its output in a file; stopped as a terminal's Ctrl-C stops it."""

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from maas.cli.redis_server import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
READY = "maas is serving on"


def tree_digest(root: Path) -> str:
    """One hash of every file's relative path and bytes under `root`, hidden ones included."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def maas_command_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without the developer's MAAS_*; this repository importable from any cwd."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    env |= {"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    return env | (extra or {})


class ServeInDirectory:
    def __init__(self, cwd: Path, args: tuple[str, ...] = (), env: dict[str, str] | None = None):
        self.cwd, self.port = cwd, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / "serve.log"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "maas", "serve", "--port", str(self.port), *args],
                env=maas_command_env(env),
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own, as a terminal's job is
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while READY not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"maas serve did not get ready:\n{self.output()[-6000:]}")
            time.sleep(0.1)

    def ctrl_c(self, timeout_s: float) -> int:
        """SIGINT to the whole process group, as a terminal's Ctrl-C sends it; the exit code."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout_s)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> "ServeInDirectory":
        self.wait_ready()
        return self

    def __exit__(self, *_) -> None:
        self.kill()


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "maas", *args],
        env=maas_command_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
