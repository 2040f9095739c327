"""Made-up host names for tests that need a name to resolve to a given address: only localhost
is reachable here, and no test may depend on real DNS."""

import socket

ANSWERS = {"mixed.example": ["93.184.215.14", "10.1.2.3"], "hooks.example": ["127.0.0.1"]}


def install(monkeypatch) -> list[str]:
    """Made-up names resolve to the addresses in ANSWERS (others as usual); returns the names
    looked up, in order."""
    real, lookups = socket.getaddrinfo, []

    def getaddrinfo(host, *args, **kwargs):
        lookups.append(host)
        return [info for a in ANSWERS.get(host, [host]) for info in real(a, *args, **kwargs)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups
