"""Before/after in one run: the protocol loads of bench/protocols.py against one `maas serve` per
checkout (e.g. a change and its parent, `git worktree add /tmp/before HEAD~1`), alternated round
by round so that both see the same machine; prints rows/s and CPU per request, means per variant.

`python bench/protocols_ab.py --code /tmp/before --code . [--rounds 3] [--duration 5] [--rows 1,64]`
"""

import argparse
import os
import tempfile
from pathlib import Path

from heavy_model import build_repository
from protocols import PROTOCOLS, one_load
from service import Service

from maas.models.registry import ModelRepository


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", action="append", required=True, help="A checkout (repeat: 2+).")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="Seconds per load.")
    parser.add_argument("--rows", default="1,64", help="Rows per request, comma-separated.")
    parser.add_argument("--model", default="digits")
    parser.add_argument("--protocol-connections", type=int, default=16)
    return parser.parse_args()


KEYS = ("rows_per_s", "api_cpu_ms_per_request", "maas_cpu_ms_per_request")


def line(label: str, protocol: str, rows: int, r: dict) -> str:
    return (
        f"{label:<30} {protocol:<10} x{rows:<3} {r['rows_per_s']:>10,.0f} rows/s  "
        f"API {r['api_cpu_ms_per_request']:.2f} ms/req  maas {r['maas_cpu_ms_per_request']:.2f} ms/req"
    )


def rounds(services: list[Service], codes: list[str], model, args, work: Path) -> dict[tuple, list[dict]]:
    found: dict[tuple, list[dict]] = {}
    for round_no in range(args.rounds):
        for i, service in enumerate(services):
            for rows in [int(r) for r in args.rows.split(",")]:
                for protocol in PROTOCOLS:
                    r = one_load(service, model, protocol, rows, args, work)
                    found.setdefault((i, rows, protocol), []).append(r)
                    print(f"round {round_no}: " + line(codes[i], protocol, rows, r), flush=True)
    return found


def main() -> int:
    args = parse_args()
    args.protocol_duration = args.duration  # what protocols.one_load reads
    codes = [str(Path(c).resolve()) for c in args.code]
    print(f"load average {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="maas-bench-ab-") as tmp:
        work = Path(tmp)
        os.chdir(work)  # `python -m maas` puts the cwd first on sys.path: no checkout there
        build_repository(work / "models")
        model = ModelRepository(work / "models").get(args.model)
        services = [
            Service(work / "models", work / f"state{i}", work / f"serve{i}.log", {"PYTHONPATH": code})
            for i, code in enumerate(codes)
        ]
        try:
            for service in services:
                service.start()
            found = rounds(services, codes, model, args, work)
        finally:
            for service in services:
                service.stop()
    print(f"\nmeans of {args.rounds} rounds ({args.model}); load average {os.getloadavg()}")
    for (i, rows, protocol), runs in sorted(found.items()):
        print(line(codes[i], protocol, rows, {k: sum(r[k] for r in runs) / len(runs) for k in KEYS}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
