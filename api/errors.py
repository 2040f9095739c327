"""The one table from maas errors to HTTP statuses, and the handlers that apply it."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError as RedisOutOfMemoryError
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.limits import shortened
from api.responses import NumpyJSONResponse
from maas.core.errors import (
    ConflictError,
    ForbiddenError,
    GoneError,
    InferTimeoutError,
    InvalidInputError,
    JobFailedError,
    JobLostError,
    JobNotFoundError,
    JobStateError,
    KeyNotFoundError,
    MaasError,
    ModelLoadError,
    ModelNotFoundError,
    NotReplicatedError,
    PayloadTooLargeError,
    QueueFullError,
    QuotaExceededError,
    RateLimitedError,
    ReadOnlyRepositoryError,
    TenantQuotaError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from maas.core.settings import Settings

STATUS_BY_ERROR: dict[type[MaasError], int] = {
    UnauthorizedError: 401,
    ForbiddenError: 403,
    KeyNotFoundError: 404,
    ModelNotFoundError: 404,
    JobNotFoundError: 404,
    InvalidInputError: 422,
    PayloadTooLargeError: 413,
    UnsupportedMediaTypeError: 415,
    JobStateError: 409,
    ConflictError: 409,
    ReadOnlyRepositoryError: 409,
    GoneError: 410,
    ModelLoadError: 503,
    NotReplicatedError: 503,
    QueueFullError: 429,
    RateLimitedError: 429,
    QuotaExceededError: 429,
    TenantQuotaError: 429,
    InferTimeoutError: 504,
    JobFailedError: 422,
    JobLostError: 503,
}
# The Open Inference Protocol's routes (/v2) answer bad input with 400 and errors as
# {"error": "<message>"}, as the spec and its clients expect; the rest of the table applies.
V2_PREFIX = "/v2"
V2_STATUS_BY_ERROR: dict[type[MaasError], int] = {
    InvalidInputError: 400,
    JobFailedError: 400,
    JobLostError: 503,
}
MESSAGE_ECHOES = 10  # a message may be this many echoed pieces long, whatever it quotes
RETRY_AFTER_S: dict[type[MaasError], int] = {
    QueueFullError: 1,
    QuotaExceededError: 5,
    TenantQuotaError: 1,
    NotReplicatedError: 1,
}
MAX_VALIDATION_ERRORS = 5  # listed in a 422's message; the rest are counted
CHALLENGES: dict[type[MaasError], str] = {UnauthorizedError: 'Bearer realm="maas"'}


@dataclass(frozen=True)
class Redaction:
    """What an error may repeat back: server directories are named, not shown (an absolute path
    tells a client about the host), and every echoed piece is bounded (MAAS_MAX_ECHO_CHARS)."""

    max_echo_chars: int
    server_dirs: tuple[tuple[str, str], ...] = ()  # (absolute path, the name shown instead)

    @classmethod
    def of(cls, settings: Settings) -> "Redaction":
        dirs = {"<state_dir>": settings.state_dir, "<model_repository>": settings.model_repository}
        if settings.bulk_store_dir is not None:
            dirs["<bulk_store_dir>"] = settings.bulk_store_dir
        paths = {str(path.resolve()): name for name, path in dirs.items()}
        paths.update({str(path.absolute()): name for name, path in dirs.items()})
        # Longest first, so that a directory inside another is named by its own name.
        return cls(settings.max_echo_chars, tuple(sorted(paths.items(), key=lambda p: -len(p[0]))))

    def message(self, text: str) -> str:
        for path, name in self.server_dirs:
            text = text.replace(path, name)
        return shortened(text, MESSAGE_ECHOES * self.max_echo_chars)

    def loc(self, loc: Sequence[object] | None) -> list | None:
        if not loc:
            return None
        return [shortened(p, self.max_echo_chars) if isinstance(p, str) else p for p in loc]


def error_response(
    status: int, code: str, message: str, loc=None, headers: dict | None = None
) -> NumpyJSONResponse:
    body: dict[str, object] = {"code": code, "message": message}
    if loc:
        body["loc"] = list(loc)
    return NumpyJSONResponse({"error": body}, status_code=status, headers=headers)


def is_v2(request: Request) -> bool:
    return request.url.path == V2_PREFIX or request.url.path.startswith(V2_PREFIX + "/")


def status_of(error: MaasError, v2: bool = False) -> int:
    for cls in type(error).__mro__:
        if v2 and cls in V2_STATUS_BY_ERROR:
            return V2_STATUS_BY_ERROR[cls]
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def _shaped(
    request: Request, status: int, code: str, message: str, loc=None, headers=None
) -> NumpyJSONResponse:
    """The error in the shape the route's protocol gives errors."""
    if is_v2(request):
        return NumpyJSONResponse({"error": message}, status_code=status, headers=headers)
    return error_response(status, code, message, loc, headers)


def _maas_error(redaction: Redaction):
    async def handle(request: Request, error: MaasError) -> NumpyJSONResponse:
        headers = {}
        if retry_after := getattr(error, "retry_after_s", None) or RETRY_AFTER_S.get(type(error)):
            headers["Retry-After"] = str(retry_after)
        if challenge := CHALLENGES.get(type(error)):
            headers["WWW-Authenticate"] = challenge
        loc = redaction.loc(getattr(error, "loc", None))
        message = redaction.message(error.message)
        status = status_of(error, is_v2(request))
        return _shaped(request, status, error.code, message, loc, headers or None)

    return handle


def _describe(errors: Sequence[Mapping[str, Any]], redaction: Redaction) -> str:
    shown = [
        f"{'.'.join(str(p) for p in redaction.loc(e['loc']) or () if p != 'body') or 'body'}: {e['msg']}"
        for e in errors[:MAX_VALIDATION_ERRORS]
    ]
    more = len(errors) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _validation_error(redaction: Redaction):
    async def handle(request: Request, error: RequestValidationError | ValidationError) -> NumpyJSONResponse:
        errors = error.errors()
        loc = redaction.loc([p for p in errors[0]["loc"] if p != "body"]) if errors else None
        message = redaction.message(_describe(errors, redaction))
        return _shaped(request, 400 if is_v2(request) else 422, "invalid_request", message, loc)

    return handle


async def _redis_down(request: Request, error: Exception) -> NumpyJSONResponse:
    message = f"the job queue (Redis) is unreachable: {error}"
    return _shaped(request, 503, "queue_unavailable", message, headers={"Retry-After": "1"})


async def _redis_full(request: Request, error: Exception) -> NumpyJSONResponse:
    # noeviction: Redis refuses writes that would grow it past maxmemory; accepted jobs still
    # finish (their scripts may exceed it), so room comes back as results expire.
    message = "the job queue (Redis) is full (maxmemory reached); new jobs are refused, retry later"
    return _shaped(request, 503, "queue_out_of_memory", message, headers={"Retry-After": "5"})


def install_error_handlers(app: FastAPI, settings: Settings) -> None:
    redaction = Redaction.of(settings)
    # Starlette types every handler as taking Exception; each is registered for the class it takes.
    app.add_exception_handler(MaasError, _maas_error(redaction))  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error(redaction))  # type: ignore[arg-type]
    app.add_exception_handler(ValidationError, _validation_error(redaction))  # type: ignore[arg-type]
    app.add_exception_handler(RedisConnectionError, _redis_down)
    app.add_exception_handler(RedisTimeoutError, _redis_down)
    app.add_exception_handler(RedisOutOfMemoryError, _redis_full)
