"""`maas webhooks ...`: a local receiver that verifies and prints deliveries (as `stripe listen`
does), and a fresh `whsec_` secret, so webhooks can be tried on a laptop in one step."""

import base64
import json
import secrets
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated

import typer
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

webhooks_app = typer.Typer(help="Try webhooks locally: a secret, a receiver.", no_args_is_help=True)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def local_settings(secret: str) -> str:
    """What `maas serve` needs to deliver to this receiver (loopback http is refused by default)."""
    return (
        f"MAAS_WEBHOOK_SECRETS='[\"{secret}\"]' MAAS_WEBHOOK_ALLOW_HTTP=true "
        f"MAAS_WEBHOOK_ALLOWED_NETWORKS='[\"127.0.0.0/8\"]'"
    )


@webhooks_app.command()
def secret() -> None:
    """Prints a fresh whsec_ secret (24 random bytes)."""
    typer.echo(new_secret())


def _handler(webhook: Webhook) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                job = webhook.verify(body, dict(self.headers))
            except WebhookVerificationError as e:
                typer.echo(f"REFUSED {self.headers.get('webhook-id')}: {e}", err=True)
                self.send_response(400)
            else:
                summary = {k: job.get(k) for k in ("id", "status", "model", "version", "outputs", "error")}
                typer.echo(f"verified {self.headers.get('webhook-id')}: {json.dumps(summary)}")
                self.send_response(200)
            self.end_headers()

        def log_message(self, *_) -> None:  # one line per delivery is printed above instead
            pass

    return Receiver


@webhooks_app.command()
def listen(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8787,
    secret: Annotated[str | None, typer.Option(help="whsec_ secret; default: a fresh one.")] = None,
) -> None:
    """Receives deliveries on http://127.0.0.1:PORT/, verifies each and prints it; Ctrl-C stops."""
    secret = secret or new_secret()
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(Webhook(secret)))
    url = f"http://127.0.0.1:{server.server_port}/"
    typer.echo(f"listening on {url}; start maas serve with:\n  {local_settings(secret)} maas serve")
    typer.echo(f'and give a job "webhook": {{"url": "{url}"}}', err=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
