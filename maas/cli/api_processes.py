"""Several API processes on one port: uvicorn's process manager, with the app built per process.

With `api_workers` > 1, `maas api` binds the port once and uvicorn starts that many processes
that accept from it (the kernel hands each connection to one of them), restarts one that dies,
and passes SIGTERM on for a graceful drain. Each process builds its own app from the MAAS_*
environment the parent wrote, so everything per process (the completion-event subscription,
key and model caches, the Redis pool) is its own; what must agree across processes lives in
Redis (jobs, keys, rate limits, audit) or is re-read within a second (the model repository).
"""

import os

from fastapi import FastAPI

from api.app import create_app
from maas.cli.logs import configure_logging
from maas.cli.supervisor import settings_env
from maas.core.settings import Settings

FACTORY = "maas.cli.api_processes:app_from_environment"


def app_from_environment() -> FastAPI:
    """The app of one API process (uvicorn calls it in each)."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def export_settings(settings: Settings) -> None:
    """The settings (command-line options included) for the processes uvicorn spawns."""
    os.environ.update(settings_env(settings))
