"""Where a worker runs its models: `cpu`, or one GPU as `cuda:N` (`cuda` alone is `cuda:0`).

Parsed once from MAAS_DEVICE / `--device`; the canonical text (`cpu`, `cuda:1`) is what workers
report in their heartbeat and what `/v1/models` shows."""

import re
from dataclasses import dataclass

_DEVICE = re.compile(r"^(?P<kind>cpu|cuda)(?::(?P<index>\d{1,3}))?$")


@dataclass(frozen=True)
class Device:
    kind: str  # "cpu" or "cuda"
    index: int = 0

    @classmethod
    def parse(cls, text: str) -> "Device":
        match = _DEVICE.match(text.strip().lower())
        if match is None:
            raise ValueError(f"device {text!r}: expected cpu, cuda or cuda:N (N a GPU index, e.g. cuda:1)")
        kind, index = match["kind"], match["index"]
        if kind == "cpu" and index is not None:
            raise ValueError(f"device {text!r}: cpu takes no index (expected cpu, cuda or cuda:N)")
        return cls(kind, int(index or 0))

    @property
    def is_gpu(self) -> bool:
        return self.kind == "cuda"

    def __str__(self) -> str:
        return "cpu" if self.kind == "cpu" else f"cuda:{self.index}"
