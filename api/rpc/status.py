"""maas errors as gRPC statuses: the code follows from the HTTP status the one error table
(api/errors.py) gives, so an error class is mapped once for both transports; bad input is
INVALID_ARGUMENT, never UNKNOWN. A refusal to retry later carries google.rpc.RetryInfo (in
`grpc-status-details-bin`, what gRPC's rich error model reads) and a plain `retry-after`."""

from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError as RedisOutOfMemoryError
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.errors import RETRY_AFTER_S, Redaction, status_of
from maas.core.errors import MaasError

CODE_BY_HTTP_STATUS: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    410: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
REDIS_DOWN_RETRY_S = 1
REDIS_FULL_RETRY_S = 5


@dataclass(frozen=True)
class RpcError:
    """What a failed call answers: code, message, and when to retry (None: not the point)."""

    code: grpc.StatusCode
    message: str
    retry_after_s: int | None = None

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        if self.retry_after_s is None:
            return ()
        retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=self.retry_after_s))
        detail = any_pb2.Any()
        detail.Pack(retry)
        status = status_pb2.Status(code=self.code.value[0], message=self.message, details=[detail])
        return (
            ("grpc-status-details-bin", status.SerializeToString()),
            ("retry-after", str(self.retry_after_s)),
        )


def rpc_error(error: Exception, redaction: Redaction) -> RpcError | None:
    """The status for an error a call raised; None for one that is a bug (left to gRPC, which
    logs it and answers UNKNOWN)."""
    if isinstance(error, MaasError):
        code = CODE_BY_HTTP_STATUS.get(status_of(error), grpc.StatusCode.INTERNAL)
        retry = getattr(error, "retry_after_s", None) or RETRY_AFTER_S.get(type(error))
        if retry is None and code is grpc.StatusCode.UNAVAILABLE:
            retry = REDIS_DOWN_RETRY_S
        return RpcError(code, redaction.message(f"{error.code}: {error.message}"), retry)
    if isinstance(error, ValidationError):
        shown = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
        return RpcError(grpc.StatusCode.INVALID_ARGUMENT, redaction.message(f"invalid_request: {shown}"))
    if isinstance(error, RedisOutOfMemoryError):
        message = "queue_out_of_memory: the job queue (Redis) is full (maxmemory reached); retry later"
        return RpcError(grpc.StatusCode.UNAVAILABLE, message, REDIS_FULL_RETRY_S)
    if isinstance(error, RedisConnectionError | RedisTimeoutError):
        message = redaction.message(f"queue_unavailable: the job queue (Redis) is unreachable: {error}")
        return RpcError(grpc.StatusCode.UNAVAILABLE, message, REDIS_DOWN_RETRY_S)
    return None
