"""An S3 API on a free port for the object-store tests: moto's standalone server, a process of
its own that s3fs talks to over HTTP exactly as it would to S3 or MinIO."""

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from maas.cli.redis_server import free_port

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "maas-test",
    "AWS_SECRET_ACCESS_KEY": "maas-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class S3Server:
    def __init__(self, log_file: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = log_file
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 30) -> "S3Server":
        server = Path(sys.executable).with_name("moto_server")
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(
                [str(server), "-H", "127.0.0.1", "-p", str(self.port)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log_file.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.url, timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"moto_server not answering on {self.url} after {timeout_s} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
