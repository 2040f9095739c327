"""The `maas` command line."""

import importlib
import ssl
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
import uvloop

from api.app import create_app
from batching.connection import RedisSetupError, check_setup
from batching.tenancy.secret import key_hash_secret
from maas.cli.api_processes import FACTORY, export_settings
from maas.cli.bulk import bulk_app
from maas.cli.config import config_app
from maas.cli.keys import keys_app
from maas.cli.logs import configure_logging
from maas.cli.models import models_app
from maas.cli.repository import served_repository
from maas.cli.supervisor import EX_CONFIG
from maas.cli.supervisor import serve as serve_tree
from maas.cli.webhooks import webhooks_app
from maas.core.access import auth_mode
from maas.core.settings import Settings
from worker.batch.service import run_worker
from worker.tasks.rq_worker import run_rq_worker

app = typer.Typer(help="maas: asynchronous, dynamically batched model inference.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(bulk_app, name="bulk")
app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")
app.add_typer(webhooks_app, name="webhooks")
TlsCert = Annotated[Path | None, typer.Option(help="Serve HTTPS with this PEM certificate (chain).")]
TlsKey = Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")]
TlsClientCa = Annotated[
    Path | None, typer.Option(help="Require client certificates signed by this CA (mutual TLS).")
]


def _settings(**overrides) -> Settings:
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    configure_logging(settings.log_level)
    return settings


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


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="API bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="API port.")] = None,
    model_repository: Annotated[
        Path | None,
        typer.Option(help="Model repository to serve and change; default: a copy of models/ in --state-dir."),
    ] = None,
    redis_url: Annotated[str | None, typer.Option(help="Use this Redis instead of starting one.")] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="Where the embedded Redis, keys and the served models live.")
    ] = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_client_ca: TlsClientCa = None,
    api_workers: Annotated[
        int | None, typer.Option(help="API processes on the one port (MAAS_API_WORKERS).", min=1)
    ] = None,
) -> None:
    """Redis (unless --redis-url) + API + a worker + an rq worker, in one process tree; a child
    that dies is restarted with backoff (see MAAS_SUPERVISOR_*). Ctrl-C stops all."""
    settings = _settings(
        api_workers=api_workers,
        host=host,
        port=port,
        model_repository=model_repository,
        redis_url=redis_url,
        state_dir=state_dir,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
    )
    _check_auth(settings)
    if settings.redis_url:
        _check_redis(settings)
    # Every child must hash keys alike: the state directory's secret unless one is configured.
    settings = settings.model_copy(update={"key_hash_secret": key_hash_secret(settings).decode()})
    raise typer.Exit(serve_tree(served_repository(settings)))


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_client_ca: TlsClientCa = None,
    workers: Annotated[
        int | None, typer.Option(help="API processes on the one port (MAAS_API_WORKERS).", min=1)
    ] = None,
) -> None:
    """The HTTP API alone (needs MAAS_REDIS_URL)."""
    settings = _settings(
        host=host,
        port=port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        api_workers=workers,
    )
    _check_auth(settings)
    _check_redis(settings)
    app: Any = FACTORY if settings.api_workers > 1 else create_app(settings)
    if settings.api_workers > 1:
        export_settings(settings)  # each process builds its own app from these
    uvicorn.run(
        app,
        factory=settings.api_workers > 1,
        workers=settings.api_workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,
        timeout_graceful_shutdown=int(settings.drain_timeout_s),
        **_tls_options(settings),
    )


@app.command()
def worker(
    models: Annotated[str | None, typer.Option(help="Comma-separated models; default all.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda.")] = None,
) -> None:
    """A batch worker alone (needs MAAS_REDIS_URL)."""
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    settings = _settings(worker_models=names, device=device)
    if settings.device not in ("cpu", "cuda"):
        raise typer.BadParameter("--device must be cpu or cuda")
    _check_redis(settings)
    # uvloop: a cheaper event loop for the worker's many small Redis round trips (the API gets
    # it from uvicorn).
    uvloop.run(run_worker(settings))


@app.command("rq-worker")
def rq_worker() -> None:
    """The rq worker alone (needs MAAS_REDIS_URL): webhook deliveries with retries."""
    settings = _settings()
    _check_redis(settings)
    run_rq_worker(settings)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False
)
def export(ctx: typer.Context) -> None:
    """Keras/TensorFlow -> ONNX or TFLite: quantize, prune, distill, check, register (`maas export --help`).
    Needs the `export` extra."""
    # Loaded on use: TensorFlow takes seconds and ~600 MB to import, and no other command needs it.
    importlib.import_module("export.cli").app(ctx.args, prog_name="maas export")
