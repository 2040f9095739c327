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


class InputTooLargeError(InvalidInputError):
    """A bulk job's input past MAAS_BULK_MAX_ROWS or MAAS_BULK_MAX_INPUT_BYTES (decompressed)."""

    code = "input_too_large"


class UnauthorizedError(MaasError):
    """No valid key (missing, unknown, revoked, expired), or a management call without a valid
    admin token where tokens guard it (401). The message never repeats what was presented."""

    code = "unauthorized"


class PayloadTooLargeError(MaasError):
    code = "payload_too_large"


class FileStoreError(MaasError):
    """A bulk file missing from its store, or a path that would leave it."""

    code = "file_store_error"


class JobNotFoundError(MaasError):
    code = "job_not_found"


class JobStateError(MaasError):
    """An action the job's current state does not allow (cancel after start)."""

    code = "job_state_conflict"


class GoneError(MaasError):
    """What a job held was deleted on request (DELETE of a bulk job, a job's purge); its record
    remains as a tombstone (410)."""

    code = "gone"


class ConflictError(MaasError):
    """A management action the repository's state forbids (retiring an aliased version)."""

    code = "conflict"


class ReadOnlyRepositoryError(MaasError):
    """A write to a model repository this process only reads (an object store)."""

    code = "repository_read_only"


class InferenceError(MaasError):
    """The runtime raised while running a batch."""

    code = "inference_error"


class NonFiniteOutputError(MaasError):
    """A model output holds NaN or an infinity, which JSON cannot carry, and the model's config
    does not say `allow_non_finite: true`."""

    code = "non_finite_output"


class QueueFullError(MaasError):
    """A lane holds its maximum rows; the client should retry later (429)."""

    code = "queue_full"


class NotReplicatedError(MaasError):
    """A submit was written on the Redis primary but fewer replicas than MAAS_REDIS_WAIT_REPLICAS
    confirmed it in time, so a failover could lose it; no 202 is given (503)."""

    code = "not_replicated"


class ForbiddenError(MaasError):
    """A request refused whoever sends it (403): a key without the scope a call needs, a foreign
    browser origin, or management without tokens on an exposed address."""

    code = "forbidden"


class UnsupportedMediaTypeError(MaasError):
    """A body whose Content-Type the endpoint does not take (a JSON endpoint sent text/plain)."""

    code = "unsupported_media_type"


class RateLimitedError(MaasError):
    """A key past its request rate, or the same call again too soon (429); retry_after_s says
    when a request will pass."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QuotaExceededError(MaasError):
    """A tenant at one of its limits (concurrent bulk jobs, ...); retry once some finish (429)."""

    code = "quota_exceeded"


class KeyNotFoundError(MaasError):
    code = "key_not_found"


class TenantQuotaError(MaasError):
    """The tenant already has its maximum rows queued across lanes; retry later (429)."""

    code = "tenant_quota_exceeded"


class InferTimeoutError(MaasError):
    """An inference request (`/v2` infer, gRPC ModelInfer) whose job did not end within its
    timeout; a job still queued then is cancelled, one already running is left to finish."""

    code = "infer_timeout"


class JobFailedError(MaasError):
    """An inference request whose job failed on its own inputs (the batch was bisected down to
    it): the model raised, or gave non-finite outputs; `job_code` is the job's error code."""

    code = "job_failed"

    def __init__(self, message: str, job_code: str):
        super().__init__(message)
        self.job_code = job_code


class JobLostError(JobFailedError):
    """An inference request whose job was dead-lettered (every worker that took it died or
    stalled): not the input's fault, retry later."""

    code = "job_lost"
