"""`maas models ...`: model versions and aliases, managed through a running API (maas_client)."""

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from maas.cli.http import JsonOption, UrlOption, api_client, console, err, handled, print_json

models_app = typer.Typer(help="Model versions and aliases, through the API.", no_args_is_help=True)


@models_app.command("list")
def list_models(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """Every model: versions, aliases, the latest version's status."""
    with handled(url), api_client(url) as client:
        models = client.models.list()
    if as_json:
        return print_json(models)
    table = Table("model", "versions", "aliases", "latest", "status")
    for model in models:
        aliases = ", ".join(f"{a}->{v}" for a, v in model["aliases"].items())
        latest = model["latest"]
        versions = ", ".join(map(str, model["versions"]))
        table.add_row(model["name"], versions, aliases, str(latest["version"]), latest["status"])
    console.print(table)


def _versions_table(model: dict[str, Any], versions: list[dict[str, Any]]) -> Table:
    aliases: dict[int, list[str]] = {}
    for alias, version in model["aliases"].items():
        aliases.setdefault(version, []).append(alias)
    table = Table("version", "status", "aliases", "sha256", "size", "max batch", "workers")
    for v in versions:
        workers = ", ".join(f"{w['worker']}={w['state']}" for w in v["workers"])
        table.add_row(
            str(v["version"]),
            v["status"],
            ", ".join(aliases.get(v["version"], [])),
            v["sha256"][:12],
            f"{v['size_bytes']:,} B",
            str(v["config"]["max_batch_size"]),
            workers,
        )
    return table


@models_app.command()
def show(name: str, url: UrlOption = None, as_json: JsonOption = False) -> None:
    """One model's versions: status, checksum, size, batching, which workers hold them."""
    with handled(url), api_client(url) as client:
        model = client.models.show(name)
        versions = [client.models.show(name, version) for version in model["versions"]]
    if as_json:
        return print_json({**model, "versions": versions})
    console.print(f"[bold]{name}[/bold]")
    console.print(_versions_table(model, versions))


@models_app.command()
def push(
    name: str,
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help=".onnx, .tflite, or a .tar/.tar.gz/.zip of one"),
    ],
    config: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="config.json")] = None,
    alias: Annotated[str | None, typer.Option(help="Point this alias at the new version.")] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Uploads FILE as the next version of NAME (validated by the API before it is written): a
    model, or a .tar/.tar.gz/.tgz/.zip archive of one with its external data files. Above 64 MiB
    it goes as a resumable upload in chunks (maas_client), with a progress bar on stderr."""
    columns = (TextColumn("uploading"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with handled(url), api_client(url) as client, Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("upload", total=file.stat().st_size)
        created = client.models.push(
            name, file, config, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
        moved = client.models.promote(name, created["version"], alias) if alias else None
    if as_json:
        return print_json({**created, **({"alias": moved} if moved else {})})
    console.print(f"{name} version {created['version']} created (sha256 {created['sha256'][:12]})")
    if moved:
        console.print(f"{name}:{alias} -> {moved['version']} (was {moved['previous']})")


@models_app.command()
def promote(
    name: str,
    version: int,
    alias: Annotated[str, typer.Option(help="The alias to point at VERSION.")],
    url: UrlOption = None,
    as_json: JsonOption = False,
    wait_ready: Annotated[int, typer.Option(help="Move the alias once this many workers serve VERSION.")] = 0,
    wait_timeout: Annotated[float, typer.Option(help="Seconds to wait for them (then exit 1).")] = 60,
) -> None:
    """Points ALIAS at VERSION; jobs naming the alias run VERSION from now on."""
    with handled(url), api_client(url) as client:
        result = client.models.promote(
            name, version, alias, wait_ready_workers=wait_ready, wait_timeout_s=wait_timeout
        )
    if as_json:
        return print_json(result)
    console.print(f"{name}:{alias} -> {result['version']} (was {result['previous']})")


@models_app.command()
def rollback(
    name: str,
    alias: Annotated[str, typer.Option(help="The alias to point back where it was.")],
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Points ALIAS back at the version it pointed to before its last change."""
    with handled(url), api_client(url) as client:
        result = client.models.rollback(name, alias)
    if as_json:
        return print_json(result)
    console.print(f"{name}:{alias} -> {result['version']} (was {result['previous']})")


@models_app.command()
def configure(
    name: str,
    version: int,
    patch: Annotated[str, typer.Argument(help="A JSON merge patch, e.g. '{\"max_batch_size\": 32}'")],
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Changes a version's batching policy or runtime options; workers apply it without restart."""
    try:
        body = orjson.loads(patch)
    except orjson.JSONDecodeError as e:
        raise typer.BadParameter(f"not JSON: {e}") from e
    with handled(url), api_client(url) as client:
        result = client.models.configure(name, version, body)
    if as_json:
        return print_json(result)
    console.print_json(data=result["config"])


@models_app.command()
def retire(name: str, version: int, url: UrlOption = None, as_json: JsonOption = False) -> None:
    """Retires VERSION: new jobs get 404, queued ones still run."""
    with handled(url), api_client(url) as client:
        result = client.models.retire(name, version)
    if as_json:
        return print_json(result)
    console.print(f"{name} version {version} retired by {result['by']}")
