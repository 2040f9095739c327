"""Turns raw and load measurements into one result per model, printed as tables and JSON."""

import json
from pathlib import Path


def raw_summary(raw: dict[int, float]) -> dict:
    best = max(raw, key=raw.get)
    return {
        "rows_per_s_by_batch": {str(size): round(rate, 1) for size, rate in raw.items()},
        "best_batch": best,
        "limit_rows_per_s": round(raw[best], 1),
        "batching_gain": round(raw[best] / raw[min(raw)], 2),  # best vs the smallest batch (1)
    }


def service_summary(stats: dict) -> dict:
    duration_s = stats["duration_us"] / 1e6
    jobs = stats["batch_jobs"]
    latency = stats["latency_us"]
    return {
        "duration_s": round(duration_s, 2),
        "jobs_per_s": round(stats["ok"] / duration_s, 1),
        "succeeded_200": stats["ok"],
        "not_finished_202": stats["accepted_202"],
        "other_responses": stats["other"],
        "other_codes": stats["other_codes"].split(),
        "socket_errors": stats["socket_errors"],
        "latency_ms": {k: round(v / 1000, 2) for k, v in latency.items()},
        # Per job: the rows of the batch each job ran in. Per batch: each batch counted once.
        "mean_batch_per_job": round(stats["batch_sum"] / jobs, 2) if jobs else None,
        "mean_batch_per_batch": round(jobs / stats["inverse_batch_sum"], 2) if jobs else None,
        "mean_queue_ms": round(stats["queue_ms_sum"] / jobs, 2) if jobs else None,
        "mean_inference_ms": round(stats["inference_ms_sum"] / jobs, 2) if jobs else None,
    }


def failed_requests(svc: dict) -> int:
    """Requests of a service_summary that did not answer 200: unfinished 202s, other statuses and
    socket errors."""
    return svc["not_finished_202"] + svc["other_responses"] + sum(svc["socket_errors"].values())


def cpu_summary(
    client_s: float, maas_s: dict[str, float], machine_busy_s: float, wall_s: float, cores: int, jobs: int
) -> dict:
    """CPU as % of one core over the load run (the machine's ceiling is cores x 100 %), and as
    milliseconds of CPU per job per role: the figure that says what more cores would give."""

    def pct(seconds: float) -> float:
        return round(100 * seconds / wall_s, 1)

    return {
        "cores": cores,
        "client_wrk_pct": pct(client_s),
        "maas_pct": pct(sum(maas_s.values())),
        "maas_pct_by_process": {role: pct(s) for role, s in sorted(maas_s.items())},
        "machine_busy_pct": pct(machine_busy_s),
        # Anything else running on the machine (another test run, say) skews the figures: show it.
        "other_pct": pct(max(0.0, machine_busy_s - client_s - sum(maas_s.values()))),
        "ms_per_job": round(1000 * sum(maas_s.values()) / jobs, 3) if jobs else None,
        "ms_per_job_by_process": {
            role: round(1000 * s / jobs, 3) if jobs else None for role, s in sorted(maas_s.items())
        },
    }


def _fmt(value, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def print_raw(model: str, raw: dict) -> None:
    rates = "  ".join(f"b{size}: {rate:,.0f}" for size, rate in raw["rows_per_s_by_batch"].items())
    print(
        f"  raw onnxruntime {model}: rows/s {rates}  (best b{raw['best_batch']}, "
        f"{raw['batching_gain']}x batch 1)"
    )


def print_tables(results: list[dict]) -> None:
    head = (
        f"{'model':<10} {'raw rows/s':>10} {'(batch)':>7} {'svc jobs/s':>10} {'svc/raw':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'batch/job':>9} {'batch/bat':>9} {'queue ms':>8} "
        f"{'infer ms':>8} {'not 200':>7}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for r in results:
        raw, svc = r["raw"], r["service"]
        failures = failed_requests(svc)
        print(
            f"{r['model']:<10} {raw['limit_rows_per_s']:>10,.0f} {raw['best_batch']:>7} "
            f"{svc['jobs_per_s']:>10,.1f} {r['ratio_service_to_raw']:>7.3f} "
            f"{svc['latency_ms']['p50']:>7.1f} {svc['latency_ms']['p99']:>7.1f} "
            f"{_fmt(svc['mean_batch_per_job'], '.1f'):>9} {_fmt(svc['mean_batch_per_batch'], '.1f'):>9} "
            f"{_fmt(svc['mean_queue_ms'], '.1f'):>8} {_fmt(svc['mean_inference_ms'], '.1f'):>8} "
            f"{failures:>7}"
        )
    print(
        "\nCPU over each load run, % of one core "
        f"({results[0]['cpu']['cores']} cores: the client competes with the service)"
    )
    for r in results:
        cpu = r["cpu"]
        parts = "  ".join(f"{role} {pct}" for role, pct in cpu["maas_pct_by_process"].items())
        print(
            f"{r['model']:<10} client wrk {cpu['client_wrk_pct']:>5.1f}   maas {cpu['maas_pct']:>5.1f} "
            f"({parts})   machine busy {cpu['machine_busy_pct']:>5.1f}   other {cpu['other_pct']:>5.1f}"
        )
    print("\nCPU per job, ms (all of maas, then per role; lower is better)")
    for r in results:
        cpu = r["cpu"]
        parts = "  ".join(f"{role} {_fmt(ms, '.3f')}" for role, ms in cpu["ms_per_job_by_process"].items())
        print(f"{r['model']:<10} maas {_fmt(cpu['ms_per_job'], '.3f')}   ({parts})")
    print("\nRedis commands per job (INFO commandstats; independent of other load on the machine)")
    for r in results:
        stats = r["cpu"].get("redis_commands") or {}
        top = "  ".join(f"{n} {c}" for n, c in list(stats.get("calls_per_job_by_command", {}).items())[:8])
        print(
            f"{r['model']:<10} calls {_fmt(stats.get('calls_per_job'))}  "
            f"redis us {_fmt(stats.get('redis_us_per_job'))}   ({top})"
        )


def write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
