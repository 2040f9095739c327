"""Peak resident memory (VmHWM) of each process of a `maas serve` tree, by role (Linux only)."""

from pathlib import Path

from cpu import _children, role_of


def _role(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    return "rq-worker" if b"rq-worker" in argv else role_of(pid)


def _peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mb(root_pid: int) -> dict[str, float]:
    """Each role's largest peak RSS since its process started, MB."""
    peaks: dict[str, float] = {}
    pending = [root_pid]
    while pending:
        pid = pending.pop()
        role = _role(pid)
        peaks[role] = max(peaks.get(role, 0.0), round(_peak_kb(pid) / 1024, 1))
        pending.extend(_children(pid))
    return peaks
