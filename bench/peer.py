"""Peers under the same load as maas: each a server process on the bench's models, with the
same batching policy (each model's config.json), driven by the same closed-loop wrk load, with
its CPU per job per process role. `naive` (FastAPI, one onnxruntime call per request, no
batching) runs on maas' own interpreter; PyTriton and MLServer each in a virtualenv of their own
(bench/venvs.py, created on first use) and are sent the KServe v2 JSON infer request of the
same single row (bench/protocols.py), and, over gRPC, the ModelInfer load of bench/grpc_load.py."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import venvs
from cpu import machine_cpu_s, tree_cpu_s
from load import LoadSpec, run_wrk
from protocols import OIP_SCRIPT, request
from report import failed_requests, service_summary
from service import http_status

from maas.cli.redis_server import free_port
from maas.models.registry import ModelVersion

HERE = Path(__file__).resolve().parent / "peers"
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class PeerKind:
    script: str  # under bench/peers/; argv: REPOSITORY HTTP_PORT [GRPC_PORT]
    venv: str | None  # bench/venvs.py's name; None: maas' own interpreter
    protocol: str  # the HTTP request it is sent: "v1-json" (a maas job body) or "v2-json"
    grpc: bool  # serves the KServe v2 gRPC service too
    start_timeout_s: float


PEERS = {
    "naive": PeerKind("naive_server.py", None, "v1-json", False, 60.0),
    "pytriton": PeerKind("pytriton_server.py", "pytriton", "v2-json", True, 180.0),
    "mlserver": PeerKind("mlserver_server.py", "mlserver", "v2-json", True, 180.0),
}


class PeerError(RuntimeError):
    pass


class Peer:
    def __init__(self, name: str, repository: Path, log_file: Path):
        if name not in PEERS:
            raise PeerError(f"unknown peer {name!r}; known: {sorted(PEERS)}")
        self.name, self.kind = name, PEERS[name]
        self.port = free_port()
        self.grpc_port = free_port() if self.kind.grpc else None
        self.url = f"http://127.0.0.1:{self.port}"
        python = venvs.python(self.kind.venv) if self.kind.venv else Path(sys.executable)
        ports = [str(p) for p in (self.port, self.grpc_port) if p is not None]
        self.command = [str(python), str(HERE / self.kind.script), str(repository), *ports]
        self.env = venvs.environment(self.kind.venv) if self.kind.venv else None
        self.log_file = log_file
        self.process: subprocess.Popen | None = None

    def load_spec(self, model: ModelVersion, work: Path, duration_s: int, args) -> LoadSpec:
        """The wrk load of single-row requests to this peer (bench/run.py's connections, threads
        and wait), its body written under work."""
        path, body, headers = request(model, self.kind.protocol, 1)
        body_file = work / f"peer-{self.name}-{model.name}.body"
        body_file.write_bytes(body)
        spec = LoadSpec(self.url + path, body_file, duration_s, args.connections, args.threads, args.wait)
        if self.kind.protocol == "v1-json":  # wrk_post.lua sets the job's own headers
            return spec
        return replace(spec, script=OIP_SCRIPT, headers=headers)

    def start(self, model: ModelVersion) -> None:
        """Starts the server (in a process group of its own, so that stop() ends every process
        it started) and returns once it answers one request on model."""
        path, body, headers = request(model, self.kind.protocol, 1)
        named = dict(h.split(": ", 1) for h in headers)
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        deadline = time.monotonic() + self.kind.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PeerError(f"{self.name} exited: {self.log_file.read_text()[-2000:]}")
            try:
                if http_status(self.url + path, body, named, timeout_s=5.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise PeerError(f"{self.name} not ready after {self.kind.start_timeout_s:g} s: {self.log_file}")

    def stop(self) -> None:
        if self.process is None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        # Whatever is left of its group goes now: Triton's server and stubs outlive their parent.
        self._signal(signal.SIGKILL)
        self.process.wait()

    def _signal(self, sent: signal.Signals) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, sent)
        except ProcessLookupError:
            pass  # the group has ended

    def cpu_s(self) -> dict[str, float]:
        assert self.process is not None
        return {self.name if r == "?" else r: s for r, s in tree_cpu_s(self.process.pid).items()}

    def measured(self, spec: LoadSpec, log_file: Path) -> dict:
        """jobs/s, latency and CPU per job (the whole server, and per process) under one wrk run."""
        before, (busy_before, _) = self.cpu_s(), machine_cpu_s()
        run = run_wrk(spec, log_file)
        after, (busy_after, _) = self.cpu_s(), machine_cpu_s()
        spent = {role: s - before.get(role, 0.0) for role, s in after.items()}
        svc = service_summary(run.stats)
        jobs = svc["succeeded_200"]
        return {
            "protocol": self.kind.protocol,
            "jobs_per_s": svc["jobs_per_s"],
            "latency_ms": svc["latency_ms"],
            "not_200": failed_requests(svc),
            "ms_per_job": round(1000 * sum(spent.values()) / jobs, 3) if jobs else None,
            "ms_per_job_by_process": {
                role: round(1000 * s / jobs, 3) if jobs else None for role, s in sorted(spent.items())
            },
            "cpu_pct": round(100 * sum(spent.values()) / run.wall_s, 1),
            "client_wrk_pct": round(100 * run.client_cpu_s / run.wall_s, 1),
            "machine_busy_pct": round(100 * (busy_after - busy_before) / run.wall_s, 1),
        }
