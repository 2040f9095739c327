"""`maas config show`: every setting's effective value and where it came from, secrets masked."""

import json
import os
from typing import Annotated

import typer
from pydantic import AliasChoices, SecretStr, ValidationError
from pydantic.fields import FieldInfo

from maas.core.settings import Settings, redacted_url

config_app = typer.Typer(help="The effective settings.", no_args_is_help=True)
MASK = "********"


def is_secret(info: FieldInfo) -> bool:
    extra = info.json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("secret"))


def masked(value):
    """A secret's value with its shape kept (the names of tokens, how many secrets) and every
    secret string replaced by MASK; unset stays visibly unset."""
    if isinstance(value, dict):
        return {key: MASK for key in value}
    if isinstance(value, list | tuple):
        return [MASK for _ in value]
    return value if value in (None, "") else MASK


def shown(info: FieldInfo, value):
    if is_secret(info) or isinstance(value, SecretStr):
        return masked(value)
    if isinstance(value, list) and any(isinstance(v, SecretStr) for v in value):
        return masked(value)
    if isinstance(value, str) and "://" in value:
        return redacted_url(value)  # a password inside a URL (rediss://user:password@...)
    return value


def source(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias  # the OTEL_* fields' own names
    names = alias.choices if isinstance(alias, AliasChoices) else [f"MAAS_{name}"]
    for variable in (str(n).upper() for n in names):
        if any(key.upper() == variable for key in os.environ):  # pydantic-settings ignores case
            return f"env {variable}"
    return "default"


def effective(settings: Settings) -> dict[str, dict]:
    """{field: {"value": shown value (JSON-able), "source": "env MAAS_X" | "default"}}."""
    rows = {}
    for name, info in Settings.model_fields.items():
        value = shown(info, getattr(settings, name))
        rows[name] = {"value": json.loads(json.dumps(value, default=str)), "source": source(name)}
    return rows


@config_app.command("show")
def show(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of lines.")] = False,
) -> None:
    """Every setting (MAAS_* environment variables, else defaults) with its source; secrets
    (admin tokens, webhook secrets, passwords in URLs) are masked."""
    try:
        settings = Settings()
    except ValidationError as e:  # names the field and the rule, never the value
        typer.echo(f"maas: invalid settings: {e}", err=True)
        raise typer.Exit(2) from None
    rows = effective(settings)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    width = max(map(len, rows))
    for name, row in rows.items():
        value = row["value"] if isinstance(row["value"], str) else json.dumps(row["value"])
        typer.echo(f"{name:<{width}}  {value}  ({row['source']})")
