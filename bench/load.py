"""Drives closed-loop load with wrk (bench/wrk_post.lua) and reads back what it measured."""

import json
import math
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).resolve().parent / "wrk_post.lua"
MARKER = "BENCH_JSON "


class LoadError(RuntimeError):
    pass


@dataclass(frozen=True)
class LoadSpec:
    url: str
    body_file: Path
    duration_s: int  # wrk takes whole seconds
    connections: int
    threads: int
    wait_s: float
    script: Path = LUA_SCRIPT
    headers: tuple[str, ...] = ()  # "Name: value", for scripts that send them (wrk_oip.lua)


@dataclass(frozen=True)
class LoadRun:
    stats: dict  # what wrk_post.lua's done() printed
    wall_s: float
    client_cpu_s: float  # user + system time of the wrk process


def wrk_command(spec: LoadSpec) -> list[str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise LoadError("wrk is not installed (Debian: apt-get install -y wrk; `make bench` does it)")
    # wrk's own timeout (default 2 s) would cut requests the service legitimately holds for up
    # to wait_s, and count them as socket timeouts: give it the wait plus slack.
    return [
        wrk,
        f"--threads={spec.threads}",
        f"--connections={spec.connections}",
        f"--duration={spec.duration_s}s",
        f"--timeout={math.ceil(spec.wait_s) + 5}s",
        f"--script={spec.script}",
        "--latency",
        spec.url,
    ]


def run_wrk(spec: LoadSpec, log_file: Path) -> LoadRun:
    """Runs wrk to completion; its CPU time comes from wait4, so nothing has to sample it."""
    env = {
        **os.environ,
        "BENCH_BODY_FILE": str(spec.body_file),
        "BENCH_WAIT_S": f"{spec.wait_s:g}",
        "BENCH_HEADERS": "|".join(spec.headers),
    }
    with log_file.open("w+") as out:
        started = time.monotonic()
        process = subprocess.Popen(wrk_command(spec), stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        wall_s = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
        out.seek(0)
        output = out.read()
    if process.returncode != 0:
        raise LoadError(f"wrk exited with {process.returncode}:\n{output}")
    lines = [line for line in output.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise LoadError(f"wrk printed no {MARKER.strip()} line:\n{output}")
    stats = json.loads(lines[-1][len(MARKER) :])
    return LoadRun(stats, wall_s, usage.ru_utime + usage.ru_stime)
