"""What several settings sections share: the secret marker and computed defaults."""

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# Marks a field whose value is a secret: `maas config show` masks it; keep it out of logs.
SECRET: dict[str, Any] = {"secret": True}


def default_redis_maxmemory_mb() -> int:
    """A quarter of the memory this process may use (the cgroup limit where lower than the
    machine's), between 64 MiB and 4 GiB."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass  # no cgroup v2 limit readable: the machine's memory it is
    return int(min(4096, max(64, total // 4 // 2**20)))


def redacted_url(url: str | None) -> str | None:
    """The URL with its password (if any) replaced by ***."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))
