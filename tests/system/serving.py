"""`maas serve` as a real process tree for system tests, its output (its own and its children's
logs) in a file the test reads: which pids it started, what it restarted, when it was ready."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
READY = "maas is serving on"


class ServeProcess:
    def __init__(self, log_path: Path, args: list[str], env: dict[str, str] | None = None):
        self.log_path = log_path
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "maas", "serve", *args],
                env={**clean, **(env or {})},
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so teardown can stop all of it
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout_s: float = 60, after: int = 0) -> re.Match:
        """The first match of `pattern` in the output past character `after`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = re.compile(pattern).search(self.output(), after)
            if found:
                return found
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in the output of maas serve:\n{self.output()[-6000:]}")

    def pid_of(self, role: str, after: int = 0) -> tuple[int, int]:
        """(pid, end of the log line) of the next start of `role` past `after`."""
        found = self.wait_for(rf"started {re.escape(role)} \(pid (\d+)\)", after=after)
        return int(found.group(1)), found.end()

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def gone(pid: int) -> bool:
    """True once the process is not even a zombie: it died and its parent reaped it."""
    return not Path(f"/proc/{pid}").exists()


def wait_gone(pid: int, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.05)
    return False
