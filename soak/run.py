"""`make soak`: a bounded soak of real maas processes under mixed load, with a worker SIGKILLed
and replaced every few seconds; then every accepted job must have ended exactly once.

Starts its own redis-server (AOF everysec), one `maas api` and two `maas worker` processes in a
temporary state directory, drives jobs at a fixed rate for --duration seconds, drains, prints
a report (also written as JSON into the state directory) and exits 1 if a job was lost or
announced twice, or the API answered a 5xx.
"""

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from pathlib import Path

import httpx
from cluster import Cluster
from load import LoadGenerator
from model_repository import DIGITS, HEAVY, build_repository
from outcome import api_disagreements, drain, rows_with_results, summarize
from report import failures, print_report
from watch import EventCounter, LaneSampler

from batching import keys
from batching.connection import connect

HTTP_TIMEOUT_S = 20.0  # above the longest Prefer: wait the load sends (5 s), plus a slow moment


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300, help="Seconds of load (default 300).")
    parser.add_argument("--rate", type=float, default=150, help="Jobs started per second.")
    parser.add_argument(
        "--heavy-share",
        type=float,
        default=0.2,
        help="Share of jobs for the generated, slower-to-batch model (model_repository.py).",
    )
    parser.add_argument("--kill-every", type=float, default=20, help="Seconds between worker kills.")
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=60,
        help="Seconds the accepted jobs get to end after the load stops.",
    )
    parser.add_argument(
        "--visibility-timeout",
        type=float,
        default=3,
        help="MAAS_VISIBILITY_TIMEOUT_S: a killed worker's entries are reclaimed after this many seconds.",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the job mix and inputs.")
    return parser.parse_args()


async def chaos(cluster: Cluster, every_s: float, stopping: asyncio.Event) -> None:
    """SIGKILLs a worker every every_s, and each second replaces any worker that died by itself."""
    started = time.monotonic()
    next_kill = started + every_s
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), min(1.0, max(0.0, next_kill - time.monotonic())))
        if stopping.is_set():
            return
        # Not in a thread: see Cluster.kill_and_replace. Each call blocks the loop for a few ms.
        events = cluster.restart_dead_workers()
        if time.monotonic() >= next_kill:
            events.append(cluster.kill_and_replace())
            next_kill += every_s
        for event in events:
            print(f"{time.monotonic() - started:6.1f} s  {event}", flush=True)


async def load_with_chaos(args: argparse.Namespace, cluster: Cluster, load: LoadGenerator) -> None:
    stopping = asyncio.Event()
    killer = asyncio.create_task(chaos(cluster, args.kill_every, stopping))
    try:
        await load.run(args.duration)
    finally:
        stopping.set()
        await killer


async def soak(args: argparse.Namespace, cluster: Cluster) -> dict:
    redis = connect(cluster.settings)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=cluster.url, timeout=HTTP_TIMEOUT_S, limits=limits) as client:
        events = EventCounter(redis)
        samplers = [LaneSampler(redis, model, keys.online_lane(model, 1)) for model in (DIGITS, HEAVY)]
        await events.start()  # before the first job, so no announcement is missed
        for sampler in samplers:
            sampler.start()
        load = LoadGenerator(client, args.rate, args.heavy_share, args.seed)
        started = time.monotonic()
        await load_with_chaos(args, cluster, load)
        load_s = time.monotonic() - started
        states = await drain(redis, client, sorted(load.tally.accepted), args.drain_timeout)
        drain_s = time.monotonic() - started - load_s
        for sampler in samplers:
            await sampler.stop()
        await events.stop()
        cluster.record_survivors_rss()
        with_results = rows_with_results(states)
        report = {
            "config": vars(args),
            "load_s": round(load_s, 1),
            "drain_s": round(drain_s, 1),
            "jobs": summarize(states, events.counts),
            "job_kinds": dict(load.tally.kinds),
            "responses": dict(sorted(load.tally.responses.items())),
            "client_errors": dict(load.tally.client_errors),
            "skipped_ticks": load.tally.skipped_ticks,
            "anomalies": dict(load.tally.anomalies),
            "anomaly_examples": load.tally.anomaly_examples,
            "api_disagreements": await api_disagreements(client, states, args.seed),
            "event_listener_failure": events.failure,
            "lanes": {s.lane: await s.summary(with_results) for s in samplers},
        }
    await redis.aclose()
    return report


def main() -> int:
    args = parse_args()
    state_dir = Path(tempfile.mkdtemp(prefix="maas-soak-"))
    print(
        f"soak: {args.duration:g} s at {args.rate:g} jobs/s, a worker SIGKILLed every "
        f"{args.kill_every:g} s; state and logs in {state_dir}",
        flush=True,
    )
    cluster = Cluster(state_dir, build_repository(state_dir / "models"), args.visibility_timeout)
    try:
        cluster.start()
        report = asyncio.run(soak(args, cluster))
    finally:
        forced_stops = cluster.stop()
    report["worker_kills"] = cluster.kills
    report["peak_rss_mb"] = {k: v and round(v, 1) for k, v in cluster.peak_rss_mb.items()}
    report["unexpected_exits"] = cluster.unexpected_exits
    report["unclean_stops"] = cluster.unclean_exits() + forced_stops
    report["failures"] = failures(report)
    out = state_dir / "soak.json"
    out.write_text(json.dumps(report, indent=2))
    print_report(report)
    print(f"report: {out}")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
