"""`make bench-bulk`: rows/s of one bulk job of N rows (.npy) per model through a real `maas
serve`, as a ratio of raw onnxruntime at the same batch size measured in the same run, and the
peak RSS (VmHWM) of every process of the service.
"""

import argparse
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
from heavy_model import build_repository
from raw_runtime import measure
from report import write_json
from rss import peak_rss_mb
from service import Service, ServiceError

from maas.models.registry import ModelRepository, ModelVersion

OUT_FILE = Path(__file__).resolve().parent / "out" / "bulk.json"
BLOCK_ROWS = 65_536


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="Rows per bulk job.")
    parser.add_argument("--models", default="", help="Comma-separated subset of the bench models.")
    parser.add_argument("--chunk-rows", type=int, default=None, help="Rows per chunk; default the server's.")
    parser.add_argument("--raw-seconds", type=float, default=1.0, help="Seconds of raw measurement.")
    parser.add_argument("--out", type=Path, default=OUT_FILE, help="Where to write the JSON results.")
    return parser.parse_args()


def write_rows(path: Path, model: ModelVersion, rows: int) -> None:
    """A float32 .npy of `rows` random rows, written in blocks (the bench stays small too)."""
    spec = model.signature.inputs[0]
    array = np.lib.format.open_memmap(path, "w+", np.float32, (rows, *spec.shape[1:]))
    rng = np.random.default_rng(0)
    for start in range(0, rows, BLOCK_ROWS):
        block = array[start : start + BLOCK_ROWS]
        block[:] = rng.random(block.shape, dtype=np.float32)
    array.flush()
    del array


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def run_job(client: httpx.Client, model: ModelVersion, source: Path, chunk_rows: int | None) -> dict:
    fields = {"model": model.name, **({"chunk_rows": str(chunk_rows)} if chunk_rows else {})}
    with source.open("rb") as f:
        response = client.post("/v1/bulk-jobs", data=fields, files={"file": (source.name, f)})
    if response.status_code != 202:
        raise ServiceError(f"submit answered {response.status_code}: {response.text[:500]}")
    bulk_id, split_done_s = response.json()["id"], None
    while True:
        job = client.get(f"/v1/bulk-jobs/{bulk_id}").json()
        if split_done_s is None and job["chunks"]["total"] is not None:
            split_done_s = time.time()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.5)
    started = time.monotonic()
    size = 0
    with client.stream("GET", f"/v1/bulk-jobs/{bulk_id}/output") as output:
        for block in output.iter_bytes():
            size += len(block)
    download_s = time.monotonic() - started
    created, finished = epoch(job["created_at"]), epoch(job["finished_at"])
    return {
        "status": job["status"],
        "counts": job["counts"],
        "chunks": job["chunks"]["total"],
        "seconds": round(finished - created, 2),
        # From submit to the first chunk started: the split's queueing and its first chunk.
        "first_chunk_after_s": round(epoch(job["started_at"]) - created, 3) if job["started_at"] else None,
        "split_seconds_at_most": round(split_done_s - created, 2) if split_done_s else None,
        "rows_per_s": round(job["counts"]["total"] / (finished - created), 1),
        "output_bytes": size,
        "download_s": round(download_s, 2),
    }


def bench_model(service: Service, model: ModelVersion, args, work: Path) -> dict:
    raw = measure(model, args.raw_seconds)[model.config.max_batch_size]
    source = work / f"{model.name}.npy"
    write_rows(source, model, args.rows)
    with httpx.Client(base_url=service.url, timeout=httpx.Timeout(60.0, read=600.0)) as client:
        job = run_job(client, model, source, args.chunk_rows)
    source.unlink()
    result = {
        "model": model.name,
        "rows": args.rows,
        "batch_size": model.config.max_batch_size,
        "raw_rows_per_s": round(raw, 1),
        "job": job,
        "ratio_to_raw": round(job["rows_per_s"] / raw, 3),
        "peak_rss_mb_so_far": peak_rss_mb(service.process.pid),
    }
    print(json.dumps(result, indent=2), flush=True)
    return result


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="maas-bench-bulk-") as tmp:
        work = Path(tmp)
        names = [m.name for m in build_repository(work / "models")]
        wanted = [n.strip() for n in args.models.split(",") if n.strip()] or names
        registry = ModelRepository(work / "models")
        service = Service(work / "models", work / "state", work / "maas-serve.log")
        try:
            service.start()
            results = [bench_model(service, registry.get(name), args, work) for name in wanted]
        except Exception:
            if service.process is not None:
                print("--- last lines of maas serve's log ---\n" + service.log_tail())
            raise
        finally:
            service.stop()
    write_json(args.out, {"settings": {**vars(args), "out": str(args.out)}, "results": results})
    print(f"\nwrote {args.out}")
    return 0 if all(r["job"]["status"] == "succeeded" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
