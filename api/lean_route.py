"""Routes on the hot path (a job's submit, its read, an inference) solve their dependencies by a
plan made once, instead of FastAPI's walk of the dependency tree on every request.

FastAPI solves a route's dependencies per request by recursion over its dependant: for every
dependency its own parameter scan and a cache key from its scopes, then every header and path
parameter through pydantic. For `POST /v1/jobs` that was about a third of what the framework
cost per job. A `LeanRoute` looks at its dependant once, when FastAPI builds its handler. If
every dependency is a coroutine function of the Request alone, and every parameter of the
endpoint is the Request, a dependency's value, an optional string header, a plain string path
parameter or an optional query parameter, and the endpoint returns a Response, then per request
it calls the dependencies in FastAPI's order (each once per request, as FastAPI's cache does:
the same errors, in the same order), reads the headers and path parameters as FastAPI would,
gives query parameters their defaults, and calls the endpoint. A request with a query string
(which FastAPI validates), any request while dependency overrides or FastAPI's own telemetry are
on, and any other route take FastAPI's handler unchanged. The OpenAPI document comes from the
same dependant, so it does not change; tests/api/test_lean_route.py holds each plan's values to
FastAPI's own solve.
"""

import copy
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import params, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_SPECIAL_PARAMETERS = (
    "websocket_param_name",
    "http_connection_param_name",
    "response_param_name",
    "background_tasks_param_name",
    "security_scopes_param_name",
)
TELEMETRY_SCOPE_KEY = "fastapi.telemetry"  # set by FastAPI while its own telemetry observes a request


@dataclass(frozen=True)
class Step:
    """One dependency: a coroutine function called with the request alone."""

    call: Callable[..., Awaitable[Any]]
    request_name: str
    name: str | None  # the endpoint's parameter it fills; None: run for its effect (a guard)
    cached: bool


@dataclass(frozen=True)
class Plan:
    call: Callable[..., Awaitable[Any]]
    steps: tuple[Step, ...]
    headers: tuple[tuple[str, str], ...]  # (parameter, header name)
    path: tuple[tuple[str, str], ...]  # (parameter, path parameter)
    request_name: str | None
    query_defaults: tuple[tuple[str, Any], ...] = ()  # (parameter, default): no query string only

    async def solve(self, request: Request) -> dict[str, Any]:
        """The endpoint's arguments, as FastAPI's solve_dependencies gives them."""
        values: dict[str, Any] = {}
        solved: dict[Callable[..., Awaitable[Any]], Any] = {}
        for step in self.steps:
            if step.cached and step.call in solved:
                value = solved[step.call]
            else:
                value = await step.call(**{step.request_name: request})
                solved.setdefault(step.call, value)
            if step.name is not None:
                values[step.name] = value
        path_params = request.path_params
        for name, key in self.path:
            values[name] = path_params[key]
        headers = request.headers
        for name, key in self.headers:
            values[name] = headers.get(key)
        for name, default in self.query_defaults:
            values[name] = copy.deepcopy(default)  # as FastAPI gives a default
        if self.request_name is not None:
            values[self.request_name] = request
        return values

    async def run(self, request: Request) -> Response:
        response = await self.call(**await self.solve(request))
        if not isinstance(response, Response):
            raise TypeError(f"{self.call.__qualname__} returned {type(response).__name__}, not a Response")
        return response


def _plain(dependant: Dependant) -> bool:
    """No parameter a plan does not handle, and no scopes or concurrency limit."""
    return (
        not (dependant.cookie_params or dependant.body_params)
        and all(getattr(dependant, name) is None for name in _SPECIAL_PARAMETERS)
        and not dependant.own_oauth_scopes
        and getattr(dependant, "concurrency", None) is None
    )


def _step(sub: Dependant) -> Step | None:
    if not (
        inspect.iscoroutinefunction(sub.call)
        and sub.request_param_name is not None
        and _plain(sub)
        and not (sub.dependencies or sub.path_params or sub.header_params or sub.query_params)
    ):
        return None
    return Step(sub.call, sub.request_param_name, sub.name, sub.use_cache)


