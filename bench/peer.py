"""Peers under the same load as maas: each a server process on the bench's models, driven by
the same wrk script, with its CPU per job. Only the naive per-request server is built in: it
needs nothing beyond maas' own dependencies (FastAPI, uvicorn, onnxruntime)."""

import subprocess
import sys
import time
from pathlib import Path

from cpu import machine_cpu_s, tree_cpu_s
from load import LoadSpec, run_wrk
from report import service_summary
from service import http_status

from maas.cli.redis_server import free_port

PEERS = {"naive": Path(__file__).resolve().parent / "peers" / "naive_server.py"}


class PeerError(RuntimeError):
    pass


class Peer:
    def __init__(self, name: str, repository: Path, log_file: Path):
        if name not in PEERS:
            raise PeerError(f"unknown peer {name!r}; known: {sorted(PEERS)}")
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, str(PEERS[name]), str(repository), str(self.port)]
        self.log_file = log_file
        self.process: subprocess.Popen | None = None

    def start(self, body: bytes, timeout_s: float = 60.0) -> None:
        """Starts the server and returns once it answers one job."""
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PeerError(f"{self.name} exited: {self.log_file.read_text()[-2000:]}")
            try:
                headers = {"Content-Type": "application/json"}
                if http_status(self.url + "/v1/jobs", body, headers, timeout_s=2.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise PeerError(f"{self.name} not ready after {timeout_s:g} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def measured(self, spec: LoadSpec, log_file: Path) -> dict:
        """jobs/s, latency and CPU per job (the whole server process) under one wrk run."""
        assert self.process is not None
        before, (busy_before, _) = sum(tree_cpu_s(self.process.pid).values()), machine_cpu_s()
        run = run_wrk(spec, log_file)
        after, (busy_after, _) = sum(tree_cpu_s(self.process.pid).values()), machine_cpu_s()
        svc = service_summary(run.stats)
        jobs = svc["succeeded_200"]
        return {
            "jobs_per_s": svc["jobs_per_s"],
            "latency_ms": svc["latency_ms"],
            "not_200": svc["other_responses"] + sum(svc["socket_errors"].values()),
            "ms_per_job": round(1000 * (after - before) / jobs, 3) if jobs else None,
            "cpu_pct": round(100 * (after - before) / run.wall_s, 1),
            "machine_busy_pct": round(100 * (busy_after - busy_before) / run.wall_s, 1),
        }


def print_peers(results: list[dict]) -> None:
    rows = [(r["model"], name, peer) for r in results for name, peer in r.get("peers", {}).items()]
    if not rows:
        return
    print("\nPeers under the same load (closed-loop wrk, single-row jobs); maas/peer > 1: maas ahead")
    for model, name, peer in rows:
        maas = next(r for r in results if r["model"] == model)
        ratio = maas["service"]["jobs_per_s"] / peer["jobs_per_s"] if peer["jobs_per_s"] else float("nan")
        print(
            f"{model:<10} {name:<8} {peer['jobs_per_s']:>10,.1f} jobs/s  "
            f"p50 {peer['latency_ms']['p50']:>7.1f} ms  "
            f"CPU {peer['ms_per_job']} ms/job   maas/{name} {ratio:.2f}x "
            f"(maas {maas['cpu']['ms_per_job']} ms/job)"
        )
