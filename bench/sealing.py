"""`make bench-sealing`: what sealing data at rest costs. The demo model under the same closed-loop
wrk load through `maas serve`, in the clear (MAAS_DATA_KEYS=clear) and sealed (a fresh key),
alternating for --rounds rounds; jobs/s, latency and CPU (client and maas) of each, and the
ratio sealed / clear of the mean jobs/s; and maas's CPU per job (less sensitive to other load
on the machine than jobs/s), and what one seal and one open of a job's payload take in-process.
"""

import argparse
import statistics
import tempfile
import timeit
from pathlib import Path

import numpy as np
from heavy_model import build_repository
from report import write_json
from run import load_model
from service import Service

from batching.codec import encode_tensors
from maas.core.sealing import CLEAR_SETTING, Purpose, Sealer, new_ring_entry
from maas.models.registry import ModelRepository

OUT_FILE = Path(__file__).resolve().parent / "out" / "sealing.json"
MODES = {"clear": CLEAR_SETTING, "sealed": new_ring_entry("bench")}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15, help="Seconds of measured load per run.")
    parser.add_argument("--warmup", type=int, default=2, help="Seconds of unmeasured load first.")
    parser.add_argument("--rounds", type=int, default=2, help="Runs of each mode, alternating.")
    parser.add_argument("--connections", type=int, default=64, help="Concurrent closed-loop clients.")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads.")
    parser.add_argument("--wait", type=float, default=10, help="Prefer: wait=S on every job.")
    parser.add_argument("--out", type=Path, default=OUT_FILE, help="Where to write the JSON results.")
    return parser.parse_args()


def one_run(mode: str, args, work: Path, index: int) -> dict:
    run_dir = work / f"{mode}-{index}"
    run_dir.mkdir()
    env = {"MAAS_DATA_KEYS": MODES[mode]}
    service = Service(work / "models", run_dir / "state", run_dir / "maas-serve.log", env)
    try:
        service.start()
        model = ModelRepository(work / "models").get("digits")
        svc, cpu = load_model(service, model, args, run_dir)
    except Exception:
        if service.process is not None:
            print("--- last lines of maas serve's log ---\n" + service.log_tail())
        raise
    finally:
        service.stop()
    return {"mode": mode, "service": svc, "cpu": cpu}


def summary(runs: list[dict], mode: str) -> dict:
    mine = [r for r in runs if r["mode"] == mode]
    return {
        "jobs_per_s": round(statistics.mean(r["service"]["jobs_per_s"] for r in mine), 1),
        "jobs_per_s_runs": [r["service"]["jobs_per_s"] for r in mine],
        "p50_ms": statistics.mean(r["service"]["latency_ms"]["p50"] for r in mine),
        "p99_ms": statistics.mean(r["service"]["latency_ms"]["p99"] for r in mine),
        "client_wrk_pct": round(statistics.mean(r["cpu"]["client_wrk_pct"] for r in mine), 1),
        "maas_pct": round(statistics.mean(r["cpu"]["maas_pct"] for r in mine), 1),
        "other_pct": round(statistics.mean(r["cpu"]["other_pct"] for r in mine), 1),
        # % of a core / jobs per second = core-seconds per job; x 1000: ms.
        "maas_cpu_ms_per_job": round(
            statistics.mean(10 * r["cpu"]["maas_pct"] / r["service"]["jobs_per_s"] for r in mine), 3
        ),
    }


def seal_us() -> dict:
    """In-process: one seal and one open of a demo job's encoded inputs, microseconds. A job
    takes 2 seals in the API (inputs, metadata) and 1 in the worker (outputs), 1 open in the
    worker (inputs) and 2 per read in the API (outputs, metadata)."""
    sealer = Sealer.from_setting(MODES["sealed"])
    payload = encode_tensors({"pixels": np.zeros((1, 64), np.float32)})
    args = (Purpose.JOB_INPUTS, "01JBENCHBENCHBENCHBENCHBENC", "default")
    sealed = sealer.seal(*args, payload)
    count = 20_000
    seal = timeit.timeit(lambda: sealer.seal(*args, payload), number=count) / count
    opened = timeit.timeit(lambda: sealer.open(*args, sealed), number=count) / count
    return {"seal_us": round(seal * 1e6, 2), "open_us": round(opened * 1e6, 2), "payload_bytes": len(payload)}


def print_figures(figures: dict) -> None:
    head = f"{'mode':<8} {'jobs/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'client CPU %':>13} {'maas CPU %':>11}"
    print(f"\n{head} {'maas CPU ms/job':>16} {'other CPU %':>12}")
    for mode, f in figures.items():
        print(
            f"{mode:<8} {f['jobs_per_s']:>9,.1f} {f['p50_ms']:>8.2f} {f['p99_ms']:>8.2f} "
            f"{f['client_wrk_pct']:>13.1f} {f['maas_pct']:>11.1f} {f['maas_cpu_ms_per_job']:>16.3f} "
            f"{f['other_pct']:>12.1f}"
        )


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="maas-bench-sealing-") as tmp:
        work = Path(tmp)
        build_repository(work / "models")
        runs = []
        for index in range(args.rounds):
            for mode in MODES:
                print(f"round {index + 1}/{args.rounds}: {mode}", flush=True)
                runs.append(one_run(mode, args, work, index))
    figures = {mode: summary(runs, mode) for mode in MODES}
    ratio = round(figures["sealed"]["jobs_per_s"] / figures["clear"]["jobs_per_s"], 3)
    cpu_ratio = round(figures["sealed"]["maas_cpu_ms_per_job"] / figures["clear"]["maas_cpu_ms_per_job"], 3)
    micro = seal_us()
    print_figures(figures)
    print(f"sealed / clear jobs/s: {ratio} (runs: {[f['jobs_per_s_runs'] for f in figures.values()]})")
    print(f"sealed / clear maas CPU per job: {cpu_ratio}")
    print(
        f"in-process: seal {micro['seal_us']} us, open {micro['open_us']} us ({micro['payload_bytes']} bytes)"
    )
    results = {"figures": figures, "ratio": ratio, "cpu_per_job_ratio": cpu_ratio, "in_process": micro}
    write_json(args.out, {"settings": {**vars(args), "out": str(args.out)}, **results, "runs": runs})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
