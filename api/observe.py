"""Every HTTP request: its request id (the caller's X-Request-ID when it is a sane token, else a
new one), set for the logs while it is served and returned in the answer's X-Request-ID; then
counted by method, route template (`/v1/jobs/{job_id}`, never the path itself) and status, and
timed. Plain ASGI, a few dictionary reads and two metric updates per request."""

import functools
import itertools
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from batching.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS
from maas.core.log_fields import REQUEST_ID

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
UNMATCHED = "unmatched"  # no route: a 404 for a path nobody declared (any path: not a label)
HEADER = b"x-request-id"
# A caller's id is kept only if it is short and plain, so it cannot forge log lines or carry data.
SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


# A new id: this process's random prefix and a counter (32 hex digits): unique across processes
# and restarts, and far cheaper per request than a uuid4.
_PREFIX = os.urandom(8).hex()
_COUNTER = itertools.count(1)


def new_request_id() -> bytes:
    return f"{_PREFIX}{next(_COUNTER):016x}".encode()


def request_id_of(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == HEADER:
            return value if SANE_ID.fullmatch(value) else new_request_id()
    return new_request_id()


@functools.cache
def _children(method: str, template: str, status: int) -> tuple:
    """The metric children of one (method, route, status): bounded, so cached for good."""
    return HTTP_REQUESTS.labels(method, template, str(status)), HTTP_REQUEST_SECONDS.labels(method, template)


class RequestObserver:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        token = REQUEST_ID.set(request_id.decode())
        status = 500  # an app that raises before answering: what the server sends

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (HEADER, request_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            REQUEST_ID.reset(token)
            route = scope.get("route")
            template = getattr(route, "path", UNMATCHED) if route is not None else UNMATCHED
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            requests, seconds = _children(method, template, status)
            requests.inc()
            seconds.observe(time.perf_counter() - started)
