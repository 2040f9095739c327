"""Errors of the export toolchain; each carries the exit code the CLI ends with."""

from maas.core.errors import MaasError


class ExportError(MaasError):
    """Bad input to an export: not a model, an option that does not apply, missing data."""

    code = "export_failed"
    exit_code = 2


class ParityError(ExportError):
    """The exported artifact answers differently from the model it came from, beyond tolerance."""

    code = "parity_failed"
    exit_code = 3
