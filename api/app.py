"""Builds the FastAPI app for one Settings object."""

import asyncio
import contextlib
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.responses import NumpyJSONResponse
from api.routes import audit, bulk_jobs, health, jobs, models
from api.services.bulk import BulkPlane
from api.services.jobs import DataPlane
from api.services.model_upload import sweep_uploads
from api.services.version_health import VersionHealth
from batching.bulk.store import BulkStore
from batching.connection import connect, connect_sync
from batching.jobs.events import JobEvents
from batching.jobs.idempotency import IdempotencyKeys
from batching.jobs.store import JobStore
from maas.core.file_store import LocalFileStore
from maas.core.settings import Settings
from maas.core.url_safety import webhook_policy
from maas.models import store as model_store
from maas.models.registry import ModelRepository

STALE_STAGING_S = 3600.0  # no upload takes this long; anything older was left by a dead process


def sweep_leftovers(settings: Settings) -> None:
    sweep_uploads(settings.state_dir / "uploads", STALE_STAGING_S)
    model_store.sweep_staging(settings.model_repository, STALE_STAGING_S)


def create_app(settings: Settings) -> FastAPI:
    if not settings.redis_url:
        raise ValueError("the API needs MAAS_REDIS_URL (or run `maas serve`, which starts Redis)")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        redis = connect(settings)
        events = JobEvents(redis)
        events.start()
        app.state.dataplane = DataPlane(
            settings,
            ModelRepository(settings.model_repository),
            JobStore(redis, settings.result_ttl_s),
            events,
            IdempotencyKeys(redis, settings.idempotency_retention_s),
            webhook_policy(settings),
            VersionHealth(redis, settings.heartbeat_interval_s),
        )
        await asyncio.to_thread(sweep_leftovers, settings)
        rq_redis = connect_sync(settings, socket_connect_timeout=2)
        app.state.bulk = BulkPlane(
            app.state.dataplane,
            BulkStore(redis, settings.bulk_retention_s),
            LocalFileStore(settings.bulk_store_dir or settings.state_dir / "bulk"),
            rq_redis,
        )
        try:
            yield
        finally:
            rq_redis.close()
            await events.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(redis.aclose(), 2.0)

    app = FastAPI(
        title="maas",
        summary="Asynchronous, dynamically batched model inference",
        version="0.1.0",
        default_response_class=NumpyJSONResponse,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for router in (jobs.router, bulk_jobs.router, models.router, audit.router, health.router):
        app.include_router(router)
    return app
