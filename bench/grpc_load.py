"""gRPC infer load: closed-loop ModelInfer (the Open Inference Protocol, raw tensors) against a
real `maas serve`, single-row and 64-row requests, from several client processes, each with
several calls in flight, so that the load generator is not what saturates; it says its CPU.

`python bench/grpc_load.py` alone, or from `make bench` (bench/run.py) after the wrk figures.
The clients use tritonclient's messages and stub (the wire is the protocol's, nothing of ours),
build each request once and only resend its bytes."""

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from cpu import cores, machine_cpu_s, tree_cpu_s
from heavy_model import build_repository
from service import Service
from tritonclient.grpc import service_pb2

from maas.cli.redis_server import free_port
from maas.models.registry import ModelRepository, ModelVersion

ROWS = (1, 64)


@dataclass(frozen=True)
class Load:
    target: str  # host:port
    model: str
    input_name: str
    row_shape: tuple[int, ...]
    rows: int
    in_flight: int  # calls in flight per client process
    warmup_s: float
    duration_s: float


def request_bytes(load: Load) -> bytes:
    request = service_pb2.ModelInferRequest(model_name=load.model)
    shape = [load.rows, *load.row_shape]
    request.inputs.add(name=load.input_name, datatype="FP32", shape=shape)
    request.raw_input_contents.append(np.random.default_rng(0).random(shape, dtype=np.float32).tobytes())
    return request.SerializeToString()


async def _client(load: Load, ready, go) -> tuple[list[float], int, float]:
    """Latencies (s) of calls that started in the measured window, errors, and the CPU seconds
    this process spent from the start of the load (warm-up included) to its end. The clock starts
    when every client process is connected (`go`), not when this one happened to finish
    importing, so the parent's CPU window and the clients' load are the same seconds."""
    payload = request_bytes(load)
    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(load.target) as channel:
        await channel.channel_ready()
        # Bytes in, bytes out: the client neither builds nor parses a message per call.
        infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        ready.put(os.getpid())
        await asyncio.to_thread(go.wait)
        start, cpu_start_s = time.monotonic(), time.process_time()
        measured_from, until = start + load.warmup_s, start + load.warmup_s + load.duration_s

        async def caller() -> None:
            nonlocal errors
            while (sent := time.monotonic()) < until:
                try:
                    await infer(payload, timeout=30)
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                if sent >= measured_from:
                    latencies.append(time.monotonic() - sent)

        await asyncio.gather(*(caller() for _ in range(load.in_flight)))
    return latencies, errors, time.process_time() - cpu_start_s


def client_process(load: Load, ready, go, results) -> None:
    results.put(asyncio.run(_client(load, ready, go)))


def run_load(load: Load, processes: int, serve_pids: list[int]) -> dict:
    """Starts the client processes, and measures the service's and the machine's CPU across the
    measured window (warm-up excluded by sleeping through it)."""
    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Queue(), context.Event(), context.Queue()
    clients = [
        context.Process(target=client_process, args=(load, ready, go, results)) for _ in range(processes)
    ]
    for client in clients:
        client.start()
    for _ in clients:
        ready.get(timeout=120)
    go.set()
    time.sleep(load.warmup_s)
    serve_before, (busy_before, _) = server_cpu_s(serve_pids), machine_cpu_s()
    time.sleep(load.duration_s)
    serve_after, (busy_after, _) = server_cpu_s(serve_pids), machine_cpu_s()
    answers = [results.get(timeout=load.warmup_s + load.duration_s + 60) for _ in clients]
    for client in clients:
        client.join()
    latencies = np.array([s for a in answers for s in a[0]])
    served = {role: round(serve_after[role] - serve_before.get(role, 0.0), 2) for role in serve_after}
    return summary(
        load,
        latencies,
        sum(a[1] for a in answers),
        sum(a[2] for a in answers),
        served,
        busy_after - busy_before,
    )


def server_cpu_s(pids: list[int]) -> dict[str, float]:
    """CPU seconds per role of the server's process trees rooted at pids."""
    total: dict[str, float] = {}
    for pid in pids:
        for role, seconds in tree_cpu_s(pid).items():
            role = "server" if role == "?" else role  # a peer's root process names no role
            total[role] = total.get(role, 0.0) + seconds
    return total


