"""Where gRPC runs, measured: the same single-row gRPC load on the demo model against (a) gRPC
in the API process beside HTTP (what maas does) and (b) gRPC in a `maas api` of its own beside
`maas serve` (MAAS_GRPC_PORT=0 there), alternating rounds so that both see the same machine.

`python bench/grpc_role.py --rounds 2 --duration 8`"""

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from cpu import _children, role_of
from grpc_load import ROWS, Load, add_arguments, print_figure, run_load
from heavy_model import build_repository
from service import MAAS, Service, http_status

from maas.cli.redis_server import free_port
from maas.models.registry import ModelRepository


def api_environment(serve_pid: int) -> dict[str, str]:
    """The environment `maas serve` gave its API child: the same Redis, keys and settings."""
    api = next(pid for pid in _children(serve_pid) if role_of(pid) == "api")
    pairs = Path(f"/proc/{api}/environ").read_bytes().split(b"\0")
    return dict(p.decode().split("=", 1) for p in pairs if b"=" in p)


def own_api(serve_pid: int, grpc_port: int, log: Path) -> subprocess.Popen:
    env = {**api_environment(serve_pid), "MAAS_PORT": str(free_port()), "MAAS_GRPC_PORT": str(grpc_port)}
    process = subprocess.Popen([str(MAAS), "api"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if http_status(f"http://127.0.0.1:{env['MAAS_PORT']}/healthz")[0] == 200:
                return process
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the gRPC api did not start: {log.read_text()[-2000:]}")


def one_round(layout: str, repo: Path, work: Path, args, spec) -> dict:
    grpc_port = free_port()
    in_api = layout == "in the API process"
    env = {"MAAS_GRPC_PORT": str(grpc_port if in_api else 0)}
    service = Service(repo, work / f"state-{time.monotonic_ns()}", work / "serve.log", env)
    extra = None
    try:
        service.start(timeout_s=180)
        pids = [service.process.pid]
        if not in_api:
            extra = own_api(service.process.pid, grpc_port, work / "grpc-api.log")
            pids.append(extra.pid)
        load = Load(
            f"127.0.0.1:{grpc_port}",
            "digits",
            spec.name,
            tuple(spec.shape[1:]),
            ROWS[0],
            args.grpc_in_flight,
            args.warmup,
            args.duration,
        )
        figure = run_load(load, args.grpc_processes, pids)
        print(f"{layout}:", flush=True)
        print_figure(figure)
        return figure
    finally:
        if extra is not None:
            extra.terminate()
            extra.wait(30)
        service.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    add_arguments(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="maas-bench-grpc-role-") as tmp:
        work = Path(tmp)
        build_repository(work / "models")
        spec = ModelRepository(work / "models").get("digits").signature.inputs[0]
        print(f"gRPC role: {args.grpc_processes} x {args.grpc_in_flight} in flight, pid {os.getpid()}")
        for _ in range(args.rounds):
            for layout in ("in the API process", "in an API process of its own"):
                one_round(layout, work / "models", work, args, spec)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
