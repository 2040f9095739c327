"""The one implementation of talking to maas, shared by `Client` and `AsyncClient`.

Every operation is a generator (sans I/O): it yields `Send` (an HTTP request to make) or `Sleep`
(a pause), is resumed with the `httpx.Response` (or has the `httpx.TransportError` thrown in),
and returns its result. Request building, retries, error mapping and response parsing live
here; a client only runs the generator with its transport (`transport.py`): blocking or async."""

import json
import logging
import random
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import numpy as np

from maas_client.errors import InvalidInput, MaasError, error_from_response, error_from_transport
from maas_client.retry import RETRY_STATUSES, RetryPolicy

log = logging.getLogger("maas_client")
T = TypeVar("T")


@dataclass
class Send:
    """One HTTP request. `repeatable`: sending it twice does no harm (a read, or a submit that
    carries an Idempotency-Key), so it is retried when its answer was lost too. `extra_read_s`
    lengthens the read timeout (long-polls); `stream`: the body is left unread when successful."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] | None = None
    files: dict[str, Any] | None = None
    repeatable: bool = True
    extra_read_s: float = 0.0
    stream: bool = False


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step = Send | Sleep
Call = Generator[Step, Any, T]


@dataclass
class Context:
    """What operations share across calls: the retry settings and the output dtypes of each
    (model, version) seen (versions are immutable, so the cache never goes stale)."""

    retry: RetryPolicy
    output_dtypes: dict[tuple[str, int], dict[str, np.dtype]] = field(default_factory=dict)


def _never_sent(error: httpx.TransportError) -> bool:
    """Failures before the request left: repeating it cannot do anything twice."""
    return isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def send(request: Send, retry: RetryPolicy) -> Call[httpx.Response]:
    """The request's successful answer, after the retries `retry` allows; else the error."""
    started, attempt = time.monotonic(), 0
    while True:
        attempt += 1
        retry_after: float | None = None
        try:
            response = yield request
        except httpx.TransportError as e:
            failure = error_from_transport(e, f"{request.method} {request.path}")
            failure.__cause__ = e
            if not (request.repeatable or _never_sent(e)):
                raise failure from e
        else:
            if response.status_code < 400:
                return response
            failure = error_from_response(response)
            if response.status_code not in RETRY_STATUSES:
                raise failure
            retry_after = getattr(failure, "retry_after", None)
        delay = retry.delay_s(attempt, time.monotonic() - started, retry_after, random.uniform(0.5, 1))
        if delay is None:
            raise failure
        log.info("%s %s: %s; try %d in %.2f s", request.method, request.path, failure, attempt + 1, delay)
        yield Sleep(delay)


def _numpy_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_bytes(body: Any) -> bytes:
    """`body` as compact JSON; numpy arrays and scalars become lists and numbers."""
    try:
        return json.dumps(body, default=_numpy_default, allow_nan=False, separators=(",", ":")).encode()
    except ValueError as e:  # NaN or infinity, which JSON cannot carry
        raise InvalidInput(f"body: {e}", status=None, loc=["inputs"]) from e


def json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as e:
        raise MaasError(
            f"{response.request.url}: expected JSON, got {response.text[:200]!r}",
            status=response.status_code,
            code="bad_response",
        ) from e