def summary(
    load: Load, latencies: np.ndarray, errors: int, client_cpu_s: float, served: dict, busy_s: float
) -> dict:
    wall_s = load.duration_s
    capacity_s = wall_s * cores()
    return {
        "model": load.model,
        "rows_per_request": load.rows,
        "requests_per_s": round(len(latencies) / wall_s, 1),
        "rows_per_s": round(len(latencies) * load.rows / wall_s, 1),
        "latency_ms": {
            "p50": round(float(np.percentile(latencies, 50)) * 1000, 2) if len(latencies) else None,
            "p99": round(float(np.percentile(latencies, 99)) * 1000, 2) if len(latencies) else None,
        },
        "errors": errors,
        # The clients' CPU covers warm-up too; their share is of the whole run on every core.
        "client_cpu_share": round(client_cpu_s / ((load.warmup_s + wall_s) * cores()), 3),
        "server_cpu_s_by_role": served,
        "machine_busy_share": round(busy_s / capacity_s, 3),
    }


def grpc_figures(models: list[ModelVersion], repo: Path, work: Path, args) -> list[dict]:
    """One `maas serve` with gRPC on, then each model x ROWS under load."""
    grpc_port = free_port()
    service = Service(
        repo, work / "grpc-state", work / "maas-serve-grpc.log", {"MAAS_GRPC_PORT": str(grpc_port)}
    )
    try:
        service.start()
        return grpc_loads(models, f"127.0.0.1:{grpc_port}", [service.process.pid], args, "maas")
    except Exception:
        print("--- last lines of maas serve's log ---\n" + service.log_tail())
        raise
    finally:
        service.stop()


def grpc_loads(models: list[ModelVersion], target: str, pids: list[int], args, server: str) -> list[dict]:
    """Each model x ROWS under load against any KServe v2 gRPC server at target (maas, or a
    peer of bench/peer.py), its CPU read from the process trees rooted at pids."""
    figures = []
    for model in models:
        spec = model.signature.inputs[0]
        for rows in ROWS:
            load = Load(
                target,
                model.name,
                spec.name,
                tuple(spec.shape[1:]),
                rows,
                args.grpc_in_flight,
                args.warmup,
                args.duration,
            )
            figures.append(run_load(load, args.grpc_processes, pids) | {"server": server})
            print_figure(figures[-1])
    return figures


def print_figure(f: dict) -> None:
    print(
        f"  grpc {f['server']} {f['model']} x{f['rows_per_request']}: {f['requests_per_s']:,.1f} req/s, "
        f"{f['rows_per_s']:,.1f} rows/s, p50 {f['latency_ms']['p50']} ms, p99 {f['latency_ms']['p99']} ms, "
        f"{f['errors']} errors, client CPU {f['client_cpu_share']:.0%} of the machine, "
        f"server CPU s {f['server_cpu_s_by_role']}",
        flush=True,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """bench/run.py's parser takes these too."""
    parser.add_argument("--grpc-processes", type=int, default=4, help="gRPC client processes.")
    parser.add_argument("--grpc-in-flight", type=int, default=16, help="gRPC calls in flight per process.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15, help="Seconds of measured load per case.")
    parser.add_argument("--warmup", type=int, default=2, help="Seconds of unmeasured load first.")
    parser.add_argument("--models", default="digits", help="Comma-separated bench models.")
    add_arguments(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="maas-bench-grpc-") as tmp:
        work = Path(tmp)
        build_repository(work / "models")
        registry = ModelRepository(work / "models")
        models = [registry.get(n.strip()) for n in args.models.split(",") if n.strip()]
        print(
            f"gRPC load: {args.grpc_processes} processes x {args.grpc_in_flight} in flight, "
            f"{cores()} cores, pid {os.getpid()}",
            flush=True,
        )
        figures = grpc_figures(models, work / "models", work, args)
    return 1 if any(f["errors"] or not f["requests_per_s"] for f in figures) else 0


if __name__ == "__main__":
    raise SystemExit(main())
