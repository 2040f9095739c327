"""Webhook URLs that would reach inside are refused before anything is sent: the scheme, the
syntax, and every address the host resolves to are checked, with a message saying why. Only
localhost is reachable here, so public addresses are IP literals (no DNS) and never connected
to. (The POST that checks again and pins the address: tests/worker/test_webhook_post.py.)"""

import pytest

from maas.core.url_safety import (
    UnsafeURLError,
    WebhookPolicy,
    check_url_syntax,
    resolve_safe,
    resolve_safe_async,
)
from tests.support import fake_dns as fake_dns_support

STRICT_HTTP = WebhookPolicy(allow_http=True)  # http allowed, so the address checks are what refuse
LOOPBACK_OK = WebhookPolicy(allow_http=True, allowed_networks=("127.0.0.0/8",))


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
    return fake_dns_support.install(monkeypatch)


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