def _optional_str(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and set(
        typing.get_args(annotation)
    ) == {str, type(None)}


def _header(field: Any) -> tuple[str, str] | None:
    """An optional string header without constraints: its value is the request's, or None."""
    info = field.field_info
    alias = field.alias
    if not (
        isinstance(info, params.Header)
        and info.validation_alias in (None, alias)
        and not info.metadata
        and _optional_str(info.annotation)
        and info.default is None
    ):
        return None
    return field.name, alias


def _path(field: Any) -> tuple[str, str] | None:
    """A plain string path parameter: the matched segment itself."""
    info = field.field_info
    if not (isinstance(info, params.Path) and info.annotation is str and not info.metadata):
        return None
    return field.name, field.alias


def _holds_model(annotation: Any) -> bool:
    """A model of query parameters: FastAPI validates even an empty query into one."""
    kinds = typing.get_args(annotation) or (annotation,)
    return any(isinstance(kind, type) and issubclass(kind, BaseModel) for kind in kinds)


def _query(field: Any) -> tuple[str, Any] | None:
    """An optional query parameter: its default, when the request has no query string."""
    info = field.field_info
    if (
        not isinstance(info, params.Query)
        or info.is_required()
        or info.default_factory is not None
        or _holds_model(info.annotation)
    ):
        return None
    return field.name, info.default


def plan_of(dependant: Dependant) -> Plan | None:
    """The plan of a route's (effective) dependant, or None where FastAPI must solve it."""
    call = dependant.call
    if call is None or not inspect.iscoroutinefunction(call) or not _plain(dependant):
        return None
    returns = typing.get_type_hints(call).get("return")
    if not (isinstance(returns, type) and issubclass(returns, Response)):
        return None
    steps = tuple(_step(sub) for sub in dependant.dependencies)
    headers = tuple(_header(field) for field in dependant.header_params)
    path = tuple(_path(field) for field in dependant.path_params)
    query = tuple(_query(field) for field in dependant.query_params)
    if None in steps or None in headers or None in path or None in query:
        return None
    return Plan(
        call,
        typing.cast(tuple[Step, ...], steps),
        typing.cast(tuple[tuple[str, str], ...], headers),
        typing.cast(tuple[tuple[str, str], ...], path),
        dependant.request_param_name,
        typing.cast(tuple[tuple[str, Any], ...], query),
    )


def effective_route(route: APIRoute) -> Any:
    """The route as FastAPI builds its handler, or None if that cannot be told. Recent FastAPI
    does not copy an included route: while it builds the handler, a context holds the route with
    the app's and router's dependencies added; older FastAPI copies the route with them."""
    var = getattr(routing, "_effective_route_context_var", None)
    if var is None:
        # Contexts known by another name would hide the app's own guards from a plan: none then.
        return None if hasattr(routing, "_EffectiveRouteContext") else route
    context = var.get()
    if context is not None and getattr(context, "original_route", None) is route:
        return context
    return route


def plan_answers(plan: Plan, scope: MutableMapping[str, Any], overrides_provider: Any) -> bool:
    """Whether the plan answers this request, or FastAPI's handler must (the module says when)."""
    return not (
        (plan.query_defaults and scope.get("query_string"))
        or scope.get(TELEMETRY_SCOPE_KEY) is not None
        or getattr(overrides_provider, "dependency_overrides", None)
    )


class LeanRoute(APIRoute):
    """An APIRoute whose handler runs its plan where it has one (the module says when)."""

    # The dependant and plan of the handler built last, for tests/api/test_lean_route.py.
    lean: tuple[Dependant, Plan] | None = None
    # By id: (what the handler was built for, its plan): this route, or its context in an inclusion.
    _plans: dict[int, tuple[Any, Plan]] | None = None

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        route = effective_route(self)
        plan = plan_of(route.dependant) if route is not None else None
        if plan is None:
            return handler
        self.lean = (route.dependant, plan)
        if self._plans is None:
            self._plans = {}
        self._plans[id(route)] = (route, plan)
        overrides_provider = route.dependency_overrides_provider

        async def lean(request: Request) -> Response:
            if plan_answers(plan, request.scope, overrides_provider):
                return await plan.run(request)
            return await handler(request)

        return lean

    def plan_for(self, built: Any) -> Plan | None:
        """The plan of the handler built for `built` (this route, or the context FastAPI built
        for it in an inclusion), or None where that handler has none."""
        entry = self._plans.get(id(built)) if self._plans is not None else None
        return entry[1] if entry is not None and entry[0] is built else None
