"""How CLI commands talk to a running API: its base URL, the key they send (MAAS_API_KEY; an
admin token in MAAS_ADMIN_TOKEN still works for management while it is configured), and the
API's error shown as one line with exit code 1."""

import os
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

console = Console()
UrlOption = Annotated[str, typer.Option("--url", envvar="MAAS_URL", help="The API's base URL.")]
DEFAULT_URL = "http://127.0.0.1:8000"


def auth_headers() -> dict[str, str]:
    """`Authorization: Bearer` with MAAS_API_KEY, else MAAS_ADMIN_TOKEN; none without either."""
    key = os.environ.get("MAAS_API_KEY") or os.environ.get("MAAS_ADMIN_TOKEN")
    return {"Authorization": f"Bearer {key}"} if key else {}


def client(url: str) -> httpx.Client:
    headers = {"X-Actor": f"cli:{os.environ.get('USER', '?')}", **auth_headers()}
    return httpx.Client(base_url=url, timeout=300, headers=headers)


def call(url: str, method: str, path: str, **kwargs) -> Any:
    """The response's JSON (a dict or a list, as the path says); the API's error message and
    exit code 1 on a 4xx/5xx."""
    try:
        with client(url) as http:
            response = http.request(method, path, **kwargs)
    except httpx.HTTPError as e:
        console.print(f"[red]cannot reach the API at {url}: {e}[/red]")
        raise typer.Exit(2) from e
    if response.is_error:
        try:
            error = response.json()["error"]
            message = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            message = response.text
        console.print(f"[red]{response.status_code} {message}[/red]")
        raise typer.Exit(1)
    return response.json()
