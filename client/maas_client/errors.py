"""What a maas call can raise: one class per kind of refusal, all under `MaasError`.

The server answers errors as `{"error": {"code", "message", "loc"?}}`; `error_from_response`
turns such an answer into the class its status stands for, keeping the stable `code` (e.g.
`model_not_found` and `job_not_found` are both `NotFound`)."""

import email.utils
import time

import httpx


class MaasError(Exception):
    """Base of every error this client raises. `status` is the HTTP status (None when no answer
    came back), `code` the server's stable code, `message` its human message."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "error"):
        super().__init__(message)
        self.message, self.status, self.code = message, status, code

    def __str__(self) -> str:
        prefix = f"{self.status} " if self.status else ""
        return f"{prefix}{self.code}: {self.message}"


class Unauthorized(MaasError):
    """401: a management call without a valid `api_key` where the server requires one."""


class Forbidden(MaasError):
    """403: the key is valid but may not do this."""


class NotFound(MaasError):
    """404: unknown or retired model or version, unknown job or bulk job."""


class Conflict(MaasError):
    """409: the target's state forbids it (cancelling a started job, retiring an aliased version)."""


class PayloadTooLarge(MaasError):
    """413: a body or upload over the server's limit."""


class InvalidInput(MaasError):
    """422: the request does not fit (inputs against the signature, a bad upload...); `loc` says
    where, e.g. `["inputs", "pixels"]`."""

    def __init__(self, message: str, *, status: int | None = 422, code: str = "invalid_input", loc=None):
        super().__init__(message, status=status, code=code)
        self.loc: list[str | int] = list(loc or [])


class RetryableError(MaasError):
    """Refused for now; `retry_after` is the server's `Retry-After`, seconds (None if absent).
    The client retries these itself within its retry settings before raising them."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "error", retry_after=None):
        super().__init__(message, status=status, code=code)
        self.retry_after: float | None = retry_after


class QueueFull(RetryableError):
    """429 `queue_full` (and any other 429): the model version's lane holds its `max_queue_rows`."""


class RateLimited(RetryableError):
    """429 `rate_limited`: the API key is past its request rate."""


class QuotaExceeded(RetryableError):
    """429 `quota_exceeded`: the tenant is at its cap (e.g. of unfinished bulk jobs)."""


class Unavailable(RetryableError):
    """503: Redis unreachable or full, or a model no worker can load."""


class Unreachable(MaasError):
    """No answer: the connection failed or broke (after the client's retries)."""


class Timeout(MaasError, TimeoutError):
    """No answer within the client's timeout, or a job or bulk job not finished within the
    `timeout` it was awaited with. Also a `TimeoutError`."""


class JobFailed(MaasError):
    """`Job.result()` of a job that ended `failed`, `cancelled` or `expired`; `job` is the job,
    `code` its error code (`inference_error`, `expired`, `cancelled`...)."""

    def __init__(self, job, code: str, message: str):
        super().__init__(f"job {job.id} {job.status}: {message}", code=code)
        self.job = job


class InvalidSignature(MaasError):
    """`webhooks.verify`: the delivery is not signed by any of the secrets, or is stale."""


ERROR_BY_STATUS: dict[int, type[MaasError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: InvalidInput,
    429: QueueFull,
    503: Unavailable,
}
# Where one status covers refusals a caller tells apart, the code decides.
ERROR_BY_CODE: dict[str, type[MaasError]] = {"rate_limited": RateLimited, "quota_exceeded": QuotaExceeded}


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _error_fields(response: httpx.Response) -> tuple[str, str, list | None]:
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"]), error.get("loc")
    except (ValueError, KeyError, TypeError):
        return f"http_{response.status_code}", response.text[:500] or response.reason_phrase, None


def error_from_response(response: httpx.Response) -> MaasError:
    """The error an answer of status >= 400 stands for (its body must have been read)."""
    code, message, loc = _error_fields(response)
    status = response.status_code
    cls = ERROR_BY_CODE.get(code) or ERROR_BY_STATUS.get(status, MaasError)
    if issubclass(cls, InvalidInput):
        return cls(message, status=status, code=code, loc=loc)
    if issubclass(cls, RetryableError):
        after = retry_after_s(response.headers.get("retry-after"))
        return cls(message, status=status, code=code, retry_after=after)
    return cls(message, status=status, code=code)


def error_from_transport(error: httpx.TransportError, what: str) -> MaasError:
    """A failure with no answer, wrapped: a timeout, or a connection that failed or broke."""
    if isinstance(error, httpx.TimeoutException):
        return Timeout(f"{what}: no answer in time ({type(error).__name__})", code="timeout")
    return Unreachable(f"{what}: {type(error).__name__}: {error}", code="unreachable")
