"""Several API processes on one port: uvicorn's process manager, with the app built per process.

With `api_workers` > 1, `maas api` binds the port once and uvicorn starts that many processes
that accept from it (the kernel hands each connection to one of them), restarts one that dies,
and passes SIGTERM on for a graceful drain. Each process builds its own app from the MAAS_*
environment the parent wrote, so everything per process (the completion-event subscription,
key and model caches, the Redis pool) is its own; what must agree across processes lives in
Redis (jobs, keys, rate limits, audit) or is re-read within a second (the model repository).
"""

import importlib
import os
import tempfile

from fastapi import FastAPI

from api.app import create_app
from maas.cli.logs import configure_logging
from maas.cli.supervisor import settings_env
from maas.core.settings import Settings

FACTORY = "maas.cli.api_processes:app_from_environment"


def api_app(settings: Settings) -> FastAPI:
    """The HTTP app, with gRPC served beside it unless MAAS_GRPC_PORT is 0 (each API process
    binds the gRPC port with SO_REUSEPORT). The gRPC server is loaded by name, only here: its
    stubs would clash with another OIP client's (api/rpc/server.py)."""
    if not settings.grpc_port:
        return create_app(settings)
    return create_app(settings, [importlib.import_module("api.rpc.server").serving])


def app_from_environment() -> FastAPI:
    """The app of one API process (uvicorn calls it in each)."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return api_app(settings)


def export_settings(settings: Settings) -> None:
    """The settings (command-line options included) for the processes uvicorn spawns, and a
    fresh directory for prometheus-client's multiprocess mode unless one is set, so /metrics on
    any process counts what all of them did."""
    os.environ.update(settings_env(settings))
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
            prefix="api-metrics-", dir=settings.state_dir
        )
