"""The one table from maas errors to HTTP statuses, and the handlers that apply it."""

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError as RedisOutOfMemoryError
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.responses import NumpyJSONResponse
from maas.core.errors import (
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidInputError,
    JobNotFoundError,
    JobStateError,
    KeyNotFoundError,
    MaasError,
    ModelLoadError,
    ModelNotFoundError,
    PayloadTooLargeError,
    QueueFullError,
    QuotaExceededError,
    RateLimitedError,
    UnauthorizedError,
)

STATUS_BY_ERROR: dict[type[MaasError], int] = {
    UnauthorizedError: 401,
    ForbiddenError: 403,
    KeyNotFoundError: 404,
    ModelNotFoundError: 404,
    JobNotFoundError: 404,
    InvalidInputError: 422,
    PayloadTooLargeError: 413,
    JobStateError: 409,
    ConflictError: 409,
    GoneError: 410,
    ModelLoadError: 503,
    QueueFullError: 429,
    RateLimitedError: 429,
    QuotaExceededError: 429,
}
RETRY_AFTER_S: dict[type[MaasError], int] = {QueueFullError: 1, QuotaExceededError: 5}
CHALLENGES: dict[type[MaasError], str] = {UnauthorizedError: 'Bearer realm="maas"'}


def error_response(
    status: int, code: str, message: str, loc=None, headers: dict | None = None
) -> NumpyJSONResponse:
    body: dict[str, object] = {"code": code, "message": message}
    if loc:
        body["loc"] = list(loc)
    return NumpyJSONResponse({"error": body}, status_code=status, headers=headers)


def _status_of(error: MaasError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


async def _maas_error(_: Request, error: MaasError) -> NumpyJSONResponse:
    headers = {}
    if retry_after := getattr(error, "retry_after_s", None) or RETRY_AFTER_S.get(type(error)):
        headers["Retry-After"] = str(retry_after)
    if challenge := CHALLENGES.get(type(error)):
        headers["WWW-Authenticate"] = challenge
    loc = getattr(error, "loc", None)
    return error_response(_status_of(error), error.code, error.message, loc, headers or None)


def _describe(errors: Sequence[Mapping[str, Any]]) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in errors
    )


async def _validation_error(_: Request, error: RequestValidationError | ValidationError):
    errors = error.errors()
    loc = [p for p in errors[0]["loc"] if p != "body"] if errors else None
    return error_response(422, "invalid_request", _describe(errors), loc)


async def _redis_down(_: Request, error: Exception) -> NumpyJSONResponse:
    message = f"the job queue (Redis) is unreachable: {error}"
    return error_response(503, "queue_unavailable", message, headers={"Retry-After": "1"})


async def _redis_full(_: Request, error: Exception) -> NumpyJSONResponse:
    # noeviction: Redis refuses writes that would grow it past maxmemory; accepted jobs still
    # finish (their scripts may exceed it), so room comes back as results expire.
    message = "the job queue (Redis) is full (maxmemory reached); new jobs are refused, retry later"
    return error_response(503, "queue_out_of_memory", message, headers={"Retry-After": "5"})


def install_error_handlers(app: FastAPI) -> None:
    # Starlette types every handler as taking Exception; each is registered for the class it takes.
    app.add_exception_handler(MaasError, _maas_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(ValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(RedisConnectionError, _redis_down)
    app.add_exception_handler(RedisTimeoutError, _redis_down)
    app.add_exception_handler(RedisOutOfMemoryError, _redis_full)
