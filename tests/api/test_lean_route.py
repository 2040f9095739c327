"""LeanRoute (api/lean_route.py): the hot routes run a plan made once, the plan keeps the app's
own guards in FastAPI's order, and it solves exactly what FastAPI's own solve would."""

import contextlib
from contextlib import AsyncExitStack
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, Header, Query, Request
from fastapi.dependencies.utils import get_dependant, solve_dependencies
from pydantic import BaseModel
from starlette.responses import Response

from api.app import create_app
from api.deps import same_origin_only
from api.lean_route import LeanRoute, plan_of
from api.routes import jobs, oip

EVIL = "https://evil.example"


class Filter(BaseModel):
    limit: int = 20


SMALL_PAGE = Filter(limit=5)  # FastAPI validates an empty query into Filter(limit=20), not this
# Header sets a planned route may see: none, each, upper case, repeated, empty.
HEADER_SETS = [
    [],
    [(b"prefer", b"wait=5"), (b"idempotency-key", b"k-1"), (b"traceparent", b"00-ab-cd-01")],
    [(b"PREFER", b"wait=1"), (b"Inference-Header-Content-Length", b"12")],
    [(b"prefer", b"wait=1"), (b"prefer", b"respond-async"), (b"idempotency-key", b"")],
    [(b"origin", b"http://maas"), (b"host", b"maas")],
]


def route_named(router, name: str) -> LeanRoute:
    return next(r for r in router.routes if r.name == name)


def request_for(app, headers: list, path_params: dict | None = None) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": headers,
        "query_string": b"",
        "path_params": path_params or {},
        "app": app,
        "fastapi_inner_astack": AsyncExitStack(),
        "fastapi_function_astack": AsyncExitStack(),
    }
    return Request(scope)


async def fastapi_solve(dependant, request: Request) -> dict:
    solved = await solve_dependencies(
        request=request,
        dependant=dependant,
        async_exit_stack=request.scope["fastapi_inner_astack"],
        embed_body_fields=False,
    )
    assert not solved.errors
    return solved.values


@contextlib.asynccontextmanager
async def served_app(settings):
    """The app with its lifespan, and every hot route's handler built (FastAPI builds an
    included route's handler on its first request)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://maas") as client:
            for path in ("/v1/jobs", "/v2/models/digits/infer", "/v2/models/digits/versions/1/infer"):
                await client.post(path, json={})
            for path in ("/v1/jobs", "/v1/jobs/unknown"):
                await client.get(path)
            await client.delete("/v1/jobs/unknown")
        yield app


@pytest.mark.parametrize(
    ("router", "name", "path_params"),
    [
        (jobs.router, "create_job", {}),
        (oip.router, "infer_latest", {"name": "digits"}),
        (oip.router, "infer_version", {"name": "digits", "version": "stable"}),
        (jobs.router, "read_job", {"job_id": "01M8M76YG72CF2W8C2TBH890J1-1s2"}),
        (jobs.router, "list_jobs", {}),
        (jobs.router, "cancel_job", {"job_id": "01M8M76YG72CF2W8C2TBH890J1-1s2"}),
    ],
)
async def test_a_hot_routes_plan_solves_what_fastapi_solves(settings, redis, router, name, path_params):
    async with served_app(settings) as app:
        route = route_named(router, name)
        assert route.lean is not None, f"{name} lost its plan: FastAPI solves it per request again"
        dependant, plan = route.lean
        assert plan.steps[0].call is same_origin_only  # the app's own guard, first, as in FastAPI
        for headers in HEADER_SETS:
            ours = await plan.solve(request_for(app, headers, path_params))
            theirs = await fastapi_solve(dependant, request_for(app, headers, path_params))
            assert ours.keys() == theirs.keys()
            assert {k: v for k, v in ours.items() if k != "request"} == {
                k: v for k, v in theirs.items() if k != "request"
            }


async def test_a_query_string_is_left_to_fastapi_to_validate(api):
    """Without one a planned route's query parameters take their defaults; with one, FastAPI's
    handler validates it as before (a plan giving defaults would answer 404 or 200 here)."""
    assert (await api.get("/v1/jobs/01M8M76YG72CF2W8C2TBH890J1-1s2")).status_code == 404
    for path in ("/v1/jobs/01M8M76YG72CF2W8C2TBH890J1-1s2?wait=-1", "/v1/jobs?limit=0"):
        response = await api.get(path)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_request"


async def test_a_cross_site_submit_is_refused_on_the_planned_routes(api):
    body = b'{"model": "digits", "inputs": [[0]]}'
    for path in ("/v1/jobs", "/v2/models/digits/infer"):
        response = await api.post(path, content=body, headers={"Origin": EVIL})
        assert response.status_code == 403, response.text


def test_what_a_plan_cannot_hold_is_left_to_fastapi():
    async def with_a_constrained_header(x: str | None = Header(None, max_length=3)) -> Response:
        return Response()

    async def with_a_required_header(x: str = Header()) -> Response:
        return Response()

    def sync_dependency(request: Request) -> int:
        return 1

    async def with_a_sync_dependency(n: int = Depends(sync_dependency)) -> Response:
        return Response()

    async def returning_a_dict(request: Request) -> dict:
        return {}

    async def with_a_required_query(request: Request, wait: float = Query()) -> Response:
        return Response()

    async def with_a_query_model(request: Request, q: Annotated[Filter, Query()] = SMALL_PAGE) -> Response:
        return Response()

    refused = (with_a_required_query, with_a_query_model, with_a_constrained_header, with_a_required_header)
    for call in (*refused, returning_a_dict):
        assert plan_of(get_dependant(path="/", call=call)) is None, call.__name__
    assert plan_of(get_dependant(path="/", call=with_a_sync_dependency)) is None

    async def plain(request: Request, x: str | None = Header(None), wait: float = Query(0, ge=0)) -> Response:
        return Response()

    assert plan_of(get_dependant(path="/", call=plain)) is not None
