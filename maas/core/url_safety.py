"""Which webhook URLs maas may call: the syntax, then every address the host resolves to.

A webhook URL comes from a client, so a POST to it could reach what only maas can reach (cloud
metadata, Redis, an admin port on a private network): server-side request forgery. The checks run
on the resolved addresses, not on the host text, so `http://2130706433/` or a DNS name pointing
at 10.0.0.1 is caught; the sender then connects to exactly the addresses checked here, so a name
that resolves differently a moment later (DNS rebinding) gains nothing.
"""

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from maas.core.errors import MaasError
from maas.core.settings import Settings

log = logging.getLogger(__name__)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

WHERE = "webhook.url"
MAX_URL_CHARS = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
ALLOW_HINT = "MAAS_WEBHOOK_ALLOWED_NETWORKS allows it"

# Instance metadata services hand out cloud credentials; named so the refusal says why.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
# IPv6 prefixes that carry an IPv4 address in their last 32 bits and reach it through a
# translator; such an address is as safe as the IPv4 one inside, no more.
NAT64_PREFIXES = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


class UnsafeURLError(MaasError):
    """A webhook URL maas refuses to call; no retry can fix it."""

    code = "unsafe_webhook_url"


@dataclass(frozen=True)
class WebhookPolicy:
    """What the operator allows beyond public https: http, private CIDRs, trusted host names."""

    allow_http: bool = False
    allowed_networks: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.networks()  # a typo in a CIDR fails at startup, not on the first webhook

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        try:
            return [ipaddress.ip_network(cidr, strict=False) for cidr in self.allowed_networks]
        except ValueError as e:
            raise ValueError(f"webhook allowed_networks: {e}") from e

    def allows_host(self, host: str) -> bool:
        wanted = host.lower().rstrip(".")
        return any(wanted == allowed.lower().rstrip(".") for allowed in self.allowed_hosts)


def webhook_policy(settings: Settings) -> "WebhookPolicy":
    """The policy the settings describe; the API (at submit) and the rq worker (per attempt)."""
    return WebhookPolicy(
        allow_http=settings.webhook_allow_http,
        allowed_networks=tuple(settings.webhook_allowed_networks),
        allowed_hosts=tuple(settings.webhook_allowed_hosts),
    )


