"""One webhook POST, sent to the addresses url_safety checked and to nothing else.

http.client would resolve the host name again when it connects, and a name can answer a
public address to the check and 127.0.0.1 to the connection (DNS rebinding); so the connection
classes here open their socket to a checked address and keep the name only for the Host header
and the TLS certificate check. Redirects are never followed: a 3xx is returned like any status.
"""

import http.client
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

from maas.core.errors import MaasError
from maas.core.url_safety import IPAddress, WebhookPolicy, check_url_syntax, resolve_safe

USER_AGENT = "maas-webhooks/1"
MAX_RESPONSE_BYTES = 64 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}
BASE_HEADERS = {"Content-Type": "application/json", "User-Agent": USER_AGENT}


class WebhookTransportError(MaasError):
    """No HTTP status came back: timeout, refused connection, TLS failure, broken response."""

    code = "webhook_transport_error"


class Deadline:
    """One time limit for a whole attempt. Socket timeouts bound each read, not their sum (a
    receiver trickling a byte a second would hold us forever), so a timer also shuts the
    socket down at the deadline, which wakes a blocked read."""

    def __init__(self, timeout_s: float):
        self.at = time.monotonic() + timeout_s
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout_s, self.expire)
        self._timer.daemon = True

    def remaining_s(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0 or self.expired:
            raise TimeoutError("deadline passed")
        return left

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.expired:
                raise TimeoutError("deadline passed")

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                try:  # the plain socket's shutdown: SSLSocket.shutdown would touch its TLS state
                    socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed

    def __enter__(self) -> "Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def connect_first(
    addresses: list[IPAddress], port: int, deadline: Deadline, connect_timeout_s: float
) -> socket.socket:
    """A TCP connection to the first address that accepts one, tried in order; each try gets at
    most connect_timeout_s and an equal share of the time left, so one black-holed address
    cannot use it all (a receiver that is up accepts in milliseconds)."""
    last_error: OSError = ConnectionRefusedError("no address")
    for index, address in enumerate(addresses):
        share_s = min(connect_timeout_s, deadline.remaining_s() / (len(addresses) - index))
        try:
            sock = socket.create_connection((str(address), port), share_s)
        except OSError as e:
            last_error = e
            continue
        try:
            sock.settimeout(deadline.remaining_s())
            deadline.watch(sock)
        except TimeoutError:
            sock.close()
            raise
        return sock
    raise last_error


class PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(
        self, host: str, port: int, addresses: list[IPAddress], deadline: Deadline, connect_s: float
    ):
        super().__init__(host, port, timeout=deadline.remaining_s())
        self.addresses = addresses
        self.deadline = deadline
        self.connect_s = connect_s

    def connect(self) -> None:
        self.sock = connect_first(self.addresses, self.port, self.deadline, self.connect_s)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int, addresses: list[IPAddress], deadline: Deadline, connect_s: float
    ):
        context = ssl.create_default_context()
        super().__init__(host, port, timeout=deadline.remaining_s(), context=context)
        self.tls = context  # kept here too: HTTPSConnection's own copy is private (_context)
        self.addresses = addresses
        self.deadline = deadline
        self.connect_s = connect_s

    def connect(self) -> None:
        sock = connect_first(self.addresses, self.port, self.deadline, self.connect_s)
        try:
            # The certificate is checked against the URL's host name, not the pinned address.
            sock = self.tls.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
            self.deadline.watch(sock)  # wrapping detached the plain socket the deadline held
            sock.do_handshake()
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def post_pinned(
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    policy: WebhookPolicy,
    connect_timeout_s: float | None = None,
) -> int:
    """POSTs body to url and returns the status code, 3xx included (never followed).

    The URL is checked and resolved afresh on every call (UnsafeURLError); connect (at most
    connect_timeout_s per address), send and reading the status together take at most
    timeout_s, else WebhookTransportError. headers come last, so they may replace Content-Type
    or User-Agent (same spelling).
    """
    addresses = resolve_safe(url, policy)
    scheme, host, port = check_url_syntax(url, policy)
    connection_class = PinnedHTTPSConnection if scheme == "https" else PinnedHTTPConnection
    with Deadline(timeout_s) as deadline:
        connection = None
        try:
            connection = connection_class(host, port, addresses, deadline, connect_timeout_s or timeout_s)
            all_headers = {"Host": host_header(scheme, host, port), **BASE_HEADERS, **headers}
            connection.request("POST", request_target(url), body, all_headers)
            return read_status(connection)
        except (OSError, http.client.HTTPException) as e:
            timed_out = deadline.expired or isinstance(e, TimeoutError)
            reason = f"timed out after {float(timeout_s)} s" if timed_out else failure_reason(e)
            raise WebhookTransportError(reason) from e
        finally:
            if connection is not None:
                connection.close()


def read_status(connection: http.client.HTTPConnection) -> int:
    response = connection.getresponse()
    try:
        response.read(MAX_RESPONSE_BYTES)  # so the receiver sees its answer taken; never kept
    except (OSError, http.client.HTTPException):
        pass  # the status is what counts, and it has come
    return response.status


def host_header(scheme: str, host: str, port: int) -> str:
    name = f"[{host}]" if ":" in host else host
    return name if port == DEFAULT_PORTS[scheme] else f"{name}:{port}"


def request_target(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def failure_reason(error: BaseException) -> str:
    """A short reason for a failed attempt, as the job record shows it."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {error.verify_message}"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}"
    if isinstance(error, http.client.RemoteDisconnected):
        return "connection closed before a response"
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    if isinstance(error, http.client.HTTPException):
        return f"bad HTTP response ({type(error).__name__})"
    return f"connection failed: {getattr(error, 'strerror', None) or error}"
