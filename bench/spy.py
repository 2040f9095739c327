"""`make bench --profile`: a py-spy profile of each role of the service while the load runs.

py-spy samples a running process from outside (ptrace), so nothing in maas changes when it is
on; each Python process of a role is recorded as collapsed stacks (one file per process, which
flamegraph.pl, speedscope or `py-spy`'s own SVG output read), and the bench prints the frames
where each role spends most of its samples.
"""

import shutil
import subprocess
from collections import Counter
from pathlib import Path

SAMPLE_RATE_HZ = 250  # py-spy's default is 100; a few ms per job needs finer sampling
TOP_FRAMES = 12
PYTHON_ROLES = ("api", "worker")  # Redis is C: py-spy has nothing to say about it


class Profiler:
    def __init__(self, out_dir: Path, label: str):
        self.out_dir = out_dir
        self.label = label
        self.runs: list[tuple[str, Path, subprocess.Popen]] = []

    def start(self, roles: dict[int, str], duration_s: int) -> None:
        py_spy = shutil.which("py-spy") or str(Path(__file__).resolve().parents[1] / ".venv/bin/py-spy")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for pid, role in sorted(roles.items()):
            if role not in PYTHON_ROLES:
                continue
            out = self.out_dir / f"{self.label}-{role}-{pid}.txt"
            command = [py_spy, "record", "--pid", str(pid), "--duration", str(duration_s), "--rate"]
            command += [
                str(SAMPLE_RATE_HZ),
                "--format",
                "raw",
                "--full-filenames",
                "--nonblocking",
                "--output",
                str(out),
            ]
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.runs.append((role, out, process))

    def finish(self) -> dict[str, list[tuple[str, float]]]:
        """Waits for py-spy; returns per role the frames with the largest share of samples
        (self time: the innermost frame of each stack)."""
        frames: dict[str, Counter] = {}
        packages: dict[str, Counter] = {}
        for role, out, process in self.runs:
            process.wait()
            by_frame, by_package = frames.setdefault(role, Counter()), packages.setdefault(role, Counter())
            if out.exists():
                for line in out.read_text().splitlines():
                    stack, _, count = line.rpartition(" ")
                    if stack and count.isdigit():
                        frame, package = _frame_of(stack.split(";")[-1])
                        by_frame[frame] += int(count)
                        by_package[package] += int(count)
        return {f"{role} by package": _shares(packages[role]) for role in packages} | {
            f"{role} by function": _shares(frames[role]) for role in frames
        }


def _frame_of(frame: str) -> tuple[str, str]:
    """`function (path/to/pkg/module.py:123)` -> (`function (pkg/module.py)`, its package: the
    installed distribution's top folder, `stdlib/<module>`, or maas' own layer)."""
    name, _, where = frame.partition(" (")
    parts = Path(where.rstrip(")").rsplit(":", 1)[0]).parts
    if "site-packages" in parts:
        inside = parts[parts.index("site-packages") + 1 :]
        package = inside[0]
    elif any(p.startswith("python3") for p in parts[-3:-1]):
        inside, package = parts[-1:], "stdlib/" + parts[-1].removesuffix(".py")
        if len(parts) > 1 and parts[-2] in ("asyncio", "concurrent", "json", "email", "http"):
            package = "stdlib/" + parts[-2]
    else:
        inside = parts[-2:]
        package = "maas/" + (parts[-2] if len(parts) > 1 else parts[-1])
    return f"{name} ({'/'.join(inside[-2:])})", package


def _shares(counts: Counter) -> list[tuple[str, float]]:
    total = sum(counts.values()) or 1
    return [(frame, round(100 * n / total, 1)) for frame, n in counts.most_common(TOP_FRAMES)]


def print_profile(model: str, shares: dict[str, list[tuple[str, float]]]) -> None:
    for view, frames in sorted(shares.items()):
        print(f"  profile {model} {view}: " + "; ".join(f"{pct}% {frame}" for frame, pct in frames))
