"""`maas keys ...`: API keys, through the API's /v1/keys (with MAAS_API_KEY holding keys:admin,
or an admin token), or for the very first key with `create --bootstrap`, straight into Redis
(maas/cli/keys_bootstrap.py)."""

import importlib
from typing import Annotated

import typer
from rich.table import Table

from maas.cli.http import EXIT_REFUSED, JsonOption, UrlOption, call, console, fail, print_json
from maas.core.errors import MaasError

keys_app = typer.Typer(help="API keys: create, list, revoke, rotate.", no_args_is_help=True)


def _print_created(created: dict, as_json: bool) -> None:
    if as_json:
        return print_json(created)
    scopes = ", ".join(created["scopes"])
    typer.echo(f"key {created['id']} for tenant {created['tenant']} ({scopes}); shown once:", err=True)
    typer.echo(created["key"])


@keys_app.command()
def create(
    tenant: Annotated[str, typer.Option(help="The tenant the key acts for.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated, e.g. jobs:write,jobs:read.")],
    name: Annotated[str, typer.Option(help="Shown in the audit trail.")] = "",
    expires: Annotated[str | None, typer.Option(help="Lifetime, e.g. 30d, 12h.")] = None,
    rate: Annotated[str | None, typer.Option(help="Requests per period, e.g. 50/s.")] = None,
    max_queued_rows: Annotated[int | None, typer.Option(help="Queued-row cap while it submits.")] = None,
    max_bulk_jobs: Annotated[int | None, typer.Option(help="Unfinished bulk jobs it may have.")] = None,
    bootstrap: Annotated[bool, typer.Option(help="Write to Redis directly (the first key).")] = False,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Creates a key and prints it once (on stdout; the rest goes to stderr)."""
    fields = {
        "tenant": tenant,
        "scopes": [s.strip() for s in scopes.split(",") if s.strip()],
        "name": name,
        "expires": expires,
        "rate": rate,
        "max_queued_rows": max_queued_rows,
        "max_bulk_jobs": max_bulk_jobs,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    if not bootstrap:
        _print_created(call(url, "POST", "/v1/keys", json=fields), as_json)
        return
    try:  # loaded on use: it imports Redis and the API's key service
        _print_created(importlib.import_module("maas.cli.keys_bootstrap").create(fields), as_json)
    except MaasError as e:
        raise fail(e.message, EXIT_REFUSED) from None


@keys_app.command("list")
def list_keys(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every key (never the key itself): tenant, scopes, state, expiry, last use."""
    table = Table("id", "tenant", "name", "scopes", "state", "expires", "last used", "rate")
    keys = call(url, "GET", "/v1/keys", params={"tenant": tenant} if tenant else {})
    if as_json:
        return print_json(keys)
    for key in keys["data"]:
        table.add_row(
            key["id"],
            key["tenant"],
            key["name"],
            ",".join(key["scopes"]),
            key["state"],
            key["expires_at"] or "-",
            key["last_used_at"] or "-",
            key["rate"] or "default",
        )
    console.print(table)


@keys_app.command()
def revoke(key_id: str, url: UrlOption = None, as_json: JsonOption = False) -> None:
    """Revokes KEY_ID; every API process refuses it within a second."""
    key = call(url, "DELETE", f"/v1/keys/{key_id}")
    if as_json:
        return print_json(key)
    console.print(f"key {key['id']} ({key['tenant']}) revoked at {key['revoked_at']}")


@keys_app.command()
def rotate(
    key_id: str,
    grace: Annotated[str | None, typer.Option(help="How long the old key keeps working, e.g. 1h.")] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """A new key like KEY_ID (tenant, scopes, limits), printed once; the old one is revoked
    after --grace (default: now)."""
    _print_created(call(url, "POST", f"/v1/keys/{key_id}/rotate", json={"grace": grace}), as_json)
