"""`make bench`, the cost of metrics on jobs/s: two `maas serve`s side by side on the same
repository, one as shipped (metrics on) and one whose prometheus-client updates are no-ops
(bench/metrics_off/sitecustomize.py), tracing off in both (no OTEL endpoint: the SDK is never
loaded). The same closed-loop wrk load goes to each in alternating rounds (on, off, off, on, ...),
so a shared machine's drift hits both alike; the figure is the ratio of their jobs/s over all
rounds, printed with the machine's load average and the CPU other processes took meanwhile."""

import os
from pathlib import Path

from cpu import machine_cpu_s, tree_cpu_s
from load import LoadSpec, run_wrk
from report import service_summary
from service import Service, ServiceError

METRICS_OFF = Path(__file__).resolve().parent / "metrics_off"
VARIANTS = ("on", "off")
CHECK_WAIT_S = 10.0


def add_arguments(parser) -> None:
    parser.add_argument(
        "--overhead-rounds",
        type=int,
        default=10,  # fewer cannot resolve a few per cent: rounds of one variant spread ±10 %
        help="Rounds per variant of the metrics on/off comparison (bench/overhead.py); 0 skips it.",
    )
    parser.add_argument("--overhead-duration", type=int, default=5, help="Seconds per overhead round.")


def _environment(variant: str) -> dict[str, str]:
    env = {"OTEL_SDK_DISABLED": "true"}  # tracing off in both, whatever the caller's environment
    if variant == "off":
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(METRICS_OFF), os.environ.get("PYTHONPATH")) if p)
    return env


def _round(service: Service, spec: LoadSpec, log_file: Path) -> dict:
    maas_before, (busy_before, _) = tree_cpu_s(service.process.pid), machine_cpu_s()
    run = run_wrk(spec, log_file)
    maas_after, (busy_after, _) = tree_cpu_s(service.process.pid), machine_cpu_s()
    maas_s = sum(maas_after.values()) - sum(maas_before.values())
    svc = service_summary(run.stats)
    other_s = max(0.0, busy_after - busy_before - maas_s - run.client_cpu_s)
    return {
        "ok": svc["succeeded_200"],
        "duration_s": svc["duration_s"],
        "jobs_per_s": svc["jobs_per_s"],
        "not_200": svc["not_finished_202"] + svc["other_responses"],
        "maas_cpu_s": round(maas_s, 3),
        "maas_pct": round(100 * maas_s / run.wall_s, 1),
        "other_pct": round(100 * other_s / run.wall_s, 1),  # the rest of the machine's work
    }


def _started(work: Path, repo: Path, variant: str, body: bytes) -> Service:
    service = Service(
        repo, work / f"state-{variant}", work / f"maas-serve-{variant}.log", _environment(variant)
    )
    service.start()
    status, job = service.submit(body, CHECK_WAIT_S)
    if status != 200 or job.get("status") != "succeeded":
        raise ServiceError(f"metrics {variant}: a single job answered {status}: {str(job)[:300]}")
    return service


def overhead(repo: Path, body_file: Path, args, work: Path) -> dict:
    """Alternating rounds against both services; their jobs/s and the ratio on/off."""
    services: dict[str, Service] = {}
    rounds: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    load_before = os.getloadavg()
    try:
        for variant in VARIANTS:
            services[variant] = _started(work, repo, variant, body_file.read_bytes())
        for variant, service in services.items():
            if args.warmup > 0:
                warmup = LoadSpec(
                    service.url + "/v1/jobs",
                    body_file,
                    args.warmup,
                    args.connections,
                    args.threads,
                    args.wait,
                )
                run_wrk(warmup, work / f"wrk-overhead-warmup-{variant}.log")
        for index in range(2 * args.overhead_rounds):
            variant = VARIANTS[(index + index // 2) % 2]  # on, off, off, on, on, off, ...
            spec = LoadSpec(
                services[variant].url + "/v1/jobs",
                body_file,
                args.overhead_duration,
                args.connections,
                args.threads,
                args.wait,
            )
            rounds[variant].append(_round(services[variant], spec, work / f"wrk-overhead-{index}.log"))
    finally:
        for service in services.values():
            service.stop()
    return _summary(rounds, load_before, os.getloadavg())


def _jobs(rounds: list[dict]) -> int:
    return sum(r["ok"] for r in rounds)


def _summary(rounds: dict[str, list[dict]], load_before, load_after) -> dict:
    rate = {v: _jobs(rounds[v]) / sum(r["duration_s"] for r in rounds[v]) for v in VARIANTS}
    # On a machine others load, jobs/s follows the CPU the scheduler gave maas in each round;
    # maas CPU per job is steadier, so it is reported beside the jobs/s ratio.
    cpu_ms = {v: 1000 * sum(r["maas_cpu_s"] for r in rounds[v]) / _jobs(rounds[v]) for v in VARIANTS}
    every = [r for v in VARIANTS for r in rounds[v]]
    return {
        "jobs_per_s": {v: round(rate[v], 1) for v in VARIANTS},
        "ratio_on_to_off": round(rate["on"] / rate["off"], 4),
        "overhead_pct": round(100 * (1 - rate["on"] / rate["off"]), 1),
        "maas_cpu_ms_per_job": {v: round(cpu_ms[v], 3) for v in VARIANTS},
        "cpu_per_job_ratio_on_to_off": round(cpu_ms["on"] / cpu_ms["off"], 4),
        "rounds": rounds,
        "load_average_1m": [round(load_before[0], 2), round(load_after[0], 2)],
        "other_processes_pct": round(sum(r["other_pct"] for r in every) / len(every), 1),
        "all_responses_200": all(r["not_200"] == 0 for r in every),
    }


def print_overhead(model: str, found: dict) -> None:
    per_round = {v: [r["jobs_per_s"] for r in found["rounds"][v]] for v in VARIANTS}
    cpu_ms, cpu_ratio = found["maas_cpu_ms_per_job"], found["cpu_per_job_ratio_on_to_off"]
    print(
        f"\nmetrics overhead on {model} (tracing off in both): "
        f"{found['jobs_per_s']['on']:,.1f} jobs/s with metrics vs {found['jobs_per_s']['off']:,.1f} without, "
        f"ratio {found['ratio_on_to_off']:.3f} ({found['overhead_pct']:+.1f}% cost)\n"
        f"  rounds (jobs/s) on: {per_round['on']}, off: {per_round['off']}\n"
        f"  maas CPU per job: {cpu_ms['on']} ms with metrics vs {cpu_ms['off']} ms without, "
        f"ratio {cpu_ratio:.3f}\n"
        f"  machine: load average (1 min) {found['load_average_1m'][0]} before, "
        f"{found['load_average_1m'][1]} after; other processes took {found['other_processes_pct']}% "
        f"of one core on average during the rounds ({os.cpu_count()} cores)",
        flush=True,
    )
