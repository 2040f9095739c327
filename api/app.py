"""Builds the FastAPI app for one Settings object; its lifespan builds every service once."""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import redis as sync_redis
import redis.asyncio as aioredis
from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel

from api.auth import Authenticator, KeyCache
from api.body import JsonBodies
from api.deps import Services, same_origin_only
from api.errors import install_error_handlers
from api.hot_path import HotPaths
from api.http_errors import install_http_error_handler
from api.job_parser import JobBodyParser
from api.observe import RequestObserver
from api.openapi import add_request_schemas
from api.responses import NumpyJSONResponse
from api.routes import admin, audit, bulk_jobs, dashboard, health, jobs, keys, metrics, models, oip, uploads
from api.routes.uploads import UploadByReference, UploadCreate, UploadFinish
from api.schemas import AliasUpdate, JobCreate
from api.services.audit_trail import AuditTrail
from api.services.bulk import BulkService
from api.services.health import HealthService
from api.services.inference import InferenceService
from api.services.jobs import JobService
from api.services.keys import KeyService
from api.services.metrics import MetricsService
from api.services.models import ModelService
from api.services.operations import OperationsService
from api.services.registry import AsyncRegistry
from api.services.version_health import VersionHealth
from api.services.webhooks import WebhookIntake
from api.upload import chunked_uploads, staging_root, sweep_uploads
from batching.bulk.store import BulkStore
from batching.connection import connect, connect_sync, rq_settings
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
from maas.core.errors import MaasError
from maas.core.file_store import SealingFileStore, configured_store
from maas.core.sealing import Sealer, announce
from maas.core.settings import Settings
from maas.core.url_safety import webhook_policy
from maas.models import store as model_store
from maas.models.registry import ModelRepository
from maas.models.remote import repository_dir, repository_root

STALE_STAGING_S = 3600.0  # no upload takes this long; anything older was left by a dead process

log = logging.getLogger(__name__)


def sweep_leftovers(settings: Settings) -> None:
    sweep_uploads(staging_root(settings), STALE_STAGING_S)
    chunked_uploads(settings).sweep()
    model_store.sweep_staging(settings.model_repository, STALE_STAGING_S)


def build_services(
    settings: Settings,
    redis: aioredis.Redis,
    events: JobEvents,
    sync_clients: tuple[sync_redis.Redis, sync_redis.Redis],
    auth: tuple[AuthMode, bytes],
    rq_queues: aioredis.Redis | None = None,
) -> Services:
    """Every service of the app, sharing one registry (a change made through one is seen by all);
    `sync_clients`: synchronous clients of the main Redis and of rq's; `auth`: the mode and the
    key hash secret; `rq_queues`: an async client of rq's own Redis, when it has one (the queue
    gauges read its queue lengths)."""
    sync_main, rq_redis = sync_clients
    # Aliases, their history, retire marks and version numbers live in Redis, shared by every
    # API process on every host (the repository's files are migrated on first use).
    root = repository_dir(settings)
    state = RedisModelState(sync_main, root)
    registry = AsyncRegistry(ModelRepository(root, state=state), settings.model_repository_url)
    webhooks = WebhookIntake(signing=bool(settings.webhook_secrets), policy=webhook_policy(settings))
    audit_trail = AuditTrail(redis)
    key_store = KeyStore(redis, auth[1])
    sealer = Sealer.from_setting(settings.data_keys)
    announce(sealer, "api")
    job_store = JobStore(
        redis,
        settings.result_ttl_s,
        sealer,
        (settings.redis_wait_replicas, settings.redis_wait_timeout_ms),
        settings.redis_cluster,
    )
    jobs = JobService(
        settings=settings,
        registry=registry,
        store=job_store,
        events=events,
        idempotency=IdempotencyKeys(redis, settings.idempotency_retention_s),
        webhooks=webhooks,
        health=VersionHealth(redis, settings.heartbeat_interval_s),
        audit=audit_trail,
        index=JobIndex(redis, sealer),
    )
    health = HealthService(redis, settings.heartbeat_interval_s)
    bulk_store = BulkStore(redis, settings.bulk_retention_s)
    return Services(
        settings=settings,
        bodies=JsonBodies(settings.max_body_bytes, settings.json_offload_bytes, JobBodyParser()),
        jobs=jobs,
        inference=InferenceService(settings, registry, jobs, health, redis),
        bulk=BulkService(
            settings=settings,
            registry=registry,
            store=bulk_store,
            files=SealingFileStore(
                configured_store(settings),
                sealer,
            ),
            sync_redis=rq_redis,
            webhooks=webhooks,
            audit=audit_trail,
            slots=BulkSlots(redis, settings.bulk_retention_s),
        ),
        models=ModelService(registry=registry, redis=redis, settings=settings, audit=audit_trail),
        audit=audit_trail,
        health=health,
        keys=KeyService(key_store, audit_trail),
        auth=Authenticator(settings, auth[0], KeyCache(key_store, settings.key_cache_s), RateLimiter(redis)),
        operations=OperationsService(
            redis,
            registry,
            job_store,
            bulk_store,
            audit_trail,
            settings.heartbeat_interval_s,
            settings.webhook_redeliver_interval_s,
            rq_queues,
        ),
        metrics=MetricsService(redis, registry, settings.heartbeat_interval_s, rq_queues),
    )


