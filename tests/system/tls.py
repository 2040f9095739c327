"""Throwaway TLS material made with `openssl` (a CA, a server certificate for 127.0.0.1 and
localhost, a client certificate) and a real redis-server that speaks only TLS and knows one ACL
user, for the in-transit tests."""

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from maas.cli.redis_server import find_redis_server, free_port

EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
REDIS_USER, REDIS_PASSWORD = "alice", "s3cret-redis-password"


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _signed(name: str, usage: str, cwd: Path) -> None:
    _openssl("req", *EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=cwd)
    extensions = cwd / f"{name}.ext"
    extensions.write_text(f"subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage={usage}\n")
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", f"{name}.crt", "-days", "2", "-extfile", extensions.name, cwd=cwd,
    )  # fmt: skip


def make_certificates(directory: Path) -> Certificates:
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", *EC_KEY, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=maas test CA", cwd=directory)  # fmt: skip
    _signed("server", "serverAuth", directory)
    _signed("client", "clientAuth", directory)
    d = directory
    return Certificates(d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt", d / "client.key")


class TlsRedis:
    """redis-server on a TLS port only (no plain port), client certificates required, the
    default user off and one ACL user with a password."""

    def __init__(self, certs: Certificates, data_dir: Path):
        self.certs = certs
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, password: str = REDIS_PASSWORD) -> str:
        return f"rediss://{REDIS_USER}:{password}@127.0.0.1:{self.port}/0"

    def start(self) -> "TlsRedis":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        c = self.certs
        command = [
            find_redis_server(), "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(c.server_cert), "--tls-key-file", str(c.server_key),
            "--tls-ca-cert-file", str(c.ca), "--tls-auth-clients", "yes",
            "--user", REDIS_USER, "on", f">{REDIS_PASSWORD}", "~*", "&*", "+@all",
            "--user", "default", "off",
            "--dir", str(self.data_dir), "--save", "", "--appendonly", "no",
            "--maxmemory-policy", "noeviction", "--logfile", "redis.log",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(
            self.url(),
            ssl_ca_certs=str(c.ca),
            ssl_certfile=str(c.client_cert),
            ssl_keyfile=str(c.client_key),
            socket_connect_timeout=0.5,
        )
        deadline = time.monotonic() + 10
        with client:
            while True:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise
                    time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