def check_url_syntax(url: str, policy: WebhookPolicy) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL maas may call, before any look-up; host has no brackets."""
    if len(url) > MAX_URL_CHARS:
        raise UnsafeURLError(f"{WHERE}: longer than {MAX_URL_CHARS} characters ({len(url)})")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise UnsafeURLError(f"{WHERE}: contains whitespace or control characters")
    if not url.isascii():  # http.client sends ASCII only; a name's IDNA form is unambiguous
        raise UnsafeURLError(
            f"{WHERE}: contains non-ASCII characters; percent-encode them, and give a host name "
            "in its xn-- (punycode) form"
        )
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise UnsafeURLError(f"{WHERE}: not a valid URL ({e})") from e
    scheme = _scheme(parts, policy)
    if "@" in parts.netloc:
        raise UnsafeURLError(f"{WHERE}: credentials in the URL (user:password@) are not allowed")
    host = parts.hostname
    if not host:
        raise UnsafeURLError(f"{WHERE}: has no host")
    return scheme, host, _port(parts, scheme)


def _scheme(parts: SplitResult, policy: WebhookPolicy) -> str:
    scheme = parts.scheme.lower()
    if scheme == "http" and not policy.allow_http:
        raise UnsafeURLError(
            f"{WHERE}: http:// is not allowed; use https:// (MAAS_WEBHOOK_ALLOW_HTTP allows it)"
        )
    if scheme not in DEFAULT_PORTS:
        allowed = "http:// or https://" if policy.allow_http else "https://"
        raise UnsafeURLError(f"{WHERE}: scheme {scheme or '(none)'!r} is not allowed; use {allowed}")
    return scheme


def _port(parts: SplitResult, scheme: str) -> int:
    # urlsplit's own .port accepts "+80" or " 80" on some Python versions; read the digits here.
    hostinfo = parts.netloc.rpartition("@")[2]
    if hostinfo.startswith("["):
        hostinfo = hostinfo.partition("]")[2]
    _, colon, text = hostinfo.rpartition(":")
    if not colon or not text:
        return DEFAULT_PORTS[scheme]
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise UnsafeURLError(f"{WHERE}: port {text!r} is not a number in 1..65535")
    return int(text)


def resolve_safe(url: str, policy: WebhookPolicy) -> list[IPAddress]:
    """The addresses of the URL's host, each checked; connect to these, never to the name again.

    Refuses the URL if any address is not public, unless it lies in policy.allowed_networks or
    the host is one of policy.allowed_hosts. Blocks for as long as the system resolver takes.
    """
    _, host, port = check_url_syntax(url, policy)
    addresses = _resolve(host, port)
    if policy.allows_host(host):
        return addresses
    networks = policy.networks()
    for address in addresses:
        if any(address in network for network in networks):
            continue
        reason = refusal_reason(address)
        if reason is None:
            continue
        if _is_literal(host):  # the client wrote the address: saying what it is tells nothing new
            raise UnsafeURLError(f"{WHERE}: {host} {reason}; not allowed ({ALLOW_HINT})")
        # What a name resolves to is for the operator's log only: told to the client, the refusal
        # would map internal names to addresses (a DNS oracle).
        log.info("webhook host %s refused: it resolves to %s, which %s", host, address, reason)
        raise _refused_name(host)
    return addresses


def _refused_name(host: str) -> UnsafeURLError:
    """The one refusal of a host name, whether it resolves to a refused address or not at all."""
    return UnsafeURLError(
        f"{WHERE}: host {host} is refused: a webhook host must resolve, and only to public "
        f"addresses ({ALLOW_HINT}, or MAAS_WEBHOOK_ALLOWED_HOSTS the name)"
    )


async def resolve_safe_async(url: str, policy: WebhookPolicy) -> list[IPAddress]:
    """resolve_safe off the event loop: getaddrinfo blocks."""
    return await asyncio.to_thread(resolve_safe, url, policy)


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as e:
        log.info("webhook host %s refused: it does not resolve (%s)", host, e)
        raise _refused_name(host) from e
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not addresses:
        log.info("webhook host %s refused: it resolves to no address", host)
        raise _refused_name(host)
    return addresses


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def refusal_reason(address: IPAddress) -> str | None:
    """Why a webhook may not reach this address ("is a private address"), or None if public."""
    if address in METADATA_ADDRESSES:
        return "is a cloud metadata address"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        kind, inner, only_inner = embedded
        inner_reason = refusal_reason(inner)
        if inner_reason is not None:
            return f"is {kind} address of {inner}, which {inner_reason}"
        if only_inner:
            return None  # the packets go to the public IPv4 address inside
    return _category(address)


def _embedded_ipv4(address: IPAddress) -> tuple[str, ipaddress.IPv4Address, bool] | None:
    """(how, the IPv4 address inside, whether only it is reached) for an IPv6 address that
    reaches an IPv4 one through mapping or a translator; 6to4 and Teredo also have a relay."""
    if address.version == 4:
        return None
    if address.ipv4_mapped is not None:
        return "an IPv4-mapped", address.ipv4_mapped, True
    if any(address in prefix for prefix in NAT64_PREFIXES):
        return "a NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), True
    if address.sixtofour is not None:
        return "a 6to4", address.sixtofour, False
    if address.teredo is not None:
        return "a Teredo", address.teredo[1], False
    return None


def _category(address: IPAddress) -> str | None:
    checks = (
        (address.is_unspecified, "is the unspecified address"),
        (address.is_loopback, "is a loopback address"),
        (address.is_link_local, "is a link-local address"),
        (address.is_multicast, "is a multicast address"),
        (address.version == 6 and address.is_site_local, "is a site-local address"),
        (address in CGNAT, "is a carrier-grade NAT address (100.64.0.0/10)"),
        (address.is_reserved, "is a reserved address"),
        (address.is_private, "is a private address"),
        (not address.is_global, "is not a globally reachable address"),
    )
    return next((reason for refused, reason in checks if refused), None)
