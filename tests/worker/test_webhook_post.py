"""The webhook POST: it checks the URL again on every attempt, goes to the checked address
(the URL's host in the Host header and in the TLS check), never follows a redirect, and gives
up at its timeout. Receivers are real servers on localhost (tests/support/webhook_receiver.py)."""

import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from maas.core.url_safety import UnsafeURLError, WebhookPolicy
from tests.support import fake_dns as fake_dns_support
from tests.support.webhook_receiver import Receiver
from worker.webhooks.http import WebhookTransportError, post_pinned

STRICT_HTTP = WebhookPolicy(allow_http=True)  # http allowed, so the address checks are what refuse
LOOPBACK_OK = WebhookPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",))
ROUTES = {"/redirect": "redirect", "/slow": "hang", "/trickle": "trickle"}


@pytest.fixture
def fake_dns(monkeypatch) -> list[str]:
    return fake_dns_support.install(monkeypatch)


@pytest.fixture
def receiver():
    with Receiver(routes=ROUTES) as started:
        yield started


@pytest.fixture
def certificate(tmp_path) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for hooks.example only (not for 127.0.0.1), and a server
    context that presents it."""
    assert shutil.which("openssl"), "the TLS tests make their certificate with the openssl command"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=hooks.example",
            "-addext",
            "subjectAltName=DNS:hooks.example",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    return cert, server_context


@pytest.fixture
def tls_receiver(certificate, fake_dns, monkeypatch):
    """An https receiver at hooks.example (127.0.0.1) whose certificate the sender trusts; the
    sender's host-name check is the real one."""
    cert, server_context = certificate
    real_context = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context", lambda *a, **k: real_context(cafile=str(cert)))
    with Receiver(routes=ROUTES, tls=server_context) as started:
        yield started


def test_post_sends_method_path_host_headers_and_body(receiver):
    url = f"http://127.0.0.1:{receiver.port}/hooks/maas?job=1"
    status = post_pinned(url, b'{"id": "j1"}', {"webhook-id": "msg_j1"}, 2.0, LOOPBACK_OK)
    assert status == 200
    [seen] = receiver.calls
    assert (seen.method, seen.path, seen.raw) == ("POST", "/hooks/maas?job=1", b'{"id": "j1"}')
    assert seen.host == f"127.0.0.1:{receiver.port}"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == "maas-webhooks/1"
    assert seen.headers["webhook-id"] == "msg_j1"


def test_post_goes_to_the_checked_address_with_the_url_host_in_host_header(receiver, fake_dns):
    policy = WebhookPolicy(allow_http=True, allowed_hosts=("hooks.example",))
    assert post_pinned(f"http://hooks.example:{receiver.port}/h", b"{}", {}, 2.0, policy) == 200
    assert fake_dns.count("hooks.example") == 1  # checked once, then connected by address
    assert receiver.calls[0].host == f"hooks.example:{receiver.port}"


def test_allowed_localhost_is_posted_to(receiver):
    policy = WebhookPolicy(allow_http=True, allowed_hosts=("localhost",))
    assert post_pinned(f"http://localhost:{receiver.port}/h", b"{}", {}, 2.0, policy) == 200
    assert receiver.calls[0].host == f"localhost:{receiver.port}"


def test_a_redirect_is_returned_as_its_status_and_not_followed(receiver):
    status = post_pinned(f"http://127.0.0.1:{receiver.port}/redirect", b"{}", {}, 2.0, LOOPBACK_OK)
    assert status == 302
    assert [s.path for s in receiver.calls] == ["/redirect"]


@pytest.mark.parametrize(("path", "timeout_s"), [("/slow", 0.5), ("/trickle", 1.0)])
def test_a_receiver_slower_than_the_timeout_fails_the_attempt_at_the_timeout(receiver, path, timeout_s):
    """/trickle answers a byte every 0.1 s: no single read is slow, the whole answer is."""
    started = time.monotonic()
    with pytest.raises(WebhookTransportError, match=rf"^timed out after {timeout_s} s$") as failed:
        post_pinned(f"http://127.0.0.1:{receiver.port}{path}", b"{}", {}, timeout_s, LOOPBACK_OK)
    assert time.monotonic() - started < timeout_s + 1
    assert failed.value.code == "webhook_transport_error"


def test_a_closed_port_fails_the_attempt_as_connection_refused():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(WebhookTransportError, match="^connection refused$"):
        post_pinned(f"http://127.0.0.1:{port}/h", b"{}", {}, 2.0, LOOPBACK_OK)


def test_https_checks_the_certificate_against_the_url_host_not_the_pinned_address(tls_receiver):
    port = tls_receiver.port
    by_name = WebhookPolicy(allowed_hosts=("hooks.example",))
    assert post_pinned(f"https://hooks.example:{port}/h", b"{}", {}, 2.0, by_name) == 200
    assert tls_receiver.calls[0].host == f"hooks.example:{port}"
    by_address = WebhookPolicy(allowed_networks=("127.0.0.0/8",))
    with pytest.raises(WebhookTransportError, match="^TLS certificate not accepted: .*mismatch"):
        post_pinned(f"https://127.0.0.1:{port}/h", b"{}", {}, 2.0, by_address)
    assert len(tls_receiver.calls) == 1


def test_an_untrusted_certificate_fails_the_attempt(certificate):
    policy = WebhookPolicy(allowed_networks=("127.0.0.0/8",))
    with Receiver(routes=ROUTES, tls=certificate[1]) as state:
        with pytest.raises(WebhookTransportError, match="^TLS certificate not accepted: self.signed"):
            post_pinned(f"https://127.0.0.1:{state.port}/h", b"{}", {}, 2.0, policy)
    assert state.calls == []


def test_https_to_a_plain_http_receiver_fails_as_a_tls_error(receiver):
    policy = WebhookPolicy(allowed_networks=("127.0.0.0/8",))
    with pytest.raises(WebhookTransportError, match="^TLS error"):
        post_pinned(f"https://127.0.0.1:{receiver.port}/h", b"{}", {}, 2.0, policy)


def test_every_post_checks_the_url_again(receiver):
    url = f"http://127.0.0.1:{receiver.port}/h"
    with pytest.raises(UnsafeURLError, match="127.0.0.1 is a loopback address"):
        post_pinned(url, b"{}", {}, 2.0, STRICT_HTTP)
    assert receiver.calls == []
