"""The errors maas raises on purpose. No HTTP here: api/errors.py maps them to statuses."""


class MaasError(Exception):
    """Base of every error maas raises on purpose; `code` is stable, the message is for humans."""

    code = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ModelNotFoundError(MaasError):
    code = "model_not_found"


class ModelLoadError(MaasError):
    """A model file or its config cannot be served (bad file, fixed batch dimension, ...)."""

    code = "model_load_failed"


class InvalidInputError(MaasError):
    """Inputs that do not match the signature; `loc` says where, e.g. ("inputs", "x")."""

    code = "invalid_input"

    def __init__(self, message: str, loc: tuple[str | int, ...] = ()):
        super().__init__(message)
        self.loc = loc


class UnauthorizedError(MaasError):
    """A management call without a valid admin token, where tokens are configured."""

    code = "unauthorized"


class PayloadTooLargeError(MaasError):
    code = "payload_too_large"


class JobNotFoundError(MaasError):
    code = "job_not_found"


class JobStateError(MaasError):
    """An action the job's current state does not allow (cancel after start)."""

    code = "job_state_conflict"


class ConflictError(MaasError):
    """A management action the repository's state forbids (retiring an aliased version)."""

    code = "conflict"


class InferenceError(MaasError):
    """The runtime raised while running a batch."""

    code = "inference_error"


class QueueFullError(MaasError):
    """A lane holds its maximum rows; the client should retry later (429)."""

    code = "queue_full"


class TenantQuotaError(MaasError):
    """The tenant already has its maximum rows queued across lanes; retry later (429)."""

    code = "tenant_quota_exceeded"
