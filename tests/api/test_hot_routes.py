"""The hot routes' table (api/hot_routes.py): a request goes to a hot route only where the router
would pick that route; any route tried before it that takes the request answers it, as it does
without hot paths, however it came to be there. Small apps of their own, over ASGI."""

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from starlette.responses import PlainTextResponse, Response
from starlette.routing import compile_path

from api import hot_routes
from api.hot_path import HotPaths
from api.hot_routes import Tried, _segments_overlap
from api.lean_route import LeanRoute
from api.observe import RequestObserver
from tests.support.asgi_server import Routed


async def thing(request: Request, name: str) -> Response:
    return PlainTextResponse(f"thing {name}")


def answering(text: str):
    async def answer() -> Response:
        return PlainTextResponse(text)

    return answer


async def mounted(scope, receive, send) -> None:
    await PlainTextResponse(f"mounted {scope['path']}")(scope, receive, send)


def hot_router() -> APIRouter:
    router = APIRouter(route_class=LeanRoute)
    router.add_api_route("/things/{name}", thing, methods=["GET"])
    return router


def finished(app: FastAPI, hot_paths: bool) -> FastAPI:
    if hot_paths:
        app.add_middleware(HotPaths, fastapi=app)
    else:
        app.add_middleware(RequestObserver)
    return app


async def answers(app: FastAPI, paths: list[str]) -> tuple[list[tuple[int, str]], int]:
    """What the app answers to GET each path, and how many of them its router saw."""
    routed = Routed(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        found = [await client.get(path) for path in paths]
    return [(r.status_code, r.text) for r in found], routed.count


def earlier_routes(hot_paths: bool) -> FastAPI:
    app = FastAPI()
    early = APIRouter()
    early.add_api_route("/things/special", answering("special"), methods=["GET"])
    early.add_api_route("/things/posted", answering("posted"), methods=["POST"])
    app.mount("/things/files", mounted)
    app.include_router(early)
    app.include_router(hot_router())
    return finished(app, hot_paths)


@pytest.mark.parametrize("hot_paths", [False, True])
async def test_a_route_tried_first_keeps_its_paths(hot_paths):
    paths = ["/things/special", "/things/posted", "/things/files", "/things/other", "/things/files/a/b"]
    found, routed = await answers(earlier_routes(hot_paths), paths)
    assert found == [
        (200, "special"),
        (200, "thing posted"),  # a POST route does not stop the router from trying the next one
        (200, "thing files"),
        (200, "thing other"),
        (200, "mounted /things/files/a/b"),
    ]
    assert routed == (2 if hot_paths else 5)  # the hot route's own paths never reach the router


@pytest.mark.parametrize("hot_paths", [False, True])
async def test_a_route_added_after_requests_shadows_a_hot_route(hot_paths):
    app = FastAPI()
    early = APIRouter()
    app.include_router(early)
    app.include_router(hot_router())
    finished(app, hot_paths)
    assert (await answers(app, ["/things/late"]))[0] == [(200, "thing late")]
    early.add_api_route("/things/late", answering("late"), methods=["GET"])
    app.router.routes.insert(0, APIRoute("/things/first", answering("first"), methods=["GET"]))  # by hand
    found, routed = await answers(app, ["/things/late", "/things/first", "/things/other"])
    assert found == [(200, "late"), (200, "first"), (200, "thing other")]
    assert routed == (2 if hot_paths else 3)


@pytest.mark.parametrize("hot_paths", [False, True])
async def test_after_a_route_it_cannot_reason_about_nothing_is_hot(hot_paths):
    app = FastAPI()
    app.host("other.example", FastAPI())
    app.include_router(hot_router())
    found, routed = await answers(finished(app, hot_paths), ["/things/a"])
    assert found == [(200, "thing a")] and routed == 1


async def test_a_middleware_inside_the_hot_paths_sees_every_request():
    seen = []

    class Inner:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            seen.append(scope.get("path"))
            await self.app(scope, receive, send)

    app = FastAPI()
    app.include_router(hot_router())
    app.add_middleware(Inner)
    found, routed = await answers(finished(app, True), ["/things/a"])
    assert found == [(200, "thing a")] and routed == 1 and seen == ["/things/a"]


@pytest.mark.parametrize(
    ("hot", "other", "overlap"),
    [
        ("/v1/jobs", "/v1/jobs", True),
        ("/v1/jobs", "/v1/jobs/", False),
        ("/v1/jobs/{job_id}", "/v1/jobs/special", True),
        ("/v1/jobs/{job_id}", "/v1/models/{name}", False),
        ("/v1/jobs/{job_id}", "/v1/jobs/{id:int}", True),
        ("/v1/jobs/{job_id}", "/v1/jobs/{id}.json", True),
        ("/v1/jobs/{job_id}", "/v1/jobs/{job_id}/cancel", False),
        ("/v2/models/{name}/infer", "/v2/models/{name}/ready", False),
        ("/v2/models/{name}/infer", "/v2/{rest:path}", True),
        ("/v2/models/{name}/infer", "/v1/{rest:path}", False),
        ("/v2/models/{name}/infer", "/static/{path:path}", False),
    ],
)
def test_two_templates_overlap_where_one_path_could_match_both(hot, other, overlap):
    pattern, template, convertors = compile_path(other)
    assert _segments_overlap(compile_path(hot)[1], Tried(pattern, template, convertors, None)) is overlap


async def test_a_fastapi_whose_routing_is_unknown_gets_no_hot_paths(monkeypatch, caplog):
    """Its included routers not recognised, or read with an error: every request to the router."""
    app = earlier_routes(True)
    monkeypatch.setattr(hot_routes, "_INCLUDED", ())
    found, routed = await answers(app, ["/things/special", "/things/other"])
    assert found == [(200, "special"), (200, "thing other")] and routed == 2

    def unreadable(*args):
        raise AttributeError("'_IncludedRouter' object has no attribute 'effective_candidates'")

    app = earlier_routes(True)
    monkeypatch.setattr(hot_routes, "_in_order", unreadable)
    found, routed = await answers(app, ["/things/other", "/things/other"])
    assert found == [(200, "thing other")] * 2 and routed == 2
    assert [r.getMessage() for r in caplog.records if r.name == "api.hot_routes"] == [
        "no hot paths: this FastAPI's routing is not as api/hot_routes.py knows it "
        "(AttributeError(\"'_IncludedRouter' object has no attribute 'effective_candidates'\"))"
    ]  # once, not per request
