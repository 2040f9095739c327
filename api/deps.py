"""What a route may ask for, as FastAPI dependencies: api/app.py builds every service once (in
its lifespan) and keeps it on app.state; a route names the one it needs (`jobs: Jobs`) and calls
one method of it. No route reads app.state itself."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.auth import management_actor
from api.body import JsonBodies
from api.guard import check_origin
from api.services.audit_trail import AuditTrail
from api.services.bulk import BulkService
from api.services.health import HealthService
from api.services.jobs import JobService
from api.services.models import ModelService
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


async def _health(request: Request) -> HealthService:
    return (await _services(request)).health


async def _actor(request: Request) -> str:
    return management_actor(request, (await _services(request)).settings)


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
Actor = Annotated[str, Depends(_actor)]  # the audited actor of a management call; 401 without a token
