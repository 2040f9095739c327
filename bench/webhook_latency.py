"""`make bench-webhooks`: webhook delivery latency, from a job's finish to the receiver, under a
bounded load of jobs through a real `maas serve` (API, worker and rq worker)."""

import argparse
import base64
import json
import os
import secrets
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.request import Request, urlopen

import numpy as np
from service import Service

from maas.cli.redis_server import free_port

REPO_MODELS = Path(__file__).resolve().parent.parent / "models"


class Arrivals:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies_ms: list[float] = []

    def record(self, body: bytes) -> None:
        arrived = time.time()
        job = json.loads(body)
        finished = datetime.fromisoformat(job["finished_at"].replace("Z", "+00:00")).timestamp()
        with self.lock:
            self.latencies_ms.append((arrived - finished) * 1000)


def start_receiver(arrivals: Arrivals) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            arrivals.record(self.rfile.read(int(self.headers["content-length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def submit_paced(url: str, hook_url: str, jobs: int, rate: float) -> None:
    """Single-row digits jobs at a fixed rate (open loop), each with the webhook."""
    rng = np.random.default_rng(0)
    started = time.monotonic()
    for i in range(jobs):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        body = {
            "model": "digits",
            "inputs": rng.integers(0, 17, (1, 64)).tolist(),
            "webhook": {"url": hook_url},
        }
        request = Request(url + "/v1/jobs", json.dumps(body).encode(), {"Content-Type": "application/json"})
        with urlopen(request, timeout=10) as response:
            assert response.status == 202, response.status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="Jobs per second.")
    args = parser.parse_args()
    arrivals = Arrivals()
    receiver, port = start_receiver(arrivals)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    os.environ.update(
        {
            "MAAS_WEBHOOK_SECRETS": json.dumps([secret]),
            "MAAS_WEBHOOK_ALLOW_HTTP": "true",
            "MAAS_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
        }
    )
    with tempfile.TemporaryDirectory(prefix="maas-bench-webhooks-") as work:
        service = Service(REPO_MODELS, Path(work) / "state", Path(work) / "serve.log")
        try:
            service.start()
            submit_paced(service.url, f"http://127.0.0.1:{port}/hook", args.jobs, args.rate)
            deadline = time.monotonic() + 60
            while len(arrivals.latencies_ms) < args.jobs and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            service.stop()
            receiver.shutdown()
    got = np.array(arrivals.latencies_ms)
    print(
        f"webhook deliveries: {len(got)} of {args.jobs} jobs at {args.rate:g} jobs/s "
        "(one rq worker, one API, one batch worker)"
    )
    print(
        "latency from job finished_at to receiver, ms: "
        + "  ".join(f"p{q}: {np.percentile(got, q):.1f}" for q in (50, 90, 99))
        + f"  max: {got.max():.1f}"
    )


if __name__ == "__main__":
    main()
