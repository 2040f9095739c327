"""What one export gives back; apart from export.pipeline so that the command line can name it
without importing TensorFlow."""

from dataclasses import dataclass
from pathlib import Path


@dataclass
class ExportResult:
    report: dict
    output: Path | None  # where the artifact was copied, if anywhere
    version: int | None  # the version registered, if any
