"""`make bench`, protocols: the same model version through `/v1` JSON jobs (`Prefer: wait`),
`/v2` JSON and `/v2` with binary tensors both ways, single-row and 64-row requests, closed loop
with wrk (bench/wrk_oip.lua): requests/s, rows/s, p50/p99 latency, and the CPU the client and
maas used."""

import json
from pathlib import Path

import numpy as np
from cpu import tree_cpu_s
from load import LoadSpec, run_wrk
from service import Service, ServiceError, http_status

from maas.models.registry import ModelVersion

OIP_SCRIPT = Path(__file__).resolve().parent / "wrk_oip.lua"
PROTOCOLS = ("v1-json", "v2-json", "v2-binary")
ROW_COUNTS = (1, 64)
WAIT_S = 10.0


def request(model: ModelVersion, protocol: str, rows: int, seed: int = 0) -> tuple[str, bytes, tuple]:
    """(path, body, headers) of one request of `rows` rows; the same every time, as wrk sends it."""
    spec = model.signature.inputs[0]
    x = np.random.default_rng(seed).random((rows, *spec.shape[1:])).round(3).astype(np.float32)
    if protocol == "v1-json":
        body = json.dumps({"model": model.name, "inputs": x.tolist()}).encode()
        return "/v1/jobs", body, ("Content-Type: application/json", f"Prefer: wait={WAIT_S:g}")
    tensor = {"name": spec.name, "shape": list(x.shape), "datatype": "FP32"}
    path = f"/v2/models/{model.name}/infer"
    if protocol == "v2-json":
        body = json.dumps({"inputs": [{**tensor, "data": x.ravel().tolist()}]}).encode()
        return path, body, ("Content-Type: application/json",)
    header = json.dumps(
        {
            "inputs": [{**tensor, "parameters": {"binary_data_size": x.nbytes}}],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    headers = ("Content-Type: application/octet-stream", f"Inference-Header-Content-Length: {len(header)}")
    return path, header + x.tobytes(), headers


def _check(service: Service, path: str, body: bytes, headers: tuple) -> None:
    named = dict(h.split(": ", 1) for h in headers)
    status, answer = http_status(service.url + path, body, named, timeout_s=WAIT_S + 5)
    if status != 200:
        raise ServiceError(f"POST {path} answered {status}: {answer[:300]!r}")


def one_load(service: Service, model: ModelVersion, protocol: str, rows: int, args, work: Path) -> dict:
    path, body, headers = request(model, protocol, rows)
    _check(service, path, body, headers)
    body_file = work / f"{model.name}-{protocol}-{rows}.body"
    body_file.write_bytes(body)

    # 64-row requests fill a batch each: a quarter of the clients keeps the lane as full, and
    # keeps a slow model's requests within the run.
    connections = max(1, args.protocol_connections // (4 if rows > 1 else 1))

    def spec(duration_s: int) -> LoadSpec:
        url = service.url + path
        return LoadSpec(url, body_file, duration_s, connections, 1, WAIT_S, OIP_SCRIPT, headers)

    log = work / f"wrk-{body_file.stem}.log"
    run_wrk(spec(1), log)  # warm-up
    maas_before = tree_cpu_s(service.process.pid)
    run = run_wrk(spec(args.protocol_duration), log)
    maas_after = tree_cpu_s(service.process.pid)
    maas_s = sum(maas_after.values()) - sum(maas_before.values())
    api_s = maas_after.get("api", 0.0) - maas_before.get("api", 0.0)
    stats, seconds = run.stats, run.stats["duration_us"] / 1e6
    return {
        "model": model.name,
        "protocol": protocol,
        "rows_per_request": rows,
        "connections": connections,
        "body_bytes": len(body),
        "requests_per_s": round(stats["ok"] / seconds, 1),
        "rows_per_s": round(stats["ok"] * rows / seconds, 1),
        "p50_ms": round(stats["latency_us"]["p50"] / 1000, 2),
        "p99_ms": round(stats["latency_us"]["p99"] / 1000, 2),
        "mean_batch_rows": round(stats["batch_sum"] / jobs, 1) if (jobs := stats["batch_jobs"]) else None,
        "not_200": stats["other"] + stats["accepted_202"] + sum(stats["socket_errors"].values()),
        "client_cpu_pct": round(100 * run.client_cpu_s / run.wall_s, 1),
        "maas_cpu_pct": round(100 * maas_s / run.wall_s, 1),
        # CPU per request is what a crowded machine distorts least (waiting costs no CPU); all of
        # maas' (API, worker, Redis) is what bounds requests/s once the cores are saturated.
        "api_cpu_ms_per_request": round(1000 * api_s / max(stats["responses"], 1), 2),
        "maas_cpu_ms_per_request": round(1000 * maas_s / max(stats["responses"], 1), 2),
    }


def protocol_loads(service: Service, models: list[ModelVersion], args, work: Path) -> list[dict]:
    results = []
    for model in models:
        for rows in ROW_COUNTS:
            for protocol in PROTOCOLS:
                results.append(one_load(service, model, protocol, rows, args, work))
                r = results[-1]
                print(
                    f"  {model.name} {protocol} x{rows}: {r['requests_per_s']:,.1f} req/s, "
                    f"{r['rows_per_s']:,.0f} rows/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
                    f"maas CPU {r['maas_cpu_ms_per_request']} ms/request",
                    flush=True,
                )
    return results


def print_protocols(results: list[dict]) -> None:
    head = (
        f"{'model':<10} {'protocol':<10} {'rows':>4} {'body B':>7} {'req/s':>8} {'rows/s':>9} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'batch':>5} {'client%':>7} {'maas%':>6} {'api ms/req':>10} "
        f"{'maas ms/req':>11} "
        f"{'not 200':>7}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for r in results:
        batch = "-" if r["mean_batch_rows"] is None else f"{r['mean_batch_rows']:.0f}"
        print(
            f"{r['model']:<10} {r['protocol']:<10} {r['rows_per_request']:>4} {r['body_bytes']:>7} "
            f"{r['requests_per_s']:>8,.1f} {r['rows_per_s']:>9,.0f} {r['p50_ms']:>7.1f} "
            f"{r['p99_ms']:>7.1f} {batch:>5} {r['client_cpu_pct']:>7.1f} {r['maas_cpu_pct']:>6.1f} "
            f"{r['api_cpu_ms_per_request']:>10.2f} {r['maas_cpu_ms_per_request']:>11.2f} {r['not_200']:>7}"
        )
