"""`make bench-gpu`: a GPU worker's throughput against raw onnxruntime CUDA on the same GPU.

For the compute-heavy bench MLP and a 4096-wide MLP (a model a GPU needs to be busy), rows/s of
onnxruntime's CUDA provider in-process per batch size, with plain `session.run` and with IO binding
(what the worker uses on a GPU), then jobs through a real `maas serve` whose worker runs on
`--device`, closed loop with wrk: single-row jobs and 64-row jobs. Prints the service/raw ratio and
the GPU's utilisation sampled by nvidia-smi while the load ran. Needs a CUDA machine with the `gpu`
extra installed (scripts/gpu_check.sh does both).
"""

import argparse
import json
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np
from heavy_model import HEAVY_FEATURES, BenchModel, _place, write_heavy_model, write_mlp
from load import LoadSpec, run_wrk
from raw_runtime import rows_per_s
from service import Service

from maas.models.registry import ModelRepository, ModelVersion
from worker.runtimes.onnx_runtime import OnnxRuntime

OUT_FILE = Path(__file__).resolve().parent / "out" / "gpu.json"
WIDE = 4096
WIDE_LAYERS = 8
BATCHES = (1, 32, 64, 128, 256, 512, 1024)


def _config(max_batch_size: int, io_binding: bool = True) -> dict:
    return {
        "max_batch_size": max_batch_size,
        "max_queue_delay_ms": 2,
        "max_queue_rows": 100_000,
        "onnxruntime": {"io_binding": io_binding},
    }


def build(root: Path) -> list[str]:
    write_heavy_model(_place(root, BenchModel("heavy_mlp", _config(512))))
    wide = [HEAVY_FEATURES] + [WIDE] * WIDE_LAYERS + [10]
    write_mlp(_place(root, BenchModel("wide_mlp", _config(512))), "wide_mlp", wide)
    return ["heavy_mlp", "wide_mlp"]


def raw(model: ModelVersion, device: str, seconds: float) -> dict:
    """rows/s per batch size, plain run and IO binding, through the worker's own runtime class."""
    out: dict[str, dict[int, float]] = {}
    for bind in (False, True):
        config = model.config.model_copy(deep=True)
        config.onnxruntime.io_binding = bind
        runtime = OnnxRuntime(model.model_copy(update={"config": config}), device)
        rng = np.random.default_rng(0)
        out["io_binding" if bind else "session_run"] = {
            size: round(
                rows_per_s(runtime, {"features": rng.random((size, HEAVY_FEATURES), np.float32)}, seconds)
            )
            for size in BATCHES
        }
    return out


class GpuSampler:
    """nvidia-smi every 200 ms while the load runs: mean and peak utilisation, peak memory."""

    def __init__(self, index: int):
        command = ["nvidia-smi", f"--id={index}", "--query-gpu=utilization.gpu,memory.used"]
        self.command = command + ["--format=csv,noheader,nounits", "-lms", "200"]
        self.samples: list[tuple[float, float]] = []

    def __enter__(self) -> "GpuSampler":
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _read(self) -> None:
        for line in self.process.stdout or []:
            util, memory = (float(x) for x in line.split(","))
            self.samples.append((util, memory))

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait()

    def summary(self) -> dict:
        utils = [u for u, _ in self.samples] or [0.0]
        return {
            "util_mean_pct": round(sum(utils) / len(utils), 1),
            "util_max_pct": max(utils),
            "memory_max_mib": max((m for _, m in self.samples), default=0.0),
            "samples": len(self.samples),
        }


def service_load(service: Service, model: str, rows: int, args, work: Path) -> dict:
    body = work / f"{model}-{rows}.json"
    features = np.random.default_rng(1).random((rows, HEAVY_FEATURES)).round(3).tolist()
    body.write_text(json.dumps({"model": model, "inputs": features}))
    status, job = service.submit(body.read_bytes(), 30)
    assert status == 200 and job["status"] == "succeeded", job
    spec = LoadSpec(service.url + "/v1/jobs", body, 2, args.connections, args.threads, 30)
    run_wrk(spec, work / "warmup.log")
    spec = LoadSpec(service.url + "/v1/jobs", body, args.duration, args.connections, args.threads, 30)
    with GpuSampler(int(args.device.partition(":")[2] or 0)) as gpu:
        run = run_wrk(spec, work / f"wrk-{model}-{rows}.log")
    jobs_per_s = run.stats["requests"] / run.wall_s
    return {
        "rows_per_job": rows,
        "jobs_per_s": round(jobs_per_s, 1),
        "rows_per_s": round(jobs_per_s * rows, 1),
        "client_cpu_s": round(run.client_cpu_s, 2),
        "wall_s": round(run.wall_s, 2),
        "gpu": gpu.summary(),
        "wrk": run.stats,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--raw-seconds", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=OUT_FILE)
    args = parser.parse_args()
    results: dict = {"device": args.device, "models": {}}
    with tempfile.TemporaryDirectory(prefix="maas-bench-gpu-") as tmp:
        work = Path(tmp)
        names = build(work / "models")
        registry = ModelRepository(work / "models")
        for name in names:
            results["models"][name] = {"raw": raw(registry.get(name), args.device, args.raw_seconds)}
            print(name, "raw rows/s", json.dumps(results["models"][name]["raw"]), flush=True)
        service = Service(work / "models", work / "state", work / "serve.log", {"MAAS_DEVICE": args.device})
        service.start(timeout_s=180)
        try:
            for name in names:
                best = max(results["models"][name]["raw"]["io_binding"].values())
                for rows in (1, 64):
                    figures = service_load(service, name, rows, args, work)
                    figures["ratio_to_raw_best"] = round(figures["rows_per_s"] / best, 3)
                    results["models"][name][f"service_{rows}_row_jobs"] = figures
                    print(
                        name, rows, "row jobs:", json.dumps({k: v for k, v in figures.items() if k != "wrk"})
                    )
        finally:
            service.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
