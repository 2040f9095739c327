"""What a route may ask for, as FastAPI dependencies: api/app.py builds every service once (in
its lifespan) and keeps it on app.state; a route names the one it needs (`jobs: Jobs`) and calls
one method of it. No route reads app.state itself.

Every /v1 route also names the scope it needs, as its caller: `caller: JobsWriter` is
`requires(Scope.JOBS_WRITE)`, which authenticates the request (401), checks the scope (403) and
the key's rate (429) before the route runs, and hands the route the Caller."""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from api.auth import Authenticator
from api.body import JsonBodies
from api.guard import check_origin
from api.services.audit_trail import AuditTrail
from api.services.bulk import BulkService
from api.services.health import HealthService
from api.services.inference import InferenceService
from api.services.jobs import JobService
from api.services.keys import KeyService
from api.services.metrics import MetricsService
from api.services.models import ModelService
from api.services.operations import OperationsService
from maas.core.access import Caller, Scope
from maas.core.settings import Settings


@dataclass(frozen=True)
class Services:
    """Everything app.state holds for the routes, built once per app."""

    settings: Settings
    bodies: JsonBodies
    jobs: JobService
    bulk: BulkService
    models: ModelService
    audit: AuditTrail
    health: HealthService
    keys: KeyService
    auth: Authenticator
    operations: OperationsService
    inference: InferenceService
    metrics: MetricsService


# Async, so FastAPI calls them on the event loop rather than handing each to a thread.
async def _services(request: Request) -> Services:
    return request.app.state.services


async def _settings(request: Request) -> Settings:
    return (await _services(request)).settings


async def _bodies(request: Request) -> JsonBodies:
    return (await _services(request)).bodies


async def _jobs(request: Request) -> JobService:
    return (await _services(request)).jobs


async def _bulk(request: Request) -> BulkService:
    return (await _services(request)).bulk


async def _models(request: Request) -> ModelService:
    return (await _services(request)).models


async def _audit(request: Request) -> AuditTrail:
    return (await _services(request)).audit


async def _metrics(request: Request) -> MetricsService:
    return (await _services(request)).metrics


async def _health(request: Request) -> HealthService:
    return (await _services(request)).health


async def _keys(request: Request) -> KeyService:
    return (await _services(request)).keys


async def _operations(request: Request) -> OperationsService:
    return (await _services(request)).operations


async def _inference(request: Request) -> InferenceService:
    return (await _services(request)).inference


def requires(scope: Scope) -> Any:
    """The dependency of a route needing `scope`: the Caller, or 401/403/429."""

    async def caller(request: Request) -> Caller:
        return await (await _services(request)).auth.authorize(request, scope)

    caller.scope = scope  # type: ignore[attr-defined]  # read by the test that every route has one
    return Depends(caller)


async def same_origin_only(request: Request) -> None:
    """The app's own dependency, before every route: api/guard.py says why."""
    check_origin(request, (await _services(request)).settings.allowed_origins)


AppSettings = Annotated[Settings, Depends(_settings)]
Bodies = Annotated[JsonBodies, Depends(_bodies)]
Jobs = Annotated[JobService, Depends(_jobs)]
Bulk = Annotated[BulkService, Depends(_bulk)]
Models = Annotated[ModelService, Depends(_models)]
Audit = Annotated[AuditTrail, Depends(_audit)]
Health = Annotated[HealthService, Depends(_health)]
Metrics = Annotated[MetricsService, Depends(_metrics)]
Keys = Annotated[KeyService, Depends(_keys)]
Operations = Annotated[OperationsService, Depends(_operations)]
Inference = Annotated[InferenceService, Depends(_inference)]

JobsWriter = Annotated[Caller, requires(Scope.JOBS_WRITE)]
JobsReader = Annotated[Caller, requires(Scope.JOBS_READ)]
BulkWriter = Annotated[Caller, requires(Scope.BULK_WRITE)]
BulkReader = Annotated[Caller, requires(Scope.BULK_READ)]
ModelsReader = Annotated[Caller, requires(Scope.MODELS_READ)]
ModelsAdmin = Annotated[Caller, requires(Scope.MODELS_ADMIN)]  # audited as the actor of a change
AuditReader = Annotated[Caller, requires(Scope.AUDIT_READ)]
KeysAdmin = Annotated[Caller, requires(Scope.KEYS_ADMIN)]
