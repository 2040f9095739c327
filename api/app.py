"""Builds the FastAPI app for one Settings object; its lifespan builds every service once."""

import asyncio
import contextlib
from contextlib import asynccontextmanager

import redis as sync_redis
import redis.asyncio as aioredis
from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from api.auth import Authenticator, KeyCache
from api.body import JsonBodies
from api.deps import Services, same_origin_only
from api.errors import install_error_handlers
from api.job_parser import JobBodyParser
from api.middleware import RateLimitHeaders
from api.openapi import add_request_schemas
from api.responses import NumpyJSONResponse
from api.routes import audit, bulk_jobs, health, jobs, keys, models
from api.schemas import AliasUpdate, JobCreate
from api.services.audit_trail import AuditTrail
from api.services.bulk import BulkService
from api.services.health import HealthService
from api.services.jobs import JobService
from api.services.keys import KeyService
from api.services.models import ModelService
from api.services.registry import AsyncRegistry
from api.services.version_health import VersionHealth
from api.services.webhooks import WebhookIntake
from api.upload import staging_root, sweep_uploads
from batching.bulk.store import BulkStore
from batching.connection import connect, connect_sync
from batching.jobs.events import JobEvents
from batching.jobs.idempotency import IdempotencyKeys
from batching.jobs.listing import JobIndex
from batching.jobs.store import JobStore
from batching.model_state import RedisModelState
from batching.tenancy.bulk_slots import BulkSlots
from batching.tenancy.rate import RateLimiter
from batching.tenancy.secret import key_hash_secret
from batching.tenancy.store import KeyStore
from maas.core.access import AuthMode, auth_mode
from maas.core.file_store import LocalFileStore, SealingFileStore
from maas.core.sealing import Sealer, announce
from maas.core.settings import Settings
from maas.core.url_safety import webhook_policy
from maas.models import store as model_store
from maas.models.registry import ModelRepository

STALE_STAGING_S = 3600.0  # no upload takes this long; anything older was left by a dead process


def sweep_leftovers(settings: Settings) -> None:
    sweep_uploads(staging_root(settings), STALE_STAGING_S)
    model_store.sweep_staging(settings.model_repository, STALE_STAGING_S)


def build_services(
    settings: Settings,
    redis: aioredis.Redis,
    events: JobEvents,
    rq_redis: sync_redis.Redis,
    auth: tuple[AuthMode, bytes],
) -> Services:
    """Every service of the app, sharing one registry (a change made through one is seen by all);
    `auth`: the mode and the key hash secret."""
    # Aliases, their history, retire marks and version numbers live in Redis, shared by every
    # API process on every host (the repository's files are migrated on first use).
    state = RedisModelState(rq_redis, settings.model_repository)
    registry = AsyncRegistry(ModelRepository(settings.model_repository, state=state))
    webhooks = WebhookIntake(signing=bool(settings.webhook_secrets), policy=webhook_policy(settings))
    audit_trail = AuditTrail(redis)
    key_store = KeyStore(redis, auth[1])
    sealer = Sealer.from_setting(settings.data_keys)
    announce(sealer, "api")
    return Services(
        settings=settings,
        bodies=JsonBodies(settings.max_body_bytes, settings.json_offload_bytes, JobBodyParser()),
        jobs=JobService(
            settings=settings,
            registry=registry,
            store=JobStore(
                redis,
                settings.result_ttl_s,
                sealer,
                (settings.redis_wait_replicas, settings.redis_wait_timeout_ms),
            ),
            events=events,
            idempotency=IdempotencyKeys(redis, settings.idempotency_retention_s),
            webhooks=webhooks,
            health=VersionHealth(redis, settings.heartbeat_interval_s),
            audit=audit_trail,
            index=JobIndex(redis, sealer),
        ),
        bulk=BulkService(
            settings=settings,
            registry=registry,
            store=BulkStore(redis, settings.bulk_retention_s),
            files=SealingFileStore(
                LocalFileStore(settings.bulk_store_dir or settings.state_dir / "bulk"), sealer
            ),
            sync_redis=rq_redis,
            webhooks=webhooks,
            audit=audit_trail,
            slots=BulkSlots(redis, settings.bulk_retention_s),
        ),
        models=ModelService(registry=registry, redis=redis, settings=settings, audit=audit_trail),
        audit=audit_trail,
        health=HealthService(redis, settings.heartbeat_interval_s),
        keys=KeyService(key_store, audit_trail),
        auth=Authenticator(settings, auth[0], KeyCache(key_store, settings.key_cache_s), RateLimiter(redis)),
    )


def create_app(settings: Settings) -> FastAPI:
    redis_url = settings.redis_url
    if not redis_url:
        raise ValueError("the API needs MAAS_REDIS_URL (or run `maas serve`, which starts Redis)")
    mode = auth_mode(settings.auth, settings.host)  # ValueError on a non-loopback host without MAAS_AUTH

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        redis = connect(settings)
        events = JobEvents(redis)
        events.start()
        await asyncio.to_thread(sweep_leftovers, settings)
        rq_redis = connect_sync(settings, socket_connect_timeout=2)
        secret = await asyncio.to_thread(key_hash_secret, settings)
        app.state.services = services = build_services(settings, redis, events, rq_redis, (mode, secret))
        try:
            yield
        finally:
            await services.bodies.parser.close()
            rq_redis.close()
            await events.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(redis.aclose(), 2.0)

    # /docs and /redoc load Swagger UI and ReDoc from the API (/static-offline-docs), not a CDN,
    # so they work offline and behind a firewall.
    app = FastAPIOffline(
        title="maas",
        summary="Asynchronous, dynamically batched model inference",
        version="0.1.0",
        default_response_class=NumpyJSONResponse,
        lifespan=lifespan,
        dependencies=[Depends(same_origin_only)],
    )
    add_request_schemas(app, [JobCreate, AliasUpdate])
    install_error_handlers(app, settings)
    app.add_middleware(RateLimitHeaders)
    for router in (jobs.router, bulk_jobs.router, models.router, audit.router, keys.router, health.router):
        app.include_router(router)
    return app
