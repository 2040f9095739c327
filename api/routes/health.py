"""Liveness and readiness probes."""

from fastapi import APIRouter
from redis.exceptions import RedisError

from api.deps import Health
from api.responses import NumpyJSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(health: Health) -> NumpyJSONResponse:
    """Ready when Redis answers and at least one worker sent a heartbeat recently."""
    try:
        workers = await health.live_workers()
    except RedisError as e:
        return NumpyJSONResponse({"status": "unavailable", "redis": repr(e), "workers": 0}, 503)
    status = 200 if workers > 0 else 503
    return NumpyJSONResponse({"status": "ready" if workers else "no workers", "workers": workers}, status)
