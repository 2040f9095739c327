"""Builds the FastAPI app for one Settings object."""

from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI

from api.dataplane import DataPlane
from api.errors import install_error_handlers
from api.responses import NumpyJSONResponse
from api.routes import health, jobs, models
from batching.events import JobEvents
from batching.store import JobStore
from maas.registry import ModelRepository
from maas.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    if not settings.redis_url:
        raise ValueError("the API needs MAAS_REDIS_URL (or run `maas serve`, which starts Redis)")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        redis = aioredis.from_url(
            settings.redis_url, socket_connect_timeout=2, socket_timeout=10,
            health_check_interval=30,
        )
        events = JobEvents(redis)
        events.start()
        app.state.dataplane = DataPlane(
            settings, ModelRepository(settings.model_repository),
            JobStore(redis, settings.result_ttl_s), events,
        )
        try:
            yield
        finally:
            await events.stop()
            await redis.aclose()

    app = FastAPI(
        title="maas",
        summary="Asynchronous, dynamically batched model inference",
        version="0.1.0",
        default_response_class=NumpyJSONResponse,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for router in (jobs.router, models.router, health.router):
        app.include_router(router)
    return app
