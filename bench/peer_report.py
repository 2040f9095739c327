"""The peers' figures beside maas' (bench/peer.py): HTTP under the same wrk load, and gRPC
infer under the same client processes. A ratio maas/peer > 1 means maas is ahead."""

from report import failed_requests


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "-"


def _roles(by_process: dict[str, float]) -> str:
    return "  ".join(f"{role} {'-' if ms is None else format(ms, '.3f')}" for role, ms in by_process.items())


def print_peers(results: list[dict]) -> None:
    rows = [(r, name, peer) for r in results for name, peer in r.get("peers", {}).items()]
    if not rows:
        return
    print(
        "\nPeers under the same load (closed-loop wrk, single-row requests, same connections): "
        "maas /v1 JSON jobs against each peer's own request (naive: the same body; pytriton and "
        "mlserver: KServe v2 JSON infer); maas/peer > 1: maas ahead"
    )
    head = (
        f"{'model':<10} {'server':<9} {'request':<8} {'jobs/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'not 200':>7} {'wrk%':>5} {'busy%':>6} {'CPU ms/job':>10} {'maas/peer':>9}   CPU ms/job by process"
    )
    print(head + "\n" + "-" * len(head))
    for r in results:
        svc, cpu = r["service"], r["cpu"]
        failures = failed_requests(svc)
        print(
            f"{r['model']:<10} {'maas':<9} {'v1-json':<8} {svc['jobs_per_s']:>9,.1f} "
            f"{svc['latency_ms']['p50']:>7.1f} {svc['latency_ms']['p99']:>7.1f} {failures:>7} "
            f"{cpu['client_wrk_pct']:>5.1f} {cpu['machine_busy_pct']:>6.1f} {cpu['ms_per_job']:>10.3f} "
            f"{'':>9}   {_roles(cpu['ms_per_job_by_process'])}"
        )
        for peer_name, peer in r.get("peers", {}).items():
            print(
                f"{r['model']:<10} {peer_name:<9} {peer['protocol']:<8} {peer['jobs_per_s']:>9,.1f} "
                f"{peer['latency_ms']['p50']:>7.1f} {peer['latency_ms']['p99']:>7.1f} {peer['not_200']:>7} "
                f"{peer['client_wrk_pct']:>5.1f} {peer['machine_busy_pct']:>6.1f} "
                f"{peer['ms_per_job'] or 0:>10.3f} {_ratio(svc['jobs_per_s'], peer['jobs_per_s']):>9}   "
                f"{_roles(peer['ms_per_job_by_process'])}"
            )


def print_grpc(figures: list[dict]) -> None:
    """gRPC ModelInfer per server, model and rows per request; peers with maas/peer ratios."""
    if not figures:
        return
    print(
        "\ngRPC infer (bench/grpc_load.py: the same client processes for every server); "
        "maas/peer > 1: maas ahead"
    )
    head = (
        f"{'model':<10} {'rows':>4} {'server':<9} {'req/s':>9} {'rows/s':>10} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'errors':>6} {'client':>6} {'busy':>5} {'maas/peer':>9}"
    )
    print(head + "\n" + "-" * len(head))
    maas = {(f["model"], f["rows_per_request"]): f for f in figures if f["server"] == "maas"}
    for f in sorted(figures, key=lambda f: (f["model"], f["rows_per_request"], f["server"] != "maas")):
        ours = maas.get((f["model"], f["rows_per_request"]))
        ratio = _ratio(ours["requests_per_s"], f["requests_per_s"]) if ours and f is not ours else ""
        print(
            f"{f['model']:<10} {f['rows_per_request']:>4} {f['server']:<9} {f['requests_per_s']:>9,.1f} "
            f"{f['rows_per_s']:>10,.0f} {f['latency_ms']['p50'] or 0:>7.1f} "
            f"{f['latency_ms']['p99'] or 0:>7.1f} "
            f"{f['errors']:>6} {f['client_cpu_share']:>6.0%} {f['machine_busy_share']:>5.0%} {ratio:>9}"
        )
