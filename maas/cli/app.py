"""The `maas` command line. The server commands (serve, api, worker, rq-worker) run
`maas/cli/server.py`, and `maas export` runs export.cli, each loaded by name on use: the client
commands (jobs, models, bulk, keys, webhooks, config) then start without importing FastAPI,
Redis, onnxruntime or TensorFlow."""

import importlib
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

from maas.cli.bulk import bulk_app
from maas.cli.config import config_app
from maas.cli.jobs import jobs_app
from maas.cli.keys import keys_app
from maas.cli.logs import configure_logging
from maas.cli.models import models_app
from maas.cli.webhooks import webhooks_app
from maas.core.devices import Device
from maas.core.settings import Settings

app = typer.Typer(help="maas: asynchronous, dynamically batched model inference.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
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
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _server() -> ModuleType:
    return importlib.import_module("maas.cli.server")


GrpcPort = Annotated[
    int | None, typer.Option(help="gRPC port (OIP inference, jobs, health, reflection); 0: no gRPC.")
]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="API bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="API port.")] = None,
    grpc_port: GrpcPort = None,
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
        grpc_port=grpc_port,
        model_repository=model_repository,
        redis_url=redis_url,
        state_dir=state_dir,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
    )
    _server().serve(settings)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    grpc_port: GrpcPort = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_client_ca: TlsClientCa = None,
    workers: Annotated[
        int | None, typer.Option(help="API processes on the one port (MAAS_API_WORKERS).", min=1)
    ] = None,
) -> None:
    """The API alone, HTTP and gRPC (needs MAAS_REDIS_URL)."""
    settings = _settings(
        host=host,
        port=port,
        grpc_port=grpc_port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        api_workers=workers,
    )
    _server().api(settings)


MetricsPort = Annotated[
    int | None, typer.Option(help="Serve this process's /metrics on this port (default: none).")
]


@app.command()
def worker(
    models: Annotated[str | None, typer.Option(help="Comma-separated models; default all.")] = None,
    device: Annotated[
        str | None, typer.Option(help="cpu, or a GPU as cuda:N (cuda = cuda:0); default MAAS_DEVICE.")
    ] = None,
    metrics_port: MetricsPort = None,
) -> None:
    """A batch worker alone (needs MAAS_REDIS_URL)."""
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    if device is not None:
        try:
            device = str(Device.parse(device))
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--device") from None
    _server().worker(_settings(worker_models=names, device=device, worker_metrics_port=metrics_port))


@app.command("rq-worker")
def rq_worker(metrics_port: MetricsPort = None) -> None:
    """The rq worker alone (needs MAAS_REDIS_URL): webhook deliveries with retries."""
    _server().rq_worker(_settings(rq_worker_metrics_port=metrics_port))


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False
)
def export(ctx: typer.Context) -> None:
    """Keras/TensorFlow -> ONNX or TFLite: quantize, prune, distill, check, register (`maas export --help`).
    Needs the `export` extra."""
    # Loaded on use: TensorFlow takes seconds and ~600 MB to import, and no other command needs it.
    importlib.import_module("export.cli").app(ctx.args, prog_name="maas export")
