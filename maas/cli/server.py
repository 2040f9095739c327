"""What `maas serve`, `maas api`, `maas worker` and `maas rq-worker` run, with the server stack
they import (FastAPI, uvicorn, Redis, onnxruntime, rq). `maas/cli/app.py` loads this module by
name when one of them runs, so that the client commands (`maas jobs`, `models`, `bulk`...)
start without importing any of it."""

import ssl
from typing import Any

import typer
import uvicorn
import uvloop

from batching.connection import RedisSetupError, check_setup
from batching.metrics import serve_metrics
from batching.tenancy.secret import key_hash_secret
from maas.cli.api_processes import FACTORY, api_app, export_settings
from maas.cli.repository import served_repository
from maas.cli.supervisor import EX_CONFIG
from maas.cli.supervisor import serve as serve_tree
from maas.core import tracing
from maas.core.access import auth_mode
from maas.core.settings import Settings
from worker.batch.service import run_worker
from worker.tasks.rq_worker import run_rq_worker


def _check_redis(settings: Settings) -> None:
    """Refused credentials or TLS stop a process at once (exit 78: `maas serve` does not restart
    it), with what to fix, rather than as 503s later."""
    try:
        check_setup(settings)
    except RedisSetupError as e:
        typer.echo(f"maas: {e.message}", err=True)
        raise typer.Exit(EX_CONFIG) from None


def _start_tracing(settings: Settings, role: str) -> None:
    """OTLP export when configured (OTEL_EXPORTER_OTLP_ENDPOINT); a configured export that cannot
    run (no SDK installed) stops the process (exit 78) rather than silently tracing nothing."""
    try:
        tracing.start(settings, f"maas-{role}")
    except tracing.TracingSetupError as e:
        typer.echo(f"maas: {e}", err=True)
        raise typer.Exit(EX_CONFIG) from None


def _check_auth(settings: Settings) -> None:
    """A non-loopback bind without MAAS_AUTH stops here (exit 78) and says why."""
    try:
        auth_mode(settings.auth, settings.host)
    except ValueError as e:
        typer.echo(f"maas: {e}", err=True)
        raise typer.Exit(EX_CONFIG) from None


def _tls_options(settings: Settings) -> dict:
    if not settings.tls_cert:
        return {}
    options: dict[str, Any] = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
    if settings.tls_client_ca:
        options |= {"ssl_ca_certs": str(settings.tls_client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return options


def serve(settings: Settings) -> None:
    _check_auth(settings)
    if settings.redis_url:
        _check_redis(settings)
    # Every child must hash keys alike: the state directory's secret unless one is configured.
    settings = settings.model_copy(update={"key_hash_secret": key_hash_secret(settings).decode()})
    raise typer.Exit(serve_tree(served_repository(settings)))


def api(settings: Settings) -> None:
    _check_auth(settings)
    _check_redis(settings)
    _start_tracing(settings, "api")
    several = settings.api_workers > 1
    if several:
        export_settings(settings)  # each process builds its own app from these
    uvicorn.run(
        FACTORY if several else api_app(settings),
        factory=several,
        workers=settings.api_workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # JSON: uvicorn's own loggers go through the root's JSON handler, not its text config.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        access_log=settings.access_log,
        timeout_graceful_shutdown=int(settings.drain_timeout_s),
        **_tls_options(settings),
    )
    tracing.stop()


def worker(settings: Settings) -> None:
    _check_redis(settings)
    _start_tracing(settings, "worker")
    serve_metrics(settings.metrics_host, settings.worker_metrics_port)
    # uvloop: a cheaper event loop for the worker's many small Redis round trips (the API gets
    # it from uvicorn).
    uvloop.run(run_worker(settings))
    tracing.stop()


def rq_worker(settings: Settings) -> None:
    _check_redis(settings)
    _start_tracing(settings, "rq-worker")
    serve_metrics(settings.metrics_host, settings.rq_worker_metrics_port)
    run_rq_worker(settings)
    tracing.stop()
