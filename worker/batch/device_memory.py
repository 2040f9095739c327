"""Device memory this process holds on one GPU, read from NVML (`nvidia-ml-py`, in the `gpu`
extra): what a GPU worker charges each loaded version, since its weights and arena live there and
the process's RSS does not show them."""

import logging
import os

try:  # only GPU images install NVML's bindings; a CPU worker never reads device memory
    import pynvml
except ImportError:  # pragma: no cover - exercised on CPU machines by the absence itself
    pynvml = None

log = logging.getLogger(__name__)


class DeviceMemory:
    def __init__(self, index: int):
        self.index = index
        self._handle = None
        if pynvml is None:
            log.warning("nvidia-ml-py is not installed: GPU memory is not counted per version")
            return
        try:
            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        except pynvml.NVMLError as e:
            log.warning("NVML cannot read GPU %d (%s): GPU memory is not counted per version", index, e)

    def used_bytes(self) -> int:
        """This process's memory on the device; 0 when NVML cannot say."""
        if self._handle is None:
            return 0
        try:
            processes = pynvml.nvmlDeviceGetComputeRunningProcesses(self._handle)
        except pynvml.NVMLError:
            return 0
        pid = os.getpid()
        return sum(p.usedGpuMemory or 0 for p in processes if p.pid == pid)
