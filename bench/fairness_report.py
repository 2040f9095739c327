"""bench-fairness figures: what a phase measured, added up over rounds, and the verdict."""

from dataclasses import dataclass, field

import numpy as np


def batches_between(a_jobs: list[dict], b_jobs: list[dict]) -> list[int]:
    """For each of B's jobs, how many of A's batches were claimed after it was submitted and
    before it was claimed (the jobs of one batch share one claim time)."""
    claims = np.unique([j["started_at"] for j in a_jobs if j["status"] == "succeeded"])
    return [
        int(np.searchsorted(claims, b["started_at"]) - np.searchsorted(claims, b["created_at"], "right"))
        for b in b_jobs
        if b["status"] == "succeeded"
    ]


def percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    pcts = {f"p{q}": round(float(np.percentile(values, q)), 2) for q in (50, 90, 99)}
    return pcts | {"max": round(max(values), 2)}


@dataclass
class Measured:
    """What one phase (or several rounds of it, added up) measured."""

    wall_s: float = 0.0
    rows: int = 0  # computed in the lane, B's included
    batches: int = 0
    b_queue_ms: list[float] = field(default_factory=list)
    b_inference_ms: list[float] = field(default_factory=list)
    b_failed: int = 0
    a_queued_min: int | None = None  # the fewest rows A had queued (after the first 10%)
    a_job_rows: int = 0
    b_behind_batches: list[int] = field(default_factory=list)  # A's batches claimed while B waited
    cpu_s: dict[str, float] = field(default_factory=dict)

    def add(self, other: "Measured") -> None:
        self.wall_s += other.wall_s
        self.rows += other.rows
        self.batches += other.batches
        self.b_queue_ms += other.b_queue_ms
        self.b_inference_ms += other.b_inference_ms
        self.b_failed += other.b_failed
        self.a_job_rows = other.a_job_rows
        self.b_behind_batches += other.b_behind_batches
        if other.a_queued_min is not None:
            self.a_queued_min = min(other.a_queued_min, self.a_queued_min or other.a_queued_min)
        for role, seconds in other.cpu_s.items():
            self.cpu_s[role] = self.cpu_s.get(role, 0.0) + seconds

    def summary(self) -> dict:
        a_rows = self.rows - len(self.b_queue_ms) - self.b_failed
        return {
            "a_rows_per_s": round(a_rows / self.wall_s, 1),
            "batches_per_s": round(self.batches / self.wall_s, 1),
            "rows_per_batch": round(self.rows / max(1, self.batches), 1),
            "a_queued_rows_min": self.a_queued_min,
            "a_job_rows": self.a_job_rows,
            "b_jobs": len(self.b_queue_ms) + self.b_failed,
            "b_failed": self.b_failed,
            "b_queue_ms": percentiles(self.b_queue_ms),
            "b_batch_inference_ms": percentiles(self.b_inference_ms),
            "b_behind_a_batches": percentiles(self.b_behind_batches),
            # CPU seconds per second of the phase: 1.0 is one core busy all along.
            "cpu_cores": {role: round(s / self.wall_s, 2) for role, s in self.cpu_s.items()},
        }


def verdict(phases: dict) -> dict:
    """The targets, with one batch's inference time as its median over the batches B's jobs ran
    in; on a machine short of CPU batch times spread, so the bound with their p99 is shown too."""
    idle, alone, noisy = phases["b_alone"], phases["a_alone"], phases["a_and_b"]
    batch = noisy["b_batch_inference_ms"]
    bound_ms = 2 * idle["b_queue_ms"]["p99"] + batch["p50"]
    share = noisy["a_rows_per_s"] / alone["a_rows_per_s"]
    return {
        "b_p99_ms": noisy["b_queue_ms"]["p99"],
        "b_bound_ms": round(bound_ms, 2),
        "b_bound_p99_batch_ms": round(2 * idle["b_queue_ms"]["p99"] + batch["p99"], 2),
        "b_ok": noisy["b_queue_ms"]["p99"] <= bound_ms,
        "a_share": round(share, 3),
        "a_ok": share >= 0.9,
    }


def print_model(name: str, phases: dict, result: dict) -> None:
    for phase, label in (("b_alone", "B alone"), ("a_alone", "A alone"), ("a_and_b", "A and B")):
        p = phases[phase]
        print(f"{name}, {label}:" + (f" (A's jobs of {p['a_job_rows']} rows)" if phase != "b_alone" else ""))
        if phase != "b_alone":
            print(
                f"  A {p['a_rows_per_s']:,.0f} rows/s; {p['batches_per_s']:,.1f} batches/s of "
                f"{p['rows_per_batch']} rows; A's queue >= {p['a_queued_rows_min']:,} rows"
            )
        if phase != "a_alone":
            print(f"  B queue ms {p['b_queue_ms']} ({p['b_jobs']} jobs, {p['b_failed']} failed)")
        if phase == "a_and_b":
            print(f"  A's batches claimed while a B job waited: {p['b_behind_a_batches']}")
        print(f"  CPU cores busy: {p['cpu_cores']}")
    batch_ms = phases["a_and_b"]["b_batch_inference_ms"]
    print(f"  one batch's inference: {batch_ms['p50']} ms, p99 {batch_ms['p99']} ms (B's batches)")
    b_ok = "OK" if result["b_ok"] else "MISSED"
    a_ok = "OK" if result["a_ok"] else "MISSED"
    print(
        f"  B p99 {result['b_p99_ms']} ms vs bound (2 x idle p99 + one batch) "
        f"{result['b_bound_ms']} ms: {b_ok} (with the p99 batch: {result['b_bound_p99_batch_ms']} ms)"
    )
    print(f"  A at {result['a_share']:.1%} of its rows/s alone (target 90%): {a_ok}", flush=True)
