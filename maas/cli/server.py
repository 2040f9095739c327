"""What `maas serve`, `maas api`, `maas worker` and `maas rq-worker` run, with the server stack
they import (FastAPI, uvicorn, Redis, onnxruntime, rq). `maas/cli/app.py` loads this module by
name when one of them runs, so that the client commands (`maas jobs`, `models`, `bulk`...)
start without importing any of it."""

import asyncio
import ssl
from typing import Any

import typer
import uvicorn

from api.app import create_app
from batching.connection import RedisSetupError, check_setup
from batching.tenancy.secret import key_hash_secret
from maas.cli.repository import served_repository
from maas.cli.supervisor import EX_CONFIG
from maas.cli.supervisor import serve as serve_tree
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
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,
        timeout_graceful_shutdown=int(settings.drain_timeout_s),
        **_tls_options(settings),
    )


def worker(settings: Settings) -> None:
    if settings.device not in ("cpu", "cuda"):
        raise typer.BadParameter("--device must be cpu or cuda")
    _check_redis(settings)
    asyncio.run(run_worker(settings))


def rq_worker(settings: Settings) -> None:
    _check_redis(settings)
    run_rq_worker(settings)
