"""The one real HTTP receiver of the webhook tests: it records every POST (and verifies it with
the `standardwebhooks` library when given secrets), then answers from a script in order, else
by path, else 200. An answer is a status code or a behaviour:

- "hang": sit past the sender's timeout (HANG_S), then 200;
- "trickle": a whole answer one byte every TRICKLE_S, so no single read is slow;
- "redirect": 302 to /target on this receiver.

It serves plain HTTP, or HTTPS with the given server context."""

import base64
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

# The signing secret and settings of a service whose webhooks go to a Receiver on this machine
# (the system tests' deployments pass them to Settings).
SECRET = "whsec_" + base64.b64encode(b"webhook-secret-of-32-bytes-long!").decode()
LOCAL_RECEIVERS = {
    "webhook_secrets": [SECRET],
    "webhook_allow_http": True,
    "webhook_allowed_networks": ["127.0.0.0/8"],
}
HANG_S = 3.0
TRICKLE_S = 0.1
Answer = int | str


@dataclass
class Call:
    at: float
    method: str
    path: str
    headers: httpx.Headers  # case-insensitive, as HTTP headers are
    raw: bytes
    body: dict | list | None  # the JSON body, None when it was not JSON
    verified_with: list[int]  # indexes of the secrets whose signature verified

    @property
    def host(self) -> str | None:
        return self.headers.get("host")


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a sender that gave up mid-answer (its timeout) is what some tests are about


@dataclass
class Receiver:
    port: int = 0  # 0: any free port, known once started
    secrets: list[str] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)  # answers in order, before `routes`
    routes: dict[str, Answer] = field(default_factory=dict)  # path (no query) -> answer
    tls: ssl.SSLContext | None = None
    calls: list[Call] = field(default_factory=list)
    first_call: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    def start(self) -> "Receiver":
        self.server = QuietServer(("127.0.0.1", self.port), _handler_for(self))
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *_) -> None:
        self.stop()

    def record(self, method: str, path: str, headers: httpx.Headers, raw: bytes) -> None:
        verified = []
        lowered = {k.lower(): v for k, v in headers.items()}
        for index, secret in enumerate(self.secrets):
            try:
                Webhook(secret).verify(raw, lowered)
                verified.append(index)
            except WebhookVerificationError:
                pass
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.calls.append(Call(time.time(), method, path, headers, raw, body, verified))
        self.first_call.set()

    def answer_for(self, path: str) -> Answer:
        if self.script:
            return self.script.pop(0)
        return self.routes.get(path.split("?", 1)[0], 200)

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            receiver.record(self.command, self.path, httpx.Headers(self.headers.items()), raw)
            answer = receiver.answer_for(self.path)
            if answer == "trickle":
                self.trickle()
                return
            if answer == "hang":
                time.sleep(HANG_S)
                answer = 200
            if answer == "redirect":
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:{receiver.port}/target")
            else:
                self.send_response(answer)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def trickle(self):
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(TRICKLE_S)

        def log_message(self, *args):
            pass

    return Handler
