"""`make bench`: raw onnxruntime throughput vs the service under closed-loop wrk load, per model.

For each model of a generated repository (the demo `digits` and a compute-heavy MLP): rows/s of
onnxruntime in-process per batch size (the limit), then jobs/s, latency and batch sizes of
single-row synchronous jobs through a real `maas serve`, with the CPU each side used; and the
cost of metrics on jobs/s (bench/overhead.py: metrics on vs off, tracing off, alternating rounds).
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from codec import print_codec_costs
from cpu import cores, machine_cpu_s, tree_cpu_s, tree_roles
from grpc_load import add_arguments as add_grpc_arguments
from grpc_load import grpc_figures, grpc_loads
from heavy_model import build_repository
from load import LoadSpec, run_wrk
from overhead import add_arguments as add_overhead_arguments
from overhead import overhead, print_overhead
from peer import PEERS, Peer
from peer_report import print_grpc, print_peers
from protocols import print_protocols, protocol_loads
from raw_runtime import measure
from redis_stats import command_stats, per_job, redis_url
from report import (
    cpu_summary,
    failed_requests,
    print_raw,
    print_tables,
    raw_summary,
    service_summary,
    write_json,
)
from service import Service, ServiceError
from spy import Profiler, print_profile

from maas.models.registry import ModelRepository, ModelVersion

OUT_FILE = Path(__file__).resolve().parent / "out" / "latest.json"
CHECK_WAIT_S = 10.0  # the one job sent before the load only proves the service answers at all


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15, help="Seconds of measured load per model.")
    parser.add_argument("--warmup", type=int, default=2, help="Seconds of unmeasured load first.")
    parser.add_argument("--connections", type=int, default=64, help="Concurrent closed-loop clients.")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads.")
    parser.add_argument("--wait", type=float, default=10, help="Prefer: wait=S on every job.")
    parser.add_argument("--raw-seconds", type=float, default=0.5, help="Seconds per raw batch size.")
    parser.add_argument("--models", default="", help="Comma-separated subset of the bench models.")
    parser.add_argument("--out", type=Path, default=OUT_FILE, help="Where to write the JSON results.")
    parser.add_argument(
        "--protocol-duration",
        type=int,
        default=5,
        help="Seconds per /v1 JSON, /v2 JSON, /v2 binary run (bench/protocols.py); 0 skips them.",
    )
    parser.add_argument(
        "--protocol-connections", type=int, default=16, help="Closed-loop clients of the protocol runs."
    )
    add_grpc_arguments(parser)  # gRPC infer (bench/grpc_load.py); --grpc-processes 0 skips it
    add_overhead_arguments(parser)  # metrics on vs off (bench/overhead.py); --overhead-rounds 0 skips it
    parser.add_argument(
        "--peers",
        default="naive,pytriton,mlserver",
        help=f"Comma-separated peers loaded after maas ({','.join(PEERS)}; empty: none).",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="Record a py-spy profile of each role during each measured load (files beside --out).",
    )
    return parser.parse_args()


def job_body(model: ModelVersion, seed: int = 0) -> bytes:
    """One single-row job; the same body every time, as wrk sends it."""
    spec = model.signature.inputs[0]
    row = np.random.default_rng(seed).random(spec.shape[1:]).round(3).tolist()
    return json.dumps({"model": model.name, "inputs": [row]}, separators=(",", ":")).encode()


def check_one_job(service: Service, body: bytes) -> None:
    status, job = service.submit(body, CHECK_WAIT_S)
    if status != 200 or job.get("status") != "succeeded":
        raise ServiceError(f"a single job answered {status}: {json.dumps(job)[:500]}")


def measured_load(
    service: Service, spec: LoadSpec, log_file: Path, profiler: Profiler | None = None
) -> tuple[dict, dict]:
    """Runs wrk once and returns (service figures, CPU figures) for that run."""
    if profiler is not None:
        profiler.start(tree_roles(service.process.pid), spec.duration_s)
    url = redis_url(service.process.pid)
    commands_before = command_stats(url)
    maas_before, (busy_before, _) = tree_cpu_s(service.process.pid), machine_cpu_s()
    run = run_wrk(spec, log_file)
    maas_after, (busy_after, _) = tree_cpu_s(service.process.pid), machine_cpu_s()
    commands_after = command_stats(url)
    maas_s = {role: maas_after[role] - maas_before.get(role, 0.0) for role in maas_after}
    svc = service_summary(run.stats)
    jobs = svc["succeeded_200"] + svc["not_finished_202"]
    cpu = cpu_summary(run.client_cpu_s, maas_s, busy_after - busy_before, run.wall_s, cores(), jobs)
    cpu["redis_commands"] = per_job(commands_before, commands_after, jobs)
    if profiler is not None:
        cpu["profile"] = profiler.finish()
    return svc, cpu


def load_model(service: Service, model: ModelVersion, args, work: Path) -> tuple[dict, dict]:
    body_file = work / f"{model.name}.json"
    body_file.write_bytes(job_body(model))
    check_one_job(service, body_file.read_bytes())
    spec = LoadSpec(
        service.url + "/v1/jobs", body_file, args.warmup, args.connections, args.threads, args.wait
    )
    if args.warmup > 0:
        run_wrk(spec, work / f"wrk-warmup-{model.name}.log")
    spec = LoadSpec(spec.url, body_file, args.duration, args.connections, args.threads, args.wait)
    profiler = Profiler(args.out.parent / "profiles", model.name) if args.profile else None
    svc, cpu = measured_load(service, spec, work / f"wrk-{model.name}.log", profiler)
    print(
        f"  load {model.name}: {svc['jobs_per_s']:,.1f} jobs/s, p50 {svc['latency_ms']['p50']} ms, "
        f"p99 {svc['latency_ms']['p99']} ms, {svc['not_finished_202']} x 202, "
        f"{svc['other_responses']} other, socket errors {svc['socket_errors']}",
        flush=True,
    )
    if "profile" in cpu:
        print_profile(model.name, cpu["profile"])
    return svc, cpu


def serve_and_load(models: list[ModelVersion], args, repo: Path, work: Path) -> tuple[dict, list[dict]]:
    service = Service(repo, work / "state", work / "maas-serve.log")
    started = time.monotonic()
    try:
        service.start()
        print(f"maas serve ready on {service.url} after {time.monotonic() - started:.1f} s", flush=True)
        loads = {m.name: load_model(service, m, args, work) for m in models}
        protocols = protocol_loads(service, models, args, work) if args.protocol_duration > 0 else []
        return loads, protocols
    except Exception:
        if service.process is not None:
            print("--- last lines of maas serve's log ---\n" + service.log_tail())
        raise
    finally:
        service.stop()


def load_peers(models: list[ModelVersion], args, repo: Path, work: Path) -> tuple[dict[str, dict], list]:
    """Per model, per peer: the same wrk load against each peer server; then, for peers that
    speak gRPC, the same gRPC infer load as maas'."""
    found: dict[str, dict] = {m.name: {} for m in models}
    grpc: list[dict] = []
    for name in [n.strip() for n in args.peers.split(",") if n.strip()]:
        peer = Peer(name, repo, work / f"peer-{name}.log")
        try:
            peer.start(models[0])
            for model in models:
                found[model.name][name] = load_peer(peer, model, args, work)
            if peer.grpc_port is not None and args.grpc_processes:
                target = f"127.0.0.1:{peer.grpc_port}"
                grpc += grpc_loads(models, target, [peer.process.pid], args, name)
        except Exception:
            print(f"--- last lines of {name}'s log ---\n" + peer.log_file.read_text()[-3000:])
            raise
        finally:
            peer.stop()
    return found, grpc


