"""A real HTTP receiver for webhook tests: verifies every call with the `standardwebhooks`
library, records it, and answers from a script (status codes, or "hang" to sit past the
sender's timeout)."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

HANG_S = 3.0


@dataclass
class Call:
    at: float
    headers: dict[str, str]
    body: dict
    verified_with: list[int]  # indexes of the secrets whose signature verified


@dataclass
class Receiver:
    port: int
    secrets: list[str]
    script: list = field(default_factory=list)  # answers in order; then 200 forever
    calls: list[Call] = field(default_factory=list)
    first_call: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.record(headers, raw)
                answer = receiver.script.pop(0) if receiver.script else 200
                if answer == "hang":
                    time.sleep(HANG_S)
                    answer = 200
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def record(self, headers: dict[str, str], raw: bytes) -> None:
        verified = []
        for index, secret in enumerate(self.secrets):
            try:
                Webhook(secret).verify(raw, headers)
                verified.append(index)
            except WebhookVerificationError:
                pass
        self.calls.append(Call(time.time(), headers, json.loads(raw), verified))
        self.first_call.set()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