@asynccontextmanager
async def followed_repository(settings: Settings):
    """With MAAS_MODEL_REPOSITORY_URL: the repository's cache synced before the API serves (a
    store that cannot be read is logged; what was cached serves) and every MAAS_MODEL_RESCAN_S
    while it does."""
    _, mirror = repository_root(settings)
    if mirror is None:
        yield
        return
    try:
        await asyncio.to_thread(mirror.sync)
    except (OSError, MaasError) as e:
        log.error("cannot read the model repository %s: %r", mirror.url, e)
    following = asyncio.create_task(mirror.follow(settings.model_rescan_s, asyncio.Event()))
    try:
        yield
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following


# Served beside HTTP for the app's lifespan, on its services (the gRPC server: api/rpc/server.py).
Sidecar = Callable[[Settings, Services], AbstractAsyncContextManager[None]]


def create_app(settings: Settings, sidecars: Sequence[Sidecar] = (), hot_paths: bool = True) -> FastAPI:
    """The app; `hot_paths=False`: without the hot paths (api/hot_path.py), every request through
    the full stack (their tests and bench compare the two)."""
    redis_url = settings.redis_url
    if not redis_url:
        raise ValueError("the API needs MAAS_REDIS_URL (or run `maas serve`, which starts Redis)")
    mode = auth_mode(settings.auth, settings.host)  # ValueError on a non-loopback host without MAAS_AUTH

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        redis = connect(settings)
        events = JobEvents(redis, sharded=settings.redis_cluster)
        events.start()
        await asyncio.to_thread(sweep_leftovers, settings)
        sync_main = connect_sync(settings, socket_connect_timeout=2)
        rq_redis = connect_sync(rq_settings(settings), socket_connect_timeout=2)
        secret = await asyncio.to_thread(key_hash_secret, settings)
        clients = (sync_main, rq_redis)
        rq_queues = connect(rq_settings(settings), max_connections=4) if settings.rq_redis_url else None
        app.state.services = services = build_services(
            settings, redis, events, clients, (mode, secret), rq_queues
        )
        try:
            async with AsyncExitStack() as stack:
                await stack.enter_async_context(followed_repository(settings))
                for sidecar in sidecars:
                    await stack.enter_async_context(sidecar(settings, services))
                yield
        finally:
            await services.bodies.parser.close()
            rq_redis.close()
            sync_main.close()
            if rq_queues is not None:
                await rq_queues.aclose()
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
    request_schemas: list[type[BaseModel]] = [
        JobCreate,
        AliasUpdate,
        UploadCreate,
        UploadFinish,
        UploadByReference,
    ]
    add_request_schemas(app, request_schemas, server_paths=bool(settings.bulk_input_dirs))
    install_error_handlers(app, settings)
    install_http_error_handler(app)
    if hot_paths:
        app.add_middleware(HotPaths, fastapi=app)
    else:
        app.add_middleware(RequestObserver)
    for router in (
        jobs.router,
        bulk_jobs.router,
        models.router,
        uploads.router,
        audit.router,
        keys.router,
        health.router,
        oip.router,
        metrics.router,
        admin.router,
        dashboard.router,
    ):
        app.include_router(router)
    return app
