"""Builds the FastAPI app for one Settings object; its lifespan builds every service once."""

import asyncio
import contextlib
from contextlib import asynccontextmanager

import redis as sync_redis
import redis.asyncio as aioredis
from fastapi import Depends, FastAPI

from api.body import JsonBodies
from api.deps import Services, same_origin_only
from api.errors import install_error_handlers
from api.job_parser import JobBodyParser
from api.responses import NumpyJSONResponse
from api.routes import audit, bulk_jobs, health, jobs, models
from api.services.audit_trail import AuditTrail
from api.services.bulk import BulkService
from api.services.health import HealthService
from api.services.jobs import JobService
from api.services.models import ModelService
from api.services.registry import AsyncRegistry
from api.services.version_health import VersionHealth
from api.services.webhooks import WebhookIntake
from api.upload import staging_root, sweep_uploads
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
    sweep_uploads(staging_root(settings), STALE_STAGING_S)
    model_store.sweep_staging(settings.model_repository, STALE_STAGING_S)


def build_services(
    settings: Settings, redis: aioredis.Redis, events: JobEvents, rq_redis: sync_redis.Redis
) -> Services:
    """Every service of the app, sharing one registry (a change made through one is seen by all)."""
    registry = AsyncRegistry(ModelRepository(settings.model_repository))
    webhooks = WebhookIntake(signing=bool(settings.webhook_secrets), policy=webhook_policy(settings))
    audit_trail = AuditTrail(redis)
    return Services(
        settings=settings,
        bodies=JsonBodies(settings.max_body_bytes, settings.json_offload_bytes, JobBodyParser()),
        jobs=JobService(
            settings=settings,
            registry=registry,
            store=JobStore(redis, settings.result_ttl_s),
            events=events,
            idempotency=IdempotencyKeys(redis, settings.idempotency_retention_s),
            webhooks=webhooks,
            health=VersionHealth(redis, settings.heartbeat_interval_s),
        ),
        bulk=BulkService(
            settings=settings,
            registry=registry,
            store=BulkStore(redis, settings.bulk_retention_s),
            files=LocalFileStore(settings.bulk_store_dir or settings.state_dir / "bulk"),
            sync_redis=rq_redis,
            webhooks=webhooks,
        ),
        models=ModelService(registry=registry, redis=redis, settings=settings, audit=audit_trail),
        audit=audit_trail,
        health=HealthService(redis, settings.heartbeat_interval_s),
    )


def create_app(settings: Settings) -> FastAPI:
    redis_url = settings.redis_url
    if not redis_url:
        raise ValueError("the API needs MAAS_REDIS_URL (or run `maas serve`, which starts Redis)")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        redis = connect(settings)
        events = JobEvents(redis)
        events.start()
        await asyncio.to_thread(sweep_leftovers, settings)
        rq_redis = connect_sync(settings, socket_connect_timeout=2)
        app.state.services = services = build_services(settings, redis, events, rq_redis)
        try:
            yield
        finally:
            await services.bodies.parser.close()
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
        dependencies=[Depends(same_origin_only)],
    )
    install_error_handlers(app, settings)
    for router in (jobs.router, bulk_jobs.router, models.router, audit.router, health.router):
        app.include_router(router)
    return app
