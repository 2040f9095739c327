"""CPU time of a process tree and of the whole machine, read from /proc (Linux only)."""

import os
from pathlib import Path

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # the process ended between listing and reading
        return None
    # The command name is in parentheses and may hold spaces; the fields after it are plain.
    return text.rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            if int(fields[1]) == pid:  # field 4 of stat, the parent pid
                children.append(int(entry.name))
    return children


def role_of(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    words = [Path(a.decode(errors="replace")).name for a in argv if a]
    if words and words[0].startswith("redis"):  # redis-server, or its forked redis-aof-rewrite
        return "redis"
    for role in ("api", "worker", "rq-worker", "serve"):
        if role in words:
            return role
    return words[0] if words else "?"


def tree_roles(root_pid: int) -> dict[int, str]:
    """Every live process of the tree and its role; a process that names none (a uvicorn
    worker, spawned by multiprocessing) has its parent's."""
    roles: dict[int, str] = {}
    pending = [(root_pid, "?")]
    while pending:
        pid, parent_role = pending.pop()
        role = role_of(pid)
        unnamed = role == "?" or role.startswith("python")
        roles[pid] = parent_role if unnamed else role
        pending.extend((child, roles[pid]) for child in _children(pid))
    return roles


def tree_cpu_s(root_pid: int) -> dict[str, float]:
    """User + system seconds so far of root_pid and its descendants, summed per role."""
    by_role: dict[str, float] = {}
    for pid, role in tree_roles(root_pid).items():
        if fields := _stat_fields(pid):
            seconds = (int(fields[11]) + int(fields[12])) / _TICKS_PER_S  # utime, stime
            by_role[role] = by_role.get(role, 0.0) + seconds
    return by_role


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds since boot over all cores, from the first line of /proc/stat."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    total = sum(ticks[:8])  # guest time is already inside user
    return (total - idle) / _TICKS_PER_S, total / _TICKS_PER_S


def cores() -> int:
    return len(os.sched_getaffinity(0))
