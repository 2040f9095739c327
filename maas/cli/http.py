"""How CLI commands talk to a running API: through `maas_client` (its errors, retries and
timeouts), with the key in MAAS_API_KEY (an admin token in MAAS_ADMIN_TOKEN still works for
management while it is configured). What a command answers goes to stdout (`--json`: the API's
JSON), messages and progress to stderr, and a failure exits with the code of its class:

    0  done
    1  the API refused the request (4xx: invalid input, not found, conflict, no access)
    2  the command line is wrong (click's usage errors)
    3  no answer from the API (cannot connect, or no answer within the timeout)
    4  the service is busy or down (429, 503, any 5xx), after the client's retries
    5  the job ended but did not succeed (failed, cancelled or expired)
    6  still not ended when the command stopped waiting (--timeout)
"""

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import typer
from maas_client import Client, JobFailed, MaasError, RetryableError, Timeout, Unreachable
from maas_client.errors import error_from_response, error_from_transport
from rich.console import Console

from maas.core.settings import Settings

console = Console()  # what a command answers
err = Console(stderr=True)  # messages, progress and errors
EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_UNAVAILABLE = 1, 2, 3, 4
EXIT_JOB_FAILED, EXIT_STILL_RUNNING = 5, 6
REQUEST_TIMEOUT_S = 60.0  # each request's; long-polls add their wait
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", envvar="MAAS_URL", help="The API's base URL; default http://<host>:<port> of the settings."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer (machine output).")]
DEFAULT_URL = None


def base_url(url: str | None) -> str:
    """--url / MAAS_URL, else the settings' own API address (a wildcard bind read as loopback)."""
    if url:
        return url
    settings = Settings()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    scheme = "https" if settings.tls_cert else "http"
    return f"{scheme}://{host}:{settings.port}"


def _api_key() -> str | None:
    return os.environ.get("MAAS_API_KEY") or os.environ.get("MAAS_ADMIN_TOKEN") or None


def _actor() -> dict[str, str]:
    return {"X-Actor": f"cli:{os.environ.get('USER', '?')}"}


def api_client(url: str | None) -> Client:
    """The client every command uses: the key from the environment, the caller's name as actor."""
    return Client(base_url(url), api_key=_api_key() or "", timeout=REQUEST_TIMEOUT_S, headers=_actor())


def exit_code(error: MaasError) -> int:
    if isinstance(error, JobFailed):
        return EXIT_JOB_FAILED
    if isinstance(error, Unreachable | Timeout):
        return EXIT_UNREACHABLE
    if isinstance(error, RetryableError) or (error.status or 0) >= 500:
        return EXIT_UNAVAILABLE
    return EXIT_REFUSED


def fail(message: str, code: int) -> typer.Exit:
    """Prints MESSAGE on stderr; the caller raises what this returns."""
    err.print(message, style="red", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextlib.contextmanager
def handled(url: str | None = None) -> Iterator[None]:
    """A client error becomes one line on stderr and the exit code of its class."""
    try:
        yield
    except MaasError as e:
        where = f"cannot reach the API at {base_url(url)}: " if isinstance(e, Unreachable) else ""
        raise fail(f"{where}{e}", exit_code(e)) from None


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


def call(url: str | None, method: str, path: str, **kwargs) -> Any:
    """One request to a route `maas_client` has no call for (keys): its JSON, or the same
    one-line error and exit code as every other command."""
    headers = {**_actor(), **({"Authorization": f"Bearer {key}"} if (key := _api_key()) else {})}
    http_client = httpx.Client(base_url=base_url(url), timeout=REQUEST_TIMEOUT_S, headers=headers)
    with handled(url), http_client as http:
        try:
            response = http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise error_from_transport(e, f"{method} {path}") from e
        if response.is_error:
            raise error_from_response(response)
        return response.json()
