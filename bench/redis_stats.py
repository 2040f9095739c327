"""Redis commands per job, from INFO commandstats before and after a load run: a figure that,
unlike CPU time, does not move when other work shares the machine."""

from pathlib import Path

import redis
from cpu import tree_roles


def redis_url(root_pid: int) -> str | None:
    """The embedded Redis of a `maas serve` tree: redis-server shows itself as `path host:port`."""
    for pid, role in tree_roles(root_pid).items():
        if role != "redis":
            continue
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().decode().replace("\0", " ").split()
        except OSError:
            continue
        if len(words) > 1 and ":" in words[1]:
            return f"redis://{words[1]}/0"
    return None


def command_stats(url: str | None) -> dict[str, tuple[int, int]]:
    """Per command: (calls, microseconds spent in it) so far."""
    if url is None:
        return {}
    with redis.Redis.from_url(url) as client:
        stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): (v["calls"], v["usec"]) for name, v in stats.items()}


def per_job(before: dict, after: dict, jobs: int) -> dict:
    """Calls and Redis microseconds per job, in all and for the commands that made most."""
    delta = {
        name: (calls - before.get(name, (0, 0))[0], usec - before.get(name, (0, 0))[1])
        for name, (calls, usec) in after.items()
    }
    delta = {name: d for name, d in delta.items() if d[0] > 0 and name != "info"}
    if not jobs or not delta:
        return {}
    top = sorted(delta.items(), key=lambda item: -item[1][0])
    return {
        "calls_per_job": round(sum(c for c, _ in delta.values()) / jobs, 2),
        "redis_us_per_job": round(sum(u for _, u in delta.values()) / jobs, 1),
        "calls_per_job_by_command": {name: round(c / jobs, 2) for name, (c, _) in top},
    }
