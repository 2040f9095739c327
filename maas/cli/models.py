"""`maas models ...`: model versions and aliases, managed through a running API over HTTP."""

from functools import partial
from pathlib import Path
from typing import IO, Annotated

import orjson
import typer
from maas_client import Client
from maas_client import MaasError as ClientError
from maas_client.upload_calls import CHUNKED_ABOVE_BYTES
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn
from rich.table import Table

from maas.cli.http import DEFAULT_URL, UrlOption, auth_headers, call, console

models_app = typer.Typer(help="Model versions and aliases, through the API.", no_args_is_help=True)


@models_app.command("list")
def list_models(url: UrlOption = DEFAULT_URL) -> None:
    """Every model: versions, aliases, the latest version's status."""
    table = Table("model", "versions", "aliases", "latest", "status")
    for model in call(url, "GET", "/v1/models"):
        aliases = ", ".join(f"{a}->{v}" for a, v in model["aliases"].items())
        latest = model["latest"]
        table.add_row(
            model["name"],
            ", ".join(map(str, model["versions"])),
            aliases,
            str(latest["version"]),
            latest["status"],
        )
    console.print(table)


@models_app.command()
def show(name: str, url: UrlOption = DEFAULT_URL) -> None:
    """One model's versions: status, checksum, size, batching, which workers hold them."""
    model = call(url, "GET", f"/v1/models/{name}")
    aliases: dict[int, list[str]] = {}
    for alias, version in model["aliases"].items():
        aliases.setdefault(version, []).append(alias)
    table = Table("version", "status", "aliases", "sha256", "size", "max batch", "workers")
    for version in model["versions"]:
        v = call(url, "GET", f"/v1/models/{name}/versions/{version}")
        workers = ", ".join(f"{w['worker']}={w['state']}" for w in v["workers"])
        table.add_row(
            str(version),
            v["status"],
            ", ".join(aliases.get(version, [])),
            v["sha256"][:12],
            f"{v['size_bytes']:,} B",
            str(v["config"]["max_batch_size"]),
            workers,
        )
    console.print(f"[bold]{name}[/bold]")
    console.print(table)


@models_app.command()
def push(
    name: str,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".onnx or .tflite")],
    config: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="config.json")] = None,
    alias: Annotated[str | None, typer.Option(help="Point this alias at the new version.")] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Uploads FILE as the next version of NAME (validated by the API before it is written): a
    model, or a .tar/.tar.gz/.tgz/.zip archive of one with its external data files. Above 64 MiB
    it goes as a resumable upload in chunks, with a progress bar."""
    if file.stat().st_size > CHUNKED_ABOVE_BYTES:
        created = _push_in_chunks(url, name, file, config)
        console.print(f"{name} version {created['version']} created (sha256 {created['sha256'][:12]})")
        if alias:
            promote(name, created["version"], alias, url)
        return
    with file.open("rb") as model_file:
        parts: dict[str, tuple[str, IO[bytes] | bytes, str]] = {
            "file": (file.name, model_file, "application/octet-stream")
        }
        if config is not None:
            parts["config"] = ("config.json", config.read_bytes(), "application/json")
        created = call(url, "POST", f"/v1/models/{name}/versions", files=parts)
    console.print(f"{name} version {created['version']} created (sha256 {created['sha256'][:12]})")
    if alias:
        promote(name, created["version"], alias, url)


def _push_in_chunks(url: str, name: str, file: Path, config: Path | None) -> dict:
    """maas_client's resumable push (each chunk retried on its own) under a progress bar."""
    columns = (TextColumn("uploading"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    key = auth_headers().get("Authorization", "").removeprefix("Bearer ") or None
    try:
        with Progress(*columns, console=console) as bar, Client(url=url, api_key=key, timeout=300) as maas:
            task = bar.add_task("upload", total=file.stat().st_size)
            progress = partial(_advance, bar, task)
            return maas.models.push(name, file, config=config, progress=progress)
    except ClientError as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(1) from e


def _advance(bar: Progress, task: TaskID, done: int, total: int) -> None:
    bar.update(task, completed=done, total=total)


@models_app.command()
def promote(
    name: str,
    version: int,
    alias: Annotated[str, typer.Option(help="The alias to point at VERSION.")],
    url: UrlOption = DEFAULT_URL,
    wait_ready: Annotated[int, typer.Option(help="Move the alias once this many workers serve VERSION.")] = 0,
    wait_timeout: Annotated[float, typer.Option(help="Seconds to wait for them (then exit 1).")] = 60,
) -> None:
    """Points ALIAS at VERSION; jobs naming the alias run VERSION from now on."""
    body: dict = {"version": version}
    if wait_ready:
        body |= {"wait_ready_workers": wait_ready, "wait_timeout_s": wait_timeout}
    result = call(url, "PUT", f"/v1/models/{name}/aliases/{alias}", json=body)
    console.print(f"{name}:{alias} -> {result['version']} (was {result['previous']})")


@models_app.command()
def rollback(
    name: str,
    alias: Annotated[str, typer.Option(help="The alias to point back where it was.")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Points ALIAS back at the version it pointed to before its last change."""
    result = call(url, "POST", f"/v1/models/{name}/aliases/{alias}/rollback")
    console.print(f"{name}:{alias} -> {result['version']} (was {result['previous']})")


@models_app.command()
def configure(
    name: str,
    version: int,
    patch: Annotated[str, typer.Argument(help="A JSON merge patch, e.g. '{\"max_batch_size\": 32}'")],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Changes a version's batching policy or runtime options; workers apply it without restart."""
    try:
        body = orjson.loads(patch)
    except orjson.JSONDecodeError as e:
        raise typer.BadParameter(f"not JSON: {e}") from e
    result = call(url, "PATCH", f"/v1/models/{name}/versions/{version}/config", json=body)
    console.print_json(data=result["config"])


@models_app.command()
def retire(name: str, version: int, url: UrlOption = DEFAULT_URL) -> None:
    """Retires VERSION: new jobs get 404, queued ones still run."""
    result = call(url, "DELETE", f"/v1/models/{name}/versions/{version}")
    console.print(f"{name} version {version} retired by {result['by']}")
