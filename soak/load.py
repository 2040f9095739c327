"""Open-loop mixed load at a bounded rate: normal, cancelled, bad, short-deadline and retried jobs."""

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
from model_repository import DIGITS, FEATURES, HEAVY

MAX_IN_FLIGHT = 512  # past this the service is not keeping up; ticks are skipped, and counted
# Weights of the job kinds per tick; most are plain jobs, as in real traffic.
MIX = {"normal": 55, "cancel": 15, "bad": 5, "short_timeout": 15, "idempotent": 10}
TIMEOUTS_S = (0.001, 0.005, 0.05, 0.5)


@dataclass
class Tally:
    responses: Counter = field(default_factory=Counter)  # "POST 202", "DELETE 409", ...
    accepted: set[str] = field(default_factory=set)
    anomalies: Counter = field(default_factory=Counter)
    anomaly_examples: list[str] = field(default_factory=list)
    client_errors: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    skipped_ticks: int = 0

    def note(self, kind: str, example: str) -> None:
        self.anomalies[kind] += 1
        if len(self.anomaly_examples) < 10:
            self.anomaly_examples.append(f"{kind}: {example[:300]}")


def _bad_inputs(rng: random.Random) -> dict:
    """Requests the API must refuse with 422, never a 5xx and never a job."""
    choice = rng.randrange(4)
    if choice == 0:
        return {"model": DIGITS, "inputs": [[1.0] * (FEATURES - 1)]}
    if choice == 1:
        return {"model": DIGITS, "inputs": [["x"] * FEATURES]}
    if choice == 2:
        return {"model": DIGITS, "inputs": [[1.0] * FEATURES, [1.0] * 3]}
    return {"model": DIGITS, "inputs": [[1.0] * FEATURES], "colour": "red"}


class LoadGenerator:
    def __init__(self, client: httpx.AsyncClient, rate: float, heavy_share: float, seed: int):
        self.client = client
        self.rate = rate
        self.heavy_share = heavy_share
        self.rng = random.Random(seed)
        self.tally = Tally()
        self._tasks: set[asyncio.Task] = set()

    def _body(self) -> tuple[dict, int]:
        model = HEAVY if self.rng.random() < self.heavy_share else DIGITS
        rows = 1 if self.rng.random() < 0.75 else self.rng.randint(2, 32)
        pixels = [[self.rng.randint(0, 16) for _ in range(FEATURES)] for _ in range(rows)]
        return {"model": model, "version": 1, "inputs": pixels}, rows  # the lanes the report samples

    async def run(self, duration_s: float) -> None:
        """Starts one job per tick at `rate` per second for duration_s, then awaits the stragglers."""
        start = time.monotonic()
        tick = 0
        while (due := start + tick / self.rate) < start + duration_s:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tick += 1
            if len(self._tasks) >= MAX_IN_FLIGHT:
                self.tally.skipped_ticks += 1
                continue
            kind = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
            self.tally.kinds[kind] += 1
            task = asyncio.create_task(self._guarded(getattr(self, f"_{kind}")()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await asyncio.gather(*self._tasks)

    async def _guarded(self, job) -> None:
        try:
            await job
        except httpx.HTTPError as e:
            self.tally.client_errors[type(e).__name__] += 1

    async def _post(self, label: str, body: dict, headers: dict | None = None) -> httpx.Response:
        response = await self.client.post("/v1/jobs", json=body, headers=headers)
        self.tally.responses[f"{label} {response.status_code}"] += 1
        if response.status_code in (200, 202):
            self.tally.accepted.add(response.json()["id"])
        return response

    def _check_finished(self, response: httpx.Response, rows: int) -> None:
        job = response.json()
        if job["status"] != "succeeded":
            return
        probabilities = job["outputs"]["probabilities"]
        sums_ok = all(abs(sum(row) - 1.0) < 1e-3 for row in probabilities)
        if len(probabilities) != rows or not sums_ok:
            self.tally.note("wrong outputs", f"{job['id']}: {rows} rows in, {len(probabilities)} out")

    async def _normal(self) -> None:
        body, rows = self._body()
        wait = self.rng.random() < 0.3
        response = await self._post("POST", body, {"Prefer": "wait=5"} if wait else None)
        if response.status_code == 200:
            self._check_finished(response, rows)

    async def _cancel(self) -> None:
        body, _ = self._body()
        response = await self._post("POST", body)
        if response.status_code != 202:
            return
        await asyncio.sleep(self.rng.uniform(0, 0.02))
        cancelled = await self.client.delete(f"/v1/jobs/{response.json()['id']}")
        self.tally.responses[f"DELETE {cancelled.status_code}"] += 1
        if cancelled.status_code not in (200, 409):
            self.tally.note("cancel answered neither 200 nor 409", cancelled.text)

    async def _bad(self) -> None:
        response = await self.client.post("/v1/jobs", json=_bad_inputs(self.rng))
        self.tally.responses[f"POST bad input {response.status_code}"] += 1
        if response.status_code != 422:
            self.tally.note("bad input not answered 422", f"{response.status_code} {response.text}")

    async def _short_timeout(self) -> None:
        body, _ = self._body()
        await self._post("POST", {**body, "timeout_s": self.rng.choice(TIMEOUTS_S)})

    async def _idempotent(self) -> None:
        """Two submits with one key, one after the other or at the same time: one job."""
        body, _ = self._body()
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        if self.rng.random() < 0.5:
            first = await self._post("POST", body, headers)
            retry = await self._post("POST retry", body, headers)
            if retry.status_code == 202 and retry.headers.get("Idempotent-Replayed") != "true":
                self.tally.note("retry not marked Idempotent-Replayed", retry.text)
        else:
            first, retry = await asyncio.gather(
                self._post("POST", body, headers), self._post("POST retry", body, headers)
            )
        accepted = (first.status_code in (200, 202), retry.status_code in (200, 202))
        if all(accepted) and first.json()["id"] != retry.json()["id"]:
            self.tally.note("idempotent retry got another job", f"{first.text} vs {retry.text}")
