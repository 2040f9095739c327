"""Which routes the hot paths (api/hot_path.py) may answer, and how a request is known to be
theirs: the table is read off the app's own routes, in the order its router tries them.

A route is hot when FastAPI's handler for it runs a plan (api/lean_route.py), its path
parameters are plain strings, and it has no body size limit of FastAPI's. A request is a hot
route's when its method is one of the route's, its path matches the route's pattern, and the
router would pick that route. The router takes the first route that matches both path and
method, so each hot route keeps the patterns of the routes tried before it that take its method
and whose paths could overlap its own (told from the two path templates, segment by segment);
a path that one of them matches goes to the full stack. Nothing the table cannot reason about
(a host route, a frontend, a kind of route it does not know) may come before a hot route. The
table is rebuilt when a router's routes change, as FastAPI's own included routers are, or the
app's own list of routes is changed by hand.
"""

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, routing
from fastapi.routing import APIRoute, APIRouter, APIWebSocketRoute
from starlette.convertors import FloatConvertor, IntegerConvertor, StringConvertor, UUIDConvertor
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from api.lean_route import LeanRoute, Plan

# Convertors whose values never hold a "/": a parameter of theirs is one path segment.
_ONE_SEGMENT = (StringConvertor, IntegerConvertor, FloatConvertor, UUIDConvertor)
# How recent FastAPI includes a router (older FastAPI copies its routes into the app's router):
# private, so read with care; without them, no instance is one (isinstance of () is False).
_INCLUDED: Any = getattr(routing, "_IncludedRouter", ())
_CONTEXT: Any = getattr(routing, "_EffectiveRouteContext", ())

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HotRoute:
    route: LeanRoute  # as declared: scope["route"], whose path is the metrics' route label
    endpoint: Callable[..., Any] | None  # scope["endpoint"]
    pattern: re.Pattern[str]
    plan: Plan
    overrides_provider: Any  # whose dependency_overrides send a request to FastAPI's handler
    shadows: tuple[re.Pattern[str], ...]  # routes tried before it that could match its paths

    def shadowed(self, path: str) -> bool:
        return any(pattern.match(path) for pattern in self.shadows)


@dataclass(frozen=True)
class Tried:
    """A route as the router tries it: its pattern, its path template, its convertors, and the
    methods it takes (None: any; another method's request is only a partial match, which does
    not stop the router from trying the routes after it)."""

    pattern: re.Pattern[str]
    template: str
    convertors: dict[str, Any]
    methods: frozenset[str] | None

    def takes(self, method: str) -> bool:
        return self.methods is None or method in self.methods


@dataclass(frozen=True)
class HotTable:
    by_method: dict[str, tuple[HotRoute, ...]]  # in the order the router tries them
    routers: tuple[APIRouter, ...]  # every router whose routes it was read from
    versions: int  # the sum of their routes' versions then (each only grows)
    top_routes: int  # how many routes the app's own router had then

    def current(self, app: FastAPI) -> bool:
        return len(app.router.routes) == self.top_routes and self.versions == _versions(self.routers)


def _versions(routers: tuple[APIRouter, ...] | list[APIRouter]) -> int:
    return sum(getattr(router, "_routes_version", 0) for router in routers)


def _segments_overlap(template: str, other: Tried) -> bool:
    """Whether some path could match both `template` (one segment per parameter) and `other`."""
    spanning = {f"{{{n}}}" for n, c in other.convertors.items() if not isinstance(c, _ONE_SEGMENT)}
    ours, theirs = template.split("/"), other.template.split("/")
    for index, segment in enumerate(theirs):
        if any(name in segment for name in spanning):
            return True  # from here on it matches anything: it may overlap
        if index >= len(ours):
            return False
        if "{" not in segment and "{" not in ours[index] and segment != ours[index]:
            return False
    return len(ours) == len(theirs)


def _known(matched: Any) -> bool:
    """A route whose pattern is all the router matches a path by (and then its method)."""
    if isinstance(matched, _CONTEXT):
        return isinstance(matched.original_route, APIRoute)
    return isinstance(matched, Route | Mount)


def _in_order(routes: list[BaseRoute], routers: list[APIRouter]) -> Iterator[tuple[Any, Any]]:
    """(the route as declared, what the router matches it by) for every route, in the order the
    router tries them; `routers` gathers every router met."""
    for route in routes:
        if isinstance(route, _INCLUDED):
            routers.append(route.original_router)
            for candidate in route.effective_candidates():
                if isinstance(candidate, _INCLUDED):
                    yield from _in_order([candidate], routers)
                elif candidate.starlette_route is not None:
                    yield candidate.original_route, candidate.starlette_route
                else:
                    yield candidate.original_route, candidate
        else:
            yield route, route


def _hot(route: Any, matched: Any, method: str, tried: list[Tried]) -> HotRoute | None:
    if not (
        isinstance(route, LeanRoute) and (isinstance(matched, APIRoute) or isinstance(matched, _CONTEXT))
    ):
        return None
    plan = route.plan_for(matched)
    if plan is None or getattr(matched, "max_body_size", None) is not None:
        return None
    if not all(isinstance(c, StringConvertor) for c in matched.param_convertors.values()):
        return None
    before = tuple(t.pattern for t in tried if t.takes(method) and _segments_overlap(matched.path_format, t))
    return HotRoute(
        route, matched.endpoint, matched.path_regex, plan, matched.dependency_overrides_provider, before
    )


def _read(app: FastAPI, routers: list[APIRouter]) -> dict[str, list[HotRoute]]:
    by_method: dict[str, list[HotRoute]] = {}
    tried: list[Tried] = []
    for route, matched in _in_order(app.router.routes, routers):
        if isinstance(matched, WebSocketRoute | APIWebSocketRoute):
            continue  # never an HTTP request's
        if not _known(matched):
            break  # nothing after it can be shown to be the router's first match
        methods = frozenset(matched.methods) if getattr(matched, "methods", None) else None
        for method in sorted(methods or ()):
            if (hot := _hot(route, matched, method, tried)) is not None:
                by_method.setdefault(method, []).append(hot)
        tried.append(Tried(matched.path_regex, matched.path_format, matched.param_convertors, methods))
    return by_method


def hot_table(app: FastAPI) -> HotTable:
    """The hot routes of the app's routes as they are now; none where FastAPI's routing is not
    as this module knows it (then every request takes the full stack, as without hot paths)."""
    routers: list[APIRouter] = [app.router]
    try:
        by_method = _read(app, routers)
    except (AttributeError, TypeError) as e:
        log.warning("no hot paths: this FastAPI's routing is not as api/hot_routes.py knows it (%r)", e)
        by_method = {}
    return HotTable(
        {method: tuple(hots) for method, hots in by_method.items()},
        tuple(routers),
        _versions(routers),
        len(app.router.routes),
    )
