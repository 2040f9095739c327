"""Every HTTP request: its request id (the caller's X-Request-ID when it is a sane token, else a
new one), set for the logs while it is served and returned in the answer's X-Request-ID; the
RateLimit-* headers of a rate-limited key on every answer, errors included (the Authenticator
leaves its decision in the request's state); then counted by method, route template
(`/v1/jobs/{job_id}`, never the path itself) and status, and timed. One `Exchange` per request
does all of it, with one wrapper of `send`, for the app's one middleware: `RequestObserver`, or
its subclass that answers the hot routes itself (api/hot_path.py)."""

import functools
import itertools
import os
import re
import time

from starlette.datastructures import MutableHeaders
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


class Exchange:
    """One HTTP request being served: opened before the app runs (its request id is then the
    logs'), `send` for the app's messages, `close` once the app has returned or raised."""

    __slots__ = ("scope", "downstream", "request_id", "token", "began", "status", "started")

    def __init__(self, scope: Scope, send: Send):
        self.scope = scope
        self.downstream = send
        self.began = time.perf_counter()
        self.request_id = request_id_of(scope)
        self.token = REQUEST_ID.set(self.request_id.decode())
        self.status = 500  # an app that raises before answering: what the server sends
        self.started = False  # whether the answer's start went out (its status is then known)

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            decision = self.scope.get("state", {}).get("rate_limit")
            if decision is not None:
                headers = MutableHeaders(scope=message)
                for name, value in decision.headers().items():
                    headers[name] = value
            message["headers"] = [*message.get("headers", ()), (HEADER, self.request_id)]
        await self.downstream(message)

    def close(self) -> None:
        REQUEST_ID.reset(self.token)
        scope = self.scope
        route = scope.get("route")
        template = getattr(route, "path", UNMATCHED) if route is not None else UNMATCHED
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        requests, seconds = _children(method, template, self.status)
        requests.inc()
        seconds.observe(time.perf_counter() - self.began)


class RequestObserver:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = Exchange(scope, send)
        try:
            await self.serve(scope, receive, exchange)
        finally:
            exchange.close()

    async def serve(self, scope: Scope, receive: Receive, exchange: Exchange) -> None:
        """The app's answer to an observed request (api/hot_path.py answers some itself)."""
        await self.app(scope, receive, exchange.send)
