"""The worker's memory: its resident size, to charge each loaded model what loading it cost; the
budget its loaded models share; and the rehearsal of a load, in a child process held to that
budget, that a version must pass before the worker loads it."""

import contextlib
import logging
import os
import resource
from dataclasses import dataclass
from pathlib import Path

from maas.core.devices import Device
from maas.core.settings import Settings
from maas.models.registry import ModelVersion
from maas.models.sandbox import CheckLimits, CheckRequest, CheckResult, Outcome, run_checks
from maas.models.signatures import READERS
from worker.batch.device_memory import DeviceMemory

log = logging.getLogger(__name__)

_PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024
DEFAULT_BUDGET_SHARE = 0.75  # of the machine's or the container's memory, when none is set
# The container's memory limit: cgroup v2, then v1 (v1 says "no limit" with a huge number).
CGROUP_LIMIT_FILES = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def rss_bytes() -> int:
    """Current resident set size (Linux); elsewhere the peak, which only ever grows."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cgroup_limit_bytes() -> int | None:
    for path in CGROUP_LIMIT_FILES:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            return int(text)
    return None  # no cgroup files, or "max"


def memory_limit_bytes() -> int:
    """The memory this process can have: the machine's, or its container's limit if lower."""
    machine = os.sysconf("SC_PHYS_PAGES") * _PAGE
    container = _cgroup_limit_bytes()
    return min(machine, container) if container else machine


def memory_budget_bytes(budget_mb: float | None) -> int:
    """The budget from MAAS_WORKER_MEMORY_BUDGET_MB: as set (0: none), or when unset
    DEFAULT_BUDGET_SHARE of memory_limit_bytes()."""
    if budget_mb is None:
        return int(memory_limit_bytes() * DEFAULT_BUDGET_SHARE)
    return int(budget_mb * MIB)


class LoadMeter:
    """What loading a version cost: the growth of the process's RSS on a CPU worker, of its
    device memory on a GPU worker."""

    def __init__(self, device: DeviceMemory | None):
        self._device = device
        self.on_gpu = device is not None

    @classmethod
    def for_device(cls, device: str) -> "LoadMeter":
        placed = Device.parse(device)
        return cls(DeviceMemory(placed.index) if placed.is_gpu else None)

    def used_bytes(self) -> int:
        return self._device.used_bytes() if self._device is not None else rss_bytes()

    def budget_bytes(self, settings: Settings) -> int:
        """The budget this meter is held to: MAAS_GPU_MEMORY_BUDGET_MB or the worker's memory."""
        if self.on_gpu:
            return int(settings.gpu_memory_budget_mb * MIB)
        return memory_budget_bytes(settings.worker_memory_budget_mb)


def version_files(model: ModelVersion) -> list[Path]:
    """A version's weights: its model file and the external data beside it (not its JSON)."""
    with contextlib.suppress(OSError):
        return sorted(p for p in model.path.parent.rglob("*") if p.is_file() and p.suffix != ".json")
    return []


def version_bytes(model: ModelVersion) -> int:
    """What a version's files weigh: its model file and the external data beside it (a graph of
    a few KB may name gigabytes of weights), the lower bound of what loading it costs."""
    with contextlib.suppress(OSError):
        return sum(p.stat().st_size for p in version_files(model))
    return 0


@dataclass(frozen=True)
class Rehearsal:
    needed_bytes: int  # resident memory the rehearsed load took at its peak; 0: unknown
    refusal: str | None = None  # why the version must not be loaded here; None: it may


class LoadRehearsals:
    """Rehearses a version's load and warm-up batch in a child process limited to the budget
    (maas.models.sandbox) before the worker loads it, so that a model that would need more, or
    crash its runtime, is refused with a reason instead of taking the worker down. A verdict is
    kept per file (path, size, mtime) and fixed batch size: version files do not change."""

    def __init__(self, budget_bytes: int, timeout_s: float, device: str):
        # A GPU worker's model lives in device memory, which a CPU rehearsal does not measure.
        self.enabled = budget_bytes > 0 and device == "cpu"
        self.limits = CheckLimits(budget_bytes, timeout_s)
        self._verdicts: dict[tuple, Rehearsal] = {}

    @staticmethod
    def _key(model: ModelVersion) -> tuple | None:
        """None for a file that cannot be rehearsed: not one of ours, or gone since the scan."""
        try:
            stat = model.path.stat()
        except OSError:
            return None
        if model.path.suffix not in READERS:
            return None
        return model.path, stat.st_size, stat.st_mtime_ns, model.config.fixed_batch_size

    async def prepare(self, models: list[ModelVersion]) -> None:
        """Rehearses the models not rehearsed yet, in one child (its start is most of the cost
        of rehearsing a small model)."""
        if not self.enabled:
            return
        keyed = {self._key(m): m for m in models}
        todo = {key: m for key, m in keyed.items() if key is not None and key not in self._verdicts}
        requests = [CheckRequest("rehearse", m.path, m.config.fixed_batch_size) for m in todo.values()]
        results = await run_checks(requests, self.limits)
        for (key, model), result in zip(todo.items(), results, strict=True):
            self._verdicts[key] = self._verdict(model, result)

    async def rehearse(self, model: ModelVersion) -> Rehearsal:
        """The verdict on loading `model`; Rehearsal(0) when none applies (no budget, a GPU, a
        file not ours to rehearse), and the worker's own load has the last word."""
        key = self._key(model)
        if not self.enabled or key is None:
            return Rehearsal(0)
        await self.prepare([model])
        return self._verdicts.get(key, Rehearsal(0))  # changed meanwhile: the next scan rehearses it

    def _verdict(self, model: ModelVersion, result: CheckResult) -> Rehearsal:
        log.info(
            "rehearsed loading %s v%s: %s, peak %.1f MiB",
            *(model.name, model.version, result.outcome.value, result.peak_bytes / MIB),
        )
        if result.outcome in (Outcome.OK, Outcome.INVALID):  # the real load reports what is invalid
            return Rehearsal(result.peak_bytes)
        budget_mb = self.limits.memory_bytes / MIB
        if result.outcome is Outcome.OUT_OF_MEMORY:
            why = f"needs more than the worker's memory budget, {budget_mb:.0f} MB"
            why += " (MAAS_WORKER_MEMORY_BUDGET_MB)"
        elif result.outcome is Outcome.TIMED_OUT:
            why = f"takes more than {self.limits.timeout_s:g} s (MAAS_WORKER_LOAD_REHEARSAL_TIMEOUT_S)"
        elif result.outcome is Outcome.CRASHED:
            why = f"crashed its runtime ({result.message}) or needs more than {budget_mb:.0f} MB"
        else:
            why = f"could not be rehearsed ({result.message})"
        return Rehearsal(0, f"refused: its load and warm-up batch, rehearsed in a child process, {why}")
