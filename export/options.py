"""What one export asks for, checked before any model is loaded or anything written."""

from dataclasses import dataclass
from pathlib import Path

from export.errors import ExportError
from export.parity import DEFAULT_TOLERANCE

FORMATS = {"onnx": ".onnx", "tflite": ".tflite"}
QUANTIZE_MODES = {"onnx": ("dynamic", "static"), "tflite": ("float16", "dynamic", "int8")}
NEEDS_CALIBRATION = {"static", "int8"}


@dataclass
class ExportOptions:
    model: Path
    to: str = "onnx"
    quantize: str | None = None
    calibration: Path | None = None
    prune: float | None = None
    distill: str | None = None
    train: Path | None = None
    temperature: float = 4.0
    epochs: int = 10
    validate: Path | None = None
    tolerance: float | None = None
    register: str | None = None
    model_repository: Path = Path("models")
    output: Path | None = None
    report: Path | None = None

    @property
    def max_abs_diff(self) -> float:
        return self.tolerance if self.tolerance is not None else DEFAULT_TOLERANCE[self.quantize]

    def check(self) -> None:
        if self.to not in FORMATS:
            raise ExportError(f"--to {self.to!r}: choose one of {sorted(FORMATS)}")
        modes = QUANTIZE_MODES[self.to]
        if self.quantize is not None and self.quantize not in modes:
            raise ExportError(
                f"--quantize {self.quantize!r} is unknown for {self.to}; choose one of {list(modes)}"
            )
        if self.quantize in NEEDS_CALIBRATION and self.calibration is None:
            raise ExportError(
                f"--quantize {self.quantize} needs calibration rows: give --calibration FILE (.npy/.npz)"
            )
        self._check_training()
        if self.tolerance is not None and self.tolerance < 0:
            raise ExportError(f"--tolerance {self.tolerance}: must be >= 0")

    def _check_training(self) -> None:
        if self.prune is not None and self.distill is not None:
            raise ExportError("--prune and --distill: choose one per export")
        if self.prune is not None and not 0 < self.prune < 1:
            raise ExportError(f"--prune {self.prune}: a sparsity between 0 and 1, e.g. 0.5")
        if (self.prune is not None or self.distill is not None) and self.train is None:
            raise ExportError("--prune and --distill need labelled training rows: give --train FILE.npz")
