"""The hot routes (a job's submit and read, a /v2 infer: the table of api/hot_routes.py)
answered by the app's one middleware, past the layers of ASGI and routing that do nothing for
them.

Inside the app's middleware (`RequestObserver`: request id, RateLimit-*, metrics), a request
passes ExceptionMiddleware (the app's exception handlers: api/errors.py), an exit stack for
uploaded files, the router (each route's pattern tried, twice in an included router), the
route's own exception wrapper and exit stacks, and its handler, a plan (api/lean_route.py);
each layer wraps `send` again. `HotPaths` is that middleware, and for a hot route it does what
the layers inside it do, in one frame and with the observer's one wrapper of `send`: the
routing's scope keys, the plan, and the app's exception handlers looked up as Starlette looks
them up (as the route's wrapper, then as the middleware for what escapes the first). What
escapes both goes on out, as before, to ServerErrorMiddleware's 500.

It answers a request only while every layer it leaves out would be idle: an HTTP request with
no root path and no body limit of FastAPI's in its scope, a plan that answers it
(lean_route.plan_answers: no FastAPI telemetry, no dependency overrides, no query string where
the route has query parameters), a route the router would pick, and itself the innermost
middleware (nothing between it and ExceptionMiddleware). Every other request goes through the
layers unchanged. The plan's scope has what the layers set and routes read (router, route,
endpoint, path_params, the exception handlers); FastAPI's private keys and its exit stacks,
read only by FastAPI's own handler, are left out. tests/api/test_hot_path.py holds the answers
of the app with hot paths to the app without.
"""

import re

from fastapi import FastAPI
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope

from api.hot_routes import HotRoute, HotTable, hot_table
from api.lean_route import plan_answers
from api.observe import Exchange, RequestObserver

try:  # where Starlette's body limits (1.x) keep a request's limit: the full stack applies it
    from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
except ImportError:  # an older Starlette: no request has one
    MAX_BODY_SIZE_SCOPE_KEY = "starlette.max_body_size"

HANDLED_TOO_LATE = "Caught handled exception, but response already started."  # Starlette's words


class HotPaths(RequestObserver):
    """The app's middleware: every request observed, the hot routes' answered here."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI):
        super().__init__(app)
        self.fastapi = fastapi
        self.table: HotTable | None = None

    async def serve(self, scope: Scope, receive: Receive, exchange: Exchange) -> None:
        found = self._hot_route(scope) if isinstance(self.app, ExceptionMiddleware) else None
        if found is None:
            await self.app(scope, receive, exchange.send)
            return
        hot, match = found
        if "router" not in scope:
            scope["router"] = self.fastapi.router
        path_params = dict(scope.get("path_params", {}))
        path_params.update(match.groupdict())
        scope["endpoint"], scope["path_params"], scope["route"] = hot.endpoint, path_params, hot.route
        scope["starlette.exception_handlers"] = self._handlers()
        request = Request(scope, receive, exchange.send)
        try:
            try:
                response = await hot.plan.run(request)
                await response(scope, receive, exchange.send)
            except Exception as exc:  # as the route's exception wrapper
                await self._handled(exc, request, exchange)
        except Exception as exc:  # as ExceptionMiddleware, with a Request of its own
            await self._handled(exc, Request(scope, receive, exchange.send), exchange)

    def _hot_route(self, scope: Scope) -> tuple[HotRoute, re.Match[str]] | None:
        table = self.table
        if table is None or not table.current(self.fastapi):
            table = self.table = hot_table(self.fastapi)
        hots = table.by_method.get(scope["method"])
        if hots is None or scope.get("root_path") or MAX_BODY_SIZE_SCOPE_KEY in scope:
            return None
        path = scope["path"]
        for hot in hots:
            match = hot.pattern.match(path)
            if match is not None:
                if hot.shadowed(path) or not plan_answers(hot.plan, scope, hot.overrides_provider):
                    return None
                return hot, match
        return None

    def _handlers(self) -> tuple[dict, dict]:
        """ExceptionMiddleware's own: the app's handlers, and Starlette's for HTTPException."""
        layer = self.app
        assert isinstance(layer, ExceptionMiddleware)
        return layer._exception_handlers, layer._status_handlers

    async def _handled(self, exc: Exception, request: Request, exchange: Exchange) -> None:
        """Starlette's wrap_app_handling_exceptions, once the app has raised: the answer of the
        exception's handler, or the exception again."""
        exception_handlers, status_handlers = request.scope["starlette.exception_handlers"]
        handler = status_handlers.get(exc.status_code) if isinstance(exc, HTTPException) else None
        if handler is None:
            handler = next(
                (exception_handlers[c] for c in type(exc).__mro__ if c in exception_handlers), None
            )
        if handler is None:
            raise exc
        if exchange.started:
            raise RuntimeError(HANDLED_TOO_LATE) from exc
        if is_async_callable(handler):
            response = await handler(request, exc)
        else:
            response = await run_in_threadpool(handler, request, exc)
        if response is not None:
            await response(request.scope, request.receive, exchange.send)
        exc.__traceback__ = None  # as Starlette: a reused exception would gather tracebacks