def load_peer(peer: Peer, model: ModelVersion, args, work: Path) -> dict:
    if args.warmup > 0:
        run_wrk(
            peer.load_spec(model, work, args.warmup, args), work / f"wrk-warmup-{peer.name}-{model.name}.log"
        )
    spec = peer.load_spec(model, work, args.duration, args)
    figures = peer.measured(spec, work / f"wrk-{peer.name}-{model.name}.log")
    print(
        f"  load {model.name} on {peer.name}: {figures['jobs_per_s']:,.1f} jobs/s, "
        f"p50 {figures['latency_ms']['p50']} ms, CPU {figures['ms_per_job']} ms/job, "
        f"{figures['not_200']} not 200",
        flush=True,
    )
    return figures


def machine_load() -> str:
    """`uptime`'s load averages: how crowded the machine was (other work skews every figure)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {cores()} cores"


def result(model: ModelVersion, raw: dict, svc: dict, cpu: dict) -> dict:
    not_200 = failed_requests(svc)
    return {
        "model": model.name,
        "config": model.config.model_dump(),
        "raw": raw,
        "service": svc,
        "ratio_service_to_raw": round(svc["jobs_per_s"] / raw["limit_rows_per_s"], 4),
        "all_responses_200": not_200 == 0,
        "cpu": cpu,
    }


def main() -> int:
    args = parse_args()
    load_before = machine_load()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {load_before}", flush=True)
    with tempfile.TemporaryDirectory(prefix="maas-bench-") as tmp:
        work = Path(tmp)
        names = [m.name for m in build_repository(work / "models")]
        wanted = [n.strip() for n in args.models.split(",") if n.strip()] or names
        registry = ModelRepository(work / "models")
        models = [registry.get(name) for name in wanted]
        raws = {}
        codec = {}
        for model in models:
            raws[model.name] = raw_summary(measure(model, args.raw_seconds))
            print_raw(model.name, raws[model.name])
            codec[model.name] = print_codec_costs(model)
        loads, protocols = serve_and_load(models, args, work / "models", work)
        peers, peer_grpc = load_peers(models, args, work / "models", work)
        print(f"gRPC infer, {args.grpc_processes} client processes x {args.grpc_in_flight} in flight:")
        grpc = grpc_figures(models, work / "models", work, args) if args.grpc_processes else []
        costs = (
            overhead(work / "models", work / f"{models[0].name}.json", args, work)
            if args.overhead_rounds
            else None
        )
    results = [result(m, raws[m.name], *loads[m.name]) | {"peers": peers[m.name]} for m in models]
    print_tables(results)
    print_peers(results)
    print_grpc(grpc + peer_grpc)
    if protocols:
        print_protocols(protocols)
    if costs is not None:
        print_overhead(models[0].name, costs)
    load_after = machine_load()
    print(f"\nmachine: before the run {load_before}; after it {load_after}")
    document = {
        "settings": {**vars(args), "out": str(args.out)},
        "machine_load": {"before": load_before, "after": load_after},
        "results": results,
        "protocols": protocols,
        "codec_us": codec,
        "grpc": grpc + peer_grpc,
        "metrics_overhead": costs,
    }
    write_json(args.out, document)
    print(f"\nwrote {args.out}")
    failed = [r["model"] for r in results if not r["all_responses_200"]]
    if costs is not None and not costs["all_responses_200"]:
        failed.append(f"{models[0].name} (metrics overhead rounds)")
    if failed:
        print(f"NOT every response was 200 for {failed}: see not_finished_202 / other_responses")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
