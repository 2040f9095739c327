"""Data in transit: the API over HTTPS (and mutual TLS), Redis over TLS with an ACL user and
password for every maas process, a clear stop on refused credentials, and no secret in the
logs or the API docs."""

import base64
import json
import os
import ssl
import subprocess
import sys
import time

import httpx
import pytest

from maas.cli.redis_server import free_port
from tests.support.webhook_receiver import Receiver
from tests.system.serving import READY, REPO_ROOT, ServeProcess
from tests.system.tls import REDIS_PASSWORD, TlsRedis, make_certificates

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"webhook-secret-of-32-bytes-long!").decode()
ADMIN_TOKEN = "admin-token-that-must-not-leak"
ROW = [1.0] * 64


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_redis(certs, tmp_path):
    server = TlsRedis(certs, tmp_path / "tls-redis").start()
    yield server
    server.stop()


def redis_tls_env(certs, url: str) -> dict[str, str]:
    return {
        "MAAS_REDIS_URL": url,
        "MAAS_REDIS_TLS_CA": str(certs.ca),
        "MAAS_REDIS_TLS_CERT": str(certs.client_cert),
        "MAAS_REDIS_TLS_KEY": str(certs.client_key),
    }


@pytest.fixture
def receiver():
    started = Receiver(free_port(), [WEBHOOK_SECRET]).start()
    yield started
    started.stop()


def test_a_job_and_its_webhook_run_over_tls_redis_and_https(certs, tls_redis, receiver, tmp_path, model_repo):
    port = free_port()
    env = {
        **redis_tls_env(certs, tls_redis.url()),
        "MAAS_WEBHOOK_SECRETS": json.dumps([WEBHOOK_SECRET]),
        "MAAS_WEBHOOK_ALLOW_HTTP": "true",
        "MAAS_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
        "MAAS_ADMIN_TOKENS": json.dumps({"ops": ADMIN_TOKEN}),
    }
    args = [
        "--port",
        str(port),
        "--state-dir",
        str(tmp_path / "state"),
        "--model-repository",
        str(model_repo),
    ]
    tls = ["--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key)]
    serve = ServeProcess(tmp_path / "serve.log", [*args, *tls], env)
    try:
        serve.wait_for(READY)
        with httpx.Client(
            base_url=f"https://127.0.0.1:{port}", verify=client_tls(certs, False), timeout=30
        ) as client:
            hook = {"url": f"http://127.0.0.1:{receiver.port}/hook"}
            body = {"model": "digits", "version": 1, "inputs": [ROW], "webhook": hook}
            submitted = client.post("/v1/jobs", json=body)
            assert submitted.status_code == 202, submitted.text
            job = client.get(submitted.headers["location"], params={"wait": 20}).json()
            assert job["status"] == "succeeded"
            assert receiver.first_call.wait(20)  # the rq worker delivered it, over TLS Redis too
            assert receiver.calls[0].verified_with == [0]
            docs = client.get("/docs").text + client.get("/openapi.json").text
        with pytest.raises(httpx.HTTPError):  # no plain HTTP on the same port
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        serve.stop()
    for secret in (REDIS_PASSWORD, WEBHOOK_SECRET, ADMIN_TOKEN):
        assert secret not in serve.output() and secret not in docs


def test_a_refused_redis_password_stops_each_process_at_once_with_what_to_fix(certs, tls_redis, tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    env = {**clean, **redis_tls_env(certs, tls_redis.url(password="wrong-password"))}
    for role in (["worker"], ["rq-worker"], ["api"], ["serve", "--state-dir", str(tmp_path)]):
        done = subprocess.run(
            [sys.executable, "-m", "maas", *role], env=env, cwd=REPO_ROOT, capture_output=True, timeout=60
        )
        stderr = done.stderr.decode()
        assert done.returncode == 78, (role, stderr)
        assert (
            f"Redis at rediss://alice:***@127.0.0.1:{tls_redis.port}/0 refused the user and password"
            in stderr
        )
        assert "wrong-password" not in stderr


@pytest.fixture
def mtls_api(certs, redis_server, tmp_path, model_repo):
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    env = {
        **clean,
        "MAAS_REDIS_URL": redis_server.url,
        "MAAS_MODEL_REPOSITORY": str(model_repo),
        "MAAS_STATE_DIR": str(tmp_path / "state"),
    }
    tls = ["--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key)]
    command = [
        sys.executable,
        "-m",
        "maas",
        "api",
        "--port",
        str(port),
        *tls,
        "--tls-client-ca",
        str(certs.ca),
    ]
    with (tmp_path / "api.log").open("ab") as log:
        process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    yield f"https://127.0.0.1:{port}"
    process.terminate()
    process.wait(30)


def client_tls(certs, with_certificate: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    if with_certificate:
        context.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    return context


def wait_listening(base: str, certs, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            httpx.get(f"{base}/healthz", verify=client_tls(certs))
            return
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_mutual_tls_serves_a_client_with_a_certificate_and_refuses_one_without(mtls_api, certs):
    wait_listening(mtls_api, certs)
    assert httpx.get(f"{mtls_api}/healthz", verify=client_tls(certs)).status_code == 200
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.get(f"{mtls_api}/healthz", verify=client_tls(certs, with_certificate=False))
    unverified = ssl.create_default_context()  # the system's CAs do not know the test CA
    unverified.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{mtls_api}/healthz", verify=unverified)
