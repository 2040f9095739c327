"""Webhook URLs that would reach inside are refused, before and on every POST; the POST goes to
the checked address, never follows a redirect, and gives up at its timeout. Only localhost is
reachable here, so public addresses are IP literals (no DNS) and never connected to."""

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from maas.core.url_safety import (
    UnsafeURLError,
    WebhookPolicy,
    check_url_syntax,
    resolve_safe,
    resolve_safe_async,
)
from worker.webhooks.http import WebhookTransportError, post_pinned

STRICT_HTTP = WebhookPolicy(allow_http=True)  # http allowed, so the address checks are what refuse
LOOPBACK_OK = WebhookPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",))
SLOW_S = 3.0


REFUSED = [  # (url, what the message says)
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a cloud metadata address"),
    ("http://[fd00:ec2::254]/", "cloud metadata"),
    ("http://100.100.100.200/", "cloud metadata"),
    ("http://192.0.0.192/", "cloud metadata"),
    ("http://[::1]/", "::1 is a loopback address"),
    ("http://10.0.0.1/", "10.0.0.1 is a private address"),
    ("http://192.168.1.1/", "private"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    # A name's refusal never says what it resolves to (that would be a DNS oracle).
    ("http://localhost/", "host localhost is refused: a webhook host must resolve, and only to public"),
    ("http://2130706433/", "host 2130706433 is refused"),  # a decimal IPv4 literal
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped address of 127.0.0.1, which is a loopback"),
    ("http://[64:ff9b::a00:1]/", "NAT64 address of 10.0.0.1"),
    ("http://[2002:7f00:1::]/", "6to4 address of 127.0.0.1"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://[fe80::1]/", "link-local"),
    ("http://169.254.1.1/", "link-local"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[fec0::1]/", "site-local"),
    ("http://240.0.0.1/", "reserved"),
    ("file:///etc/passwd", "scheme 'file' is not allowed"),
    ("ftp://example.com/", "scheme 'ftp' is not allowed"),
    ("gopher://example.com:70/_stats", "scheme 'gopher' is not allowed"),
    ("example.com/hook", "scheme '(none)' is not allowed"),
    ("https://user:pw@example.com/", "credentials"),
    ("https://@example.com/", "credentials"),
    ("https:///hook", "has no host"),
    ("https://example.com:99999/", "port '99999' is not a number in 1..65535"),
    ("https://example.com:http/", "port 'http'"),
    ("https://example.com:+443/", "port '+443'"),
    ("https://example.com/a b", "whitespace or control characters"),
    ("https://example.com/\r\nX-Injected: 1", "whitespace or control characters"),
    ("https://[::1/", "not a valid URL"),
    ("https://bücher.example/", "non-ASCII"),
    ("https://example.com/" + "a" * 2048, "longer than 2048 characters"),
    ("http://nothing.invalid/", "host nothing.invalid is refused"),  # as a name that resolves inside
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_urls_that_reach_inside_or_are_malformed_are_refused_saying_why(url, why):
    with pytest.raises(UnsafeURLError) as refused:
        resolve_safe(url, STRICT_HTTP)
    assert refused.value.message.startswith("webhook.url: ")
    assert why in refused.value.message
    assert refused.value.code == "unsafe_webhook_url"


def test_a_private_address_refusal_names_the_address_and_the_setting_that_allows_it():
    with pytest.raises(UnsafeURLError) as refused:
        resolve_safe("http://10.0.0.1/", STRICT_HTTP)
    assert refused.value.message == (
        "webhook.url: 10.0.0.1 is a private address; not allowed (MAAS_WEBHOOK_ALLOWED_NETWORKS allows it)"
    )


def test_syntax_gives_scheme_bare_host_and_port_and_refuses_http_unless_allowed():
    with pytest.raises(UnsafeURLError, match="http:// is not allowed; use https://"):
        check_url_syntax("http://93.184.215.14/hook", WebhookPolicy())
    assert check_url_syntax("http://93.184.215.14/hook", STRICT_HTTP) == ("http", "93.184.215.14", 80)
    assert check_url_syntax("https://Example.COM/x", WebhookPolicy()) == ("https", "example.com", 443)
    assert check_url_syntax("https://[2606:4700::1111]:8443/", WebhookPolicy()) == (
        "https",
        "2606:4700::1111",
        8443,
    )


@pytest.mark.parametrize(
    "url", ["https://93.184.215.14/x", "https://[2606:4700::1111]/", "http://[::ffff:93.184.215.14]/"]
)
def test_public_addresses_are_accepted_and_returned(url):
    addresses = resolve_safe(url, STRICT_HTTP)
    assert len(addresses) == 1 and addresses[0].is_global


def test_allowed_networks_permit_only_what_they_cover():
    assert [str(a) for a in resolve_safe("http://127.0.0.1:8080/", LOOPBACK_OK)] == ["127.0.0.1"]
    assert [str(a) for a in resolve_safe("http://[::1]/", WebhookPolicy(True, ("::1/128",)))] == ["::1"]
    with pytest.raises(UnsafeURLError, match="private"):
        resolve_safe("http://10.0.0.1/", LOOPBACK_OK)


def test_allowed_hosts_permit_the_name_whatever_it_resolves_to():
    policy = WebhookPolicy(allow_http=True, allowed_hosts=("localhost",))
    assert "127.0.0.1" in [str(a) for a in resolve_safe("http://localhost:8080/", policy)]
    with pytest.raises(UnsafeURLError, match="loopback"):
        resolve_safe("http://127.0.0.1:8080/", policy)  # the name is allowed, not its address


@pytest.fixture
def fake_dns(monkeypatch) -> list[str]:
    """Made-up names resolve to the addresses given here (others as usual); returns the names
    looked up, in order."""
    answers = {"mixed.example": ["93.184.215.14", "10.1.2.3"], "hooks.example": ["127.0.0.1"]}
    real, lookups = socket.getaddrinfo, []

    def getaddrinfo(host, *args, **kwargs):
        lookups.append(host)
        return [info for a in answers.get(host, [host]) for info in real(a, *args, **kwargs)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_a_name_is_refused_if_any_of_its_addresses_is_inside(fake_dns):
    with pytest.raises(UnsafeURLError, match="host mixed.example is refused") as refused:
        resolve_safe("https://mixed.example/hook", WebhookPolicy())
    assert "10.1.2.3" not in refused.value.message


def test_a_typo_in_allowed_networks_fails_when_the_policy_is_built():
    with pytest.raises(ValueError, match="allowed_networks"):
        WebhookPolicy(allowed_networks=("127.0.0.0/33",))


async def test_the_async_check_refuses_and_accepts_like_the_blocking_one():
    with pytest.raises(UnsafeURLError, match="cloud metadata"):
        await resolve_safe_async("http://169.254.169.254/latest/meta-data", STRICT_HTTP)
    assert [str(a) for a in await resolve_safe_async("https://93.184.215.14/x", WebhookPolicy())] == [
        "93.184.215.14"
    ]


@dataclass
class Seen:
    method: str
    path: str
    host: str | None
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int = 0
    seen: list[Seen] = field(default_factory=list)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up mid-answer is what some tests are about


def handler_for(state: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            state.seen.append(Seen("POST", self.path, self.headers["host"], dict(self.headers), body))
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:{state.port}/target")
            elif self.path == "/slow":
                time.sleep(SLOW_S)
                self.send_response(200)
            elif self.path == "/trickle":
                self.trickle()
                return
            else:
                self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def trickle(self):
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.1)

        def log_message(self, *args):
            pass

    return Handler


@contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    state = Receiver()
    server = QuietServer(("127.0.0.1", 0), handler_for(state))
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver():
    with serving() as state:
        yield state


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
    with serving(server_context) as state:
        yield state


def test_post_sends_method_path_host_headers_and_body(receiver):
    url = f"http://127.0.0.1:{receiver.port}/hooks/maas?job=1"
    status = post_pinned(url, b'{"id": "j1"}', {"webhook-id": "msg_j1"}, 2.0, LOOPBACK_OK)
    assert status == 200
    [seen] = receiver.seen
    assert (seen.method, seen.path, seen.body) == ("POST", "/hooks/maas?job=1", b'{"id": "j1"}')
    assert seen.host == f"127.0.0.1:{receiver.port}"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == "maas-webhooks/1"
    assert seen.headers["webhook-id"] == "msg_j1"


def test_post_goes_to_the_checked_address_with_the_url_host_in_host_header(receiver, fake_dns):
    policy = WebhookPolicy(allow_http=True, allowed_hosts=("hooks.example",))
    assert post_pinned(f"http://hooks.example:{receiver.port}/h", b"{}", {}, 2.0, policy) == 200
    assert fake_dns.count("hooks.example") == 1  # checked once, then connected by address
    assert receiver.seen[0].host == f"hooks.example:{receiver.port}"


def test_allowed_localhost_is_posted_to(receiver):
    policy = WebhookPolicy(allow_http=True, allowed_hosts=("localhost",))
    assert post_pinned(f"http://localhost:{receiver.port}/h", b"{}", {}, 2.0, policy) == 200
    assert receiver.seen[0].host == f"localhost:{receiver.port}"


def test_a_redirect_is_returned_as_its_status_and_not_followed(receiver):
    status = post_pinned(f"http://127.0.0.1:{receiver.port}/redirect", b"{}", {}, 2.0, LOOPBACK_OK)
    assert status == 302
    assert [s.path for s in receiver.seen] == ["/redirect"]


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
    assert tls_receiver.seen[0].host == f"hooks.example:{port}"
    by_address = WebhookPolicy(allowed_networks=("127.0.0.0/8",))
    with pytest.raises(WebhookTransportError, match="^TLS certificate not accepted: .*mismatch"):
        post_pinned(f"https://127.0.0.1:{port}/h", b"{}", {}, 2.0, by_address)
    assert len(tls_receiver.seen) == 1


def test_an_untrusted_certificate_fails_the_attempt(certificate):
    policy = WebhookPolicy(allowed_networks=("127.0.0.0/8",))
    with serving(certificate[1]) as state:
        with pytest.raises(WebhookTransportError, match="^TLS certificate not accepted: self.signed"):
            post_pinned(f"https://127.0.0.1:{state.port}/h", b"{}", {}, 2.0, policy)
    assert state.seen == []


def test_https_to_a_plain_http_receiver_fails_as_a_tls_error(receiver):
    policy = WebhookPolicy(allowed_networks=("127.0.0.0/8",))
    with pytest.raises(WebhookTransportError, match="^TLS error"):
        post_pinned(f"https://127.0.0.1:{receiver.port}/h", b"{}", {}, 2.0, policy)


def test_every_post_checks_the_url_again(receiver):
    url = f"http://127.0.0.1:{receiver.port}/h"
    with pytest.raises(UnsafeURLError, match="127.0.0.1 is a loopback address"):
        post_pinned(url, b"{}", {}, 2.0, STRICT_HTTP)
    assert receiver.seen == []
