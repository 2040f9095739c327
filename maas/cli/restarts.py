"""What `maas serve` does when one of its processes dies: restart it after a backoff, or give up."""

import logging
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

from maas.core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestartPolicy:
    """A child that died is restarted after backoff_s, doubled for each earlier death within
    window_s, at most backoff_max_s; one that died more than max_restarts times within window_s
    is not restarted (the caller gives up). Deaths older than the window are forgiven."""

    max_restarts: int
    window_s: float
    backoff_s: float
    backoff_max_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "RestartPolicy":
        return cls(
            settings.supervisor_max_restarts,
            settings.supervisor_restart_window_s,
            settings.supervisor_backoff_s,
            settings.supervisor_backoff_max_s,
        )

    def recent(self, deaths: list[float], now: float) -> list[float]:
        return [at for at in deaths if now - at <= self.window_s]

    def delay_s(self, deaths: list[float], now: float) -> float | None:
        """Seconds to wait before the restart, given the child's death times (the latest
        included); None: it died too often, give up."""
        recent = self.recent(deaths, now)
        if len(recent) > self.max_restarts:
            return None
        return min(self.backoff_max_s, self.backoff_s * 2 ** max(0, len(recent) - 1))


def describe_exit(code: int) -> str:
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"status {code}"


@dataclass
class Child:
    """A supervised process, (re)started by `launch` (which returns its Popen). poll() reaps
    it once it has exited, so a dead child never lingers as a zombie."""

    role: str
    launch: Callable[[], subprocess.Popen]
    process: subprocess.Popen | None = None
    deaths: list[float] = field(default_factory=list)
    restart_at: float | None = None  # set while it waits out its backoff

    def start(self) -> None:
        self.process = self.launch()
        log.info("started %s (pid %d)", self.role, self.process.pid)

    def exit_code(self) -> int | None:
        """Its exit status once it died; None while it runs or waits for its restart."""
        if self.restart_at is not None or self.process is None:
            return None
        return self.process.poll()

    def kill(self) -> None:
        """Makes sure a half-started process (hung, say) is gone before it is started again."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
