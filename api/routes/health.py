"""Liveness and readiness probes."""

from fastapi import APIRouter, Request
from redis.exceptions import RedisError

from api.responses import NumpyJSONResponse
from batching.heartbeat import live_workers

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> NumpyJSONResponse:
    """Ready when Redis answers and at least one worker sent a heartbeat recently."""
    plane = request.app.state.dataplane
    try:
        workers = await live_workers(plane.store.redis, plane.settings.heartbeat_interval_s)
    except RedisError as e:
        return NumpyJSONResponse({"status": "unavailable", "redis": repr(e), "workers": 0}, 503)
    status = 200 if workers > 0 else 503
    return NumpyJSONResponse({"status": "ready" if workers else "no workers", "workers": workers}, status)
